/*
 * invisible — programs that copy little or nothing, for issue 9 ("Invisible
 * where it does nothing"). Each sub-command prints every value it observes
 * (return values, errno names, fd numbers, sizes, digests, children's exit
 * statuses and outputs), one per line; tests/invisible.bats runs it plain and
 * under the shim and requires identical output and identical files.
 *
 *   invisible CMD ARGS...
 *
 * Stdout should be a pipe (the tests pipe it through cat): a regular file
 * as stdout would be a candidate destination for the shim itself.
 *
 * The stash (a source read whole and closed):
 *   flock S | ofd S | lease S | inotify S      lock/lease/close event after close
 *   umount S MNT                               umount2(MNT) after the close
 *   unlinkspace S DIR SIZE                     unlink S, statvfs, write SIZE
 *   posixlock S D                              F_SETLK later, copy S to D,
 *                                              child F_GETLK
 *   fdlist S                                   list the fds that are open
 * Private fds:
 *   privfd stash S | privfd midcopy S D        probe the shim's fd numbers
 * Bad pointers (a SIGSEGV handler prints SIGSEGV and _exit(3)s):
 *   badptr KIND S D                            see badptr() for the kinds
 * Stack:
 *   stack thread S DIR | stack altstack S DIR
 * seccomp (the work runs in a child; the parent prints its status):
 *   seccomp strict|strict-nocopy|filter|syscall S D
 * Children started in the middle of a copy:
 *   children S D
 * errno:
 *   errno S D
 * Names that change under a look (see the commands' comments):
 *   exchange A B STOP | fifowait F
 * A thread with an fd table of its own:
 *   ownfiles S D X
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "../../shim/share.h"

extern char **environ;

#define CH 65536

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* One line: "what = r" or "what = -1 ENAME". */
static void say(const char *what, long long r)
{
	if (r < 0)
		printf("%s = %lld %s\n", what, r, ename(errno));
	else
		printf("%s = %lld\n", what, r);
	fflush(stdout);
}

static void line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void status_line(const char *who, int st)
{
	if (WIFEXITED(st))
		line("%s: exited %d", who, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		line("%s: killed by %s", who, sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	else
		line("%s: status %#x", who, st);
}

static void on_segv(int sig)
{
	static const char msg[] = "SIGSEGV\n";
	(void)sig;
	ssize_t r = write(1, msg, sizeof msg - 1);
	(void)r;
	_exit(3);
}

static void catch_segv(void)
{
	struct sigaction sa = { .sa_handler = on_segv };
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* Reads fd to EOF in 64 KiB chunks into buf (if not NULL, at least the
 * file's size), prints the total and a digest. */
static ssize_t read_all(int fd, unsigned char *buf, const char *what)
{
	static unsigned char tmp[CH];
	ssize_t total = 0, r;
	uint64_t h = FNV_INIT;
	for (;;) {
		unsigned char *p = buf ? buf + total : tmp;
		r = read(fd, p, CH);
		if (r <= 0)
			break;
		h = fnv(p, (size_t)r, h);
		total += r;
	}
	if (r < 0)
		say(what, r);
	line("%s: %zd bytes, digest %016llx", what, total, (unsigned long long)h);
	return total;
}

/* Opens S, reads it whole, closes it: the shim keeps a dup (the stash). */
static void read_whole_close(const char *s, int fd)
{
	if (fd < 0) {
		fd = open(s, O_RDONLY);
		say("open S", fd);
	}
	read_all(fd, NULL, "read S");
	say("close S", close(fd));
}

/* Forks; the child runs fn(arg) and _exits; prints the child's status. */
static void in_child(const char *who, void (*fn)(const void *), const void *arg)
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	status_line(who, st);
}

/* ---- the stash ---- */

static void child_flock(const void *a)
{
	int fd = open(a, O_RDONLY);
	say("child: open S", fd >= 0 ? 0 : -1);
	say("child: flock(LOCK_EX|LOCK_NB)", flock(fd, LOCK_EX | LOCK_NB));
}

static void child_ofd(const void *a)
{
	int fd = open(a, O_RDWR);
	say("child: open S rw", fd >= 0 ? 0 : -1);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	say("child: F_OFD_SETLK F_WRLCK", fcntl(fd, F_OFD_SETLK, &fl));
	struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd2 = open(a, O_RDWR);
	say("child: F_OFD_GETLK", fcntl(fd2, F_OFD_GETLK, &q));
	line("child: F_OFD_GETLK type %s", q.l_type == F_UNLCK ? "F_UNLCK" : q.l_type == F_RDLCK ? "F_RDLCK" : "F_WRLCK");
}

static pid_t parent_pid;

static void child_getlk(const void *a)
{
	int fd = open(a, O_RDONLY);
	struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	say("child: F_GETLK", fcntl(fd, F_GETLK, &q));
	line("child: F_GETLK type %s, held by %s",
	     q.l_type == F_UNLCK ? "F_UNLCK" : q.l_type == F_RDLCK ? "F_RDLCK" : "F_WRLCK",
	     q.l_type == F_UNLCK ? "nobody" : q.l_pid == parent_pid ? "parent" : "other");
}

static void cmd_flock(char **av)
{
	int fd = open(av[0], O_RDONLY);
	say("open S", fd);
	say("flock(LOCK_EX|LOCK_NB)", flock(fd, LOCK_EX | LOCK_NB));
	read_whole_close(av[0], fd);
	in_child("child", child_flock, av[0]);
	/* and in this process, through a new description */
	int fd2 = open(av[0], O_RDONLY);
	say("flock on a new fd (LOCK_EX|LOCK_NB)", flock(fd2, LOCK_EX | LOCK_NB));
}

static void cmd_ofd(char **av)
{
	int fd = open(av[0], O_RDONLY);
	say("open S", fd);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	say("F_OFD_SETLK F_RDLCK", fcntl(fd, F_OFD_SETLK, &fl));
	read_whole_close(av[0], fd);
	in_child("child", child_ofd, av[0]);
}

static void cmd_lease(char **av)
{
	read_whole_close(av[0], -1);
	int fd = open(av[0], O_RDONLY);
	say("open S again", fd);
	say("F_SETLEASE F_WRLCK", fcntl(fd, F_SETLEASE, F_WRLCK));
	say("F_GETLEASE", fcntl(fd, F_GETLEASE));
	say("F_SETLEASE F_UNLCK", fcntl(fd, F_SETLEASE, F_UNLCK));
	say("close", close(fd));
	/* the same with a writable fd */
	fd = open(av[0], O_RDWR);
	say("F_SETLEASE F_WRLCK (rw fd)", fcntl(fd, F_SETLEASE, F_WRLCK));
	fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
}

static void print_events(int in, const char *what)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(in, buf, sizeof buf);
	if (n < 0) {
		line("%s: no events (%s)", what, ename(errno));
		return;
	}
	for (char *p = buf; p < buf + n;) {
		struct inotify_event *ev = (struct inotify_event *)p;
		line("%s: event%s%s%s%s%s", what,
		     ev->mask & IN_OPEN ? " IN_OPEN" : "",
		     ev->mask & IN_ACCESS ? " IN_ACCESS" : "",
		     ev->mask & IN_MODIFY ? " IN_MODIFY" : "",
		     ev->mask & IN_CLOSE_NOWRITE ? " IN_CLOSE_NOWRITE" : "",
		     ev->mask & IN_CLOSE_WRITE ? " IN_CLOSE_WRITE" : "");
		p += sizeof *ev + ev->len;
	}
}

/* inotify: closing a file read whole sends IN_CLOSE_NOWRITE at once. */
static void cmd_inotify(char **av)
{
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	say("inotify_add_watch S", inotify_add_watch(in, av[0], IN_OPEN | IN_CLOSE_NOWRITE | IN_CLOSE_WRITE) >= 0 ? 0 : -1);
	read_whole_close(av[0], -1);
	print_events(in, "after close");
}

static void cmd_umount(char **av)
{
	read_whole_close(av[0], -1);
	say("umount2(MNT)", umount2(av[1], 0));
}

static char fill_path[4096];
static size_t fill_n;
static void fill(const char *path, size_t n, const char *who);

static void child_fill(const void *a)
{
	(void)a;
	fill(fill_path, fill_n, "child: ");
}

static void cmd_unlinkspace(char **av)
{
	read_whole_close(av[0], -1);
	say("unlink S", unlink(av[0]));
	struct statvfs sv;
	say("statvfs", statvfs(av[1], &sv));
	line("free blocks %llu of %llu", (unsigned long long)sv.f_bfree, (unsigned long long)sv.f_blocks);
	snprintf(fill_path, sizeof fill_path, "%s/fill", av[1]);
	fill_n = (size_t)num(av[2]);
	int fd = open(fill_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	say("fallocate fill", fallocate(fd, 0, 0, (off_t)fill_n));
	say("ftruncate fill 0", ftruncate(fd, 0));
	close(fd);
	in_child("writer child", child_fill, NULL);
	unlink(fill_path);
	fill(fill_path, fill_n, "");
}

static void fill(const char *path, size_t n, const char *who)
{
	unsigned char *b = malloc(n);
	memset(b, 'f', n);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	say("open fill", fd >= 0 ? 0 : -1);
	size_t done = 0;
	ssize_t r = 0;
	while (done < n && (r = write(fd, b + done, n - done)) > 0)
		done += (size_t)r;
	line("%swrote %zu of %zu", who, done, n);
	if (done < n)
		say("last write", r);
	close(fd);
	unlink(path);
}

static void cmd_posixlock(char **av)
{
	parent_pid = getpid();
	int fd = open(av[0], O_RDONLY);
	say("open S", fd);
	off_t sz = fsize(fd);
	unsigned char *buf = malloc((size_t)sz + CH);
	ssize_t n = read_all(fd, buf, "read S");
	say("close S", close(fd));
	int fd2 = open(av[0], O_RDWR);
	say("open S rw", fd2 >= 0 ? 0 : -1);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	say("F_SETLK F_WRLCK", fcntl(fd2, F_SETLK, &fl));
	in_child("child before", child_getlk, av[0]);
	int d = open(av[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	say("open D", d >= 0 ? 0 : -1);
	say("write D", write(d, buf, (size_t)n));
	say("close D", close(d));
	in_child("child after", child_getlk, av[0]);
}

static void list_fds(const char *what)
{
	char out[8192];
	size_t o = 0;
	DIR *dir = opendir("/proc/self/fd");
	int self = dirfd(dir);
	struct dirent *de;
	int fds[4096], n = 0;
	while ((de = readdir(dir)) && n < 4096)
		if (de->d_name[0] != '.' && atoi(de->d_name) != self)
			fds[n++] = atoi(de->d_name);
	closedir(dir);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	for (int i = 0; i < n && o < sizeof out - 16; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%d", i ? "," : "", fds[i]);
	out[o] = 0;
	line("%s /proc/self/fd: %s", what, out);
	/* what fd_status.py does: fstat every number below the limit */
	long max = sysconf(_SC_OPEN_MAX);
	if (max > 65536)
		max = 65536;
	o = 0;
	int k = 0;
	for (int fd = 0; fd < max; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && o < sizeof out - 16)
			o += (size_t)snprintf(out + o, sizeof out - o, "%s%d", k++ ? "," : "", fd);
	}
	out[o] = 0;
	line("%s fstat 0..%ld: %s", what, max - 1, out);
}

static void cmd_fdlist(char **av)
{
	list_fds("before");
	read_whole_close(av[0], -1);
	list_fds("after close");
	/* A forked child, as subprocess's close_fds: what it finds open. */
	long max = sysconf(_SC_OPEN_MAX);
	if (max > 65536)
		max = 65536;
	fflush(stdout);
	pid_t p = vfork();
	if (p == 0) {
		/* a vfork child may only call async-signal-safe functions: fstat */
		char msg[64];
		int n = 0;
		for (int fd = 3; fd < max; fd++) {
			struct stat st;
			if (fstat(fd, &st) == 0)
				n++;
		}
		int len = snprintf(msg, sizeof msg, "vfork child: %d fds open above 2\n", n);
		ssize_t w = write(1, msg, (size_t)len);
		(void)w;
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	status_line("vfork child", st);
}

/* ---- private fds ---- */

/* The number the shim dups its private fds to: 3/4 of the soft
 * RLIMIT_NOFILE (4096 from 8192 on). */
static int priv_base(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 8192)
		return 4096;
	return (int)(rl.rlim_cur * 3 / 4);
}

static void fdsize_line(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char l[256];
	while (f && fgets(l, sizeof l, f))
		if (!strncmp(l, "FDSize:", 7))
			printf("/proc/self/status %s", l);
	if (f)
		fclose(f);
	fflush(stdout);
}

static void probe_privfds(const char *when)
{
	int b = priv_base();
	line("%s:", when);
	fdsize_line();
	for (int fd = b; fd <= b + 1; fd++) {
		char w[64];
		snprintf(w, sizeof w, "fcntl(%d, F_GETFD)", fd);
		say(w, fcntl(fd, F_GETFD));
		snprintf(w, sizeof w, "fcntl(%d, F_GETFL)", fd);
		say(w, fcntl(fd, F_GETFL));
		struct stat st;
		snprintf(w, sizeof w, "fstat(%d)", fd);
		say(w, fstat(fd, &st));
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		snprintf(w, sizeof w, "poll(%d)", fd);
		say(w, poll(&pf, 1, 0));
		line("poll(%d) revents %#x", fd, pf.revents);
	}
	int d = fcntl(0, F_DUPFD, b);
	say("fcntl(0, F_DUPFD, base)", d >= 0 ? d - b : d);
	if (d >= 0)
		close(d);
	d = dup2(b, 100);
	say("dup2(base, 100)", d);
	if (d >= 0)
		close(d);
	/* how many files the program can open */
	static int fds[1 << 16];
	int n = 0;
	while (n < (1 << 16) && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
		n++;
	line("opened %d more fds, then %s", n, ename(errno));
	while (n > 0)
		close(fds[--n]);
}

/* Copies the rest of s into d (after `done` bytes) and prints the total. */
static void copy_rest(int s, int d, unsigned char *buf, off_t done)
{
	ssize_t r;
	while ((r = read(s, buf, CH)) > 0)
		done += write(d, buf, (size_t)r);
	line("copied %lld", (long long)done);
}

static void cmd_privfd(char **av)
{
	if (!strcmp(av[0], "stash")) {
		read_whole_close(av[1], -1);
		probe_privfds("after a file read whole and closed");
		return;
	}
	/* midcopy: a read/write copy into an empty D, 2 chunks written */
	int s = xopen(av[1], O_RDONLY), d = xopen(av[2], O_WRONLY | O_CREAT | O_TRUNC);
	static unsigned char buf[CH];
	for (int i = 0; i < 2; i++) {
		ssize_t r = read(s, buf, CH);
		say("read S", r);
		say("write D", write(d, buf, (size_t)r));
	}
	probe_privfds("in the middle of a copy");
	copy_rest(s, d, buf, 2 * CH);
	say("close D", close(d));
	say("close S", close(s));
	probe_privfds("after the copy");
}

/* ---- bad pointers ---- */

/* Through volatile, so the compiler cannot see the bad pointers. */
static struct iovec *volatile nulliov;
static void *volatile badp = (void *)16;
static off_t *volatile badoff = (off_t *)8;

/*
 * One bad call per run (a crash hides everything after it). KIND is
 * [later-]OP: "later-" first copies 128 KiB of S into D the way OP does
 * (read/write, sendfile, copy_file_range), so that the shim has armed a
 * copy; otherwise S's first 64 KiB are read into a buffer (the shim's hint).
 * OPs: readv-null readv-null-pipe preadv-null preadv2-null readv-bad read-bad
 *      writev-null pwritev-null writev-null-pipe write-bad pwrite-bad
 *      writev-bad write-half write-half-munmap writev-half sendfile-bad
 *      cfr-badin cfr-badout own-munmap own-mprotect own-trunc own-free own-fork
 */
static void cmd_badptr(char **av)
{
	const char *k = av[0];
	bool later = !strncmp(k, "later-", 6);
	const char *op = later ? k + 6 : k;
	bool half = !strncmp(op, "write-half", 10) || !strcmp(op, "writev-half");
	catch_segv();
	int s = xopen(av[1], O_RDONLY);
	int d = xopen(av[2], O_RDWR | O_CREAT | O_TRUNC);
	static unsigned char buf[CH];
	void *bad = badp;
	struct iovec iv;
	int p[2];
	line("%s:", k);
	if (later) {
		for (int i = 0; i < 2; i++) {
			if (!strncmp(op, "sendfile", 8))
				say("sendfile(D, S, NULL, 64K)", sendfile(d, s, NULL, CH));
			else if (!strncmp(op, "cfr", 3))
				say("copy_file_range(S, NULL, D, NULL, 64K)", copy_file_range(s, NULL, d, NULL, CH, 0));
			else {
				say("read S", read(s, buf, CH));
				say("write D", write(d, buf, CH));
			}
		}
	} else if (!half)
		say("read S", read(s, buf, CH));
	unsigned char *hb = NULL;
	if (half) {
		hb = mmap(NULL, 4 * CH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		say("read S 256K", read(s, hb, 4 * CH));
		if (!strcmp(op, "write-half-munmap"))
			say("munmap second half", munmap(hb + 2 * CH, 2 * CH));
		else
			say("mprotect second half PROT_NONE", mprotect(hb + 2 * CH, 2 * CH, PROT_NONE));
	}
	if (!strcmp(op, "readv-null"))
		say("readv(S, NULL, 1)", readv(s, nulliov, 1));
	else if (!strcmp(op, "readv-null-pipe")) {
		say("pipe", pipe(p));
		say("write pipe", write(p[1], "x", 1));
		say("readv(pipe, NULL, 1)", readv(p[0], nulliov, 1));
	} else if (!strcmp(op, "preadv-null"))
		say("preadv(S, NULL, 1, 0)", preadv(s, nulliov, 1, 0));
	else if (!strcmp(op, "preadv2-null"))
		say("preadv2(S, NULL, 1, 0, 0)", preadv2(s, nulliov, 1, 0, 0));
	else if (!strcmp(op, "readv-bad")) {
		iv = (struct iovec){ bad, CH };
		say("readv(S, {16, 64K}, 1)", readv(s, &iv, 1));
	} else if (!strcmp(op, "read-bad"))
		say("read(S, 16, 64K)", read(s, bad, CH));
	else if (!strcmp(op, "writev-null"))
		say("writev(D, NULL, 1)", writev(d, nulliov, 1));
	else if (!strcmp(op, "pwritev-null"))
		say("pwritev(D, NULL, 1, 0)", pwritev(d, nulliov, 1, 0));
	else if (!strcmp(op, "writev-null-pipe")) {
		say("pipe", pipe(p));
		say("writev(pipe, NULL, 1)", writev(p[1], nulliov, 1));
	} else if (!strcmp(op, "write-bad"))
		say("write(D, 16, 64K)", write(d, bad, CH));
	else if (!strcmp(op, "pwrite-bad"))
		say("pwrite(D, 16, 64K, hi)", pwrite(d, bad, CH, later ? 2 * CH : 0));
	else if (!strcmp(op, "writev-bad")) {
		iv = (struct iovec){ bad, CH };
		say("writev(D, {16, 64K}, 1)", writev(d, &iv, 1));
	} else if (!strncmp(op, "write-half", 10))
		say("write(D, 256K, second half gone)", write(d, hb, 4 * CH));
	else if (!strcmp(op, "writev-half")) {
		iv = (struct iovec){ hb, 4 * CH };
		say("writev(D, {256K, second half gone}, 1)", writev(d, &iv, 1));
	} else if (!strncmp(op, "own-", 4)) {
		/* Writes from a buffer of the program's own (cpio's output
		 * buffer), not the one it read into: the shim reads it with
		 * process_vm_readv once, then compares it in place until the
		 * program unmaps or protects it. */
		unsigned char *ob;
		char mpath[4096];
		snprintf(mpath, sizeof(mpath), "%s.map", av[2]);
		if (!strcmp(op, "own-trunc")) {
			/* a mapping of a file someone truncates: SIGBUS to a
			 * reader, EFAULT to the kernel copying from it */
			int m = xopen(mpath, O_RDWR | O_CREAT | O_TRUNC);
			say("ftruncate map file", ftruncate(m, CH));
			ob = mmap(NULL, CH, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
			close(m);
		} else if (!strcmp(op, "own-free")) {
			ob = malloc(4 * CH);  /* above the mmap threshold: free() unmaps it */
		} else {
			ob = mmap(NULL, CH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		}
		for (int i = 0; i < 2; i++) {
			say("read S", read(s, buf, CH));
			memcpy(ob, buf, CH);
			say("write D from own buffer", write(d, ob, CH));
		}
		say("read S", read(s, buf, CH));
		if (!strcmp(op, "own-fork")) {
			/* A child made without the fork handlers writes a buffer
			 * that differs from S in its memory but not in ours: the
			 * shim must read the child's memory, not its parent's. */
			unsigned char *ob2 = mmap(NULL, CH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			say("pread S's start into a second buffer", pread(s, ob2, CH, 0));
			fflush(stdout);
			pid_t pid = _Fork();
			if (pid == 0) {
				int s2 = xopen(av[1], O_RDONLY);
				char name[4096];
				snprintf(name, sizeof(name), "%s.child", av[2]);
				int d2 = xopen(name, O_RDWR | O_CREAT | O_TRUNC);
				say("child: read S", read(s2, buf, CH));
				memset(ob2, 'X', CH);
				say("child: write D2 from a buffer unlike S", write(d2, ob2, CH));
				unsigned char c = 0;
				say("child: pread D2", pread(d2, &c, 1, 0));
				line("child: D2 starts with %d", c);
				fflush(stdout);
				_exit(0);
			}
			int st;
			say("wait child", waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		} else if (!strcmp(op, "own-trunc")) {
			memcpy(ob, buf, CH);
			say("truncate map file", truncate(mpath, 0));
		} else if (!strcmp(op, "own-free")) {
			memcpy(ob, buf, CH);
			free(ob);  /* the program's use-after-free follows: EFAULT plain */
			say("free own buffer", 0);
		} else if (!strcmp(op, "own-munmap"))
			say("munmap own buffer", munmap(ob, CH));
		else
			say("mprotect own buffer PROT_NONE", mprotect(ob, CH, PROT_NONE));
		say("write(D, own buffer gone)", write(d, ob, CH));
	} else if (!strcmp(op, "sendfile-bad"))
		say("sendfile(D, S, 8, 64K)", sendfile(d, s, badoff, CH));
	else if (!strcmp(op, "cfr-badin"))
		say("copy_file_range(S, 8, D, NULL, 64K)", copy_file_range(s, badoff, d, NULL, CH, 0));
	else if (!strcmp(op, "cfr-badout"))
		say("copy_file_range(S, NULL, D, 8, 64K)", copy_file_range(s, NULL, d, badoff, CH, 0));
	else
		die("unknown badptr kind %s", k);
	say("lseek S", lseek(s, 0, SEEK_CUR));
	say("lseek D", lseek(d, 0, SEEK_CUR));
	say("fstat D size", fsize(d));
	say("close D", close(d));
}

/* ---- stack ---- */

static const char *stk_src, *stk_dir, *stk_what = "all";

static bool want(const char *w)
{
	return !strcmp(stk_what, "all") || !strcmp(stk_what, w);
}
static long long res[64];
static int nres;
static unsigned char *sbuf;

static void rec(long long r)
{
	res[nres++] = r < 0 ? -(long long)errno - 1000 : r;
}

/* Paths made before: snprintf would take half of an 8 KiB stack. */
static char stk_paths[20][4096];

static int stk_open_d(int i)
{
	return open(stk_paths[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
}

/* Copies S into d<i> several ways, and reads it plainly. No stdio here:
 * the stack is small. */
static void stack_work(int base)
{
	int s = open(stk_src, O_RDONLY), d;
	ssize_t r;
	long long t;
	struct iovec iv;
	/* read/write */
	if (want("rw")) {
	d = stk_open_d(base + 0);
	for (t = 0; (r = read(s, sbuf, CH)) > 0; t += r)
		if (write(d, sbuf, (size_t)r) != r)
			break;
	rec(t);
	rec(fsize(d));
	close(d);
	}
	/* readv/writev */
	if (want("vec")) {
	lseek(s, 0, SEEK_SET);
	d = stk_open_d(base + 1);
	for (t = 0;; t += r) {
		iv.iov_base = sbuf;
		iv.iov_len = CH;
		if ((r = readv(s, &iv, 1)) <= 0)
			break;
		iv.iov_len = (size_t)r;
		if (writev(d, &iv, 1) != r)
			break;
	}
	rec(t);
	close(d);
	}
	/* preadv/pwritev */
	if (want("pvec")) {
	d = stk_open_d(base + 2);
	for (t = 0;; t += r) {
		iv.iov_base = sbuf;
		iv.iov_len = CH;
		if ((r = preadv(s, &iv, 1, t)) <= 0)
			break;
		iv.iov_len = (size_t)r;
		if (pwritev(d, &iv, 1, t) != r)
			break;
	}
	rec(t);
	close(d);
	}
	/* sendfile */
	if (want("sendfile")) {
	d = stk_open_d(base + 3);
	off_t off = 0;
	for (t = 0; (r = sendfile(d, s, &off, CH)) > 0; t += r)
		;
	rec(t);
	close(d);
	}
	/* plain reads */
	if (want("reads")) {
	lseek(s, 0, SEEK_SET);
	rec(read(s, sbuf, 100));
	rec(pread(s, sbuf, 100, 1000));
	iv.iov_base = sbuf;
	iv.iov_len = 100;
	rec(readv(s, &iv, 1));
	rec(preadv(s, &iv, 1, 5000));
	struct stat st;
	rec(fstat(s, &st));
	}
	close(s);
}

static void *stack_thread(void *a)
{
	(void)a;
	stack_work(0);
	return NULL;
}

static volatile int in_handler_done;

static void on_usr1(int sig)
{
	(void)sig;
	int e = errno;
	stack_work(10);
	in_handler_done = 1;
	errno = e;
}

static void cmd_stack(char **av)
{
	catch_segv();
	stk_src = av[1];
	stk_dir = av[2];
	if (av[3])
		stk_what = av[3];
	for (int i = 0; i < 20; i++)
		snprintf(stk_paths[i], sizeof stk_paths[i], "%s/d%d", stk_dir, i);
	sbuf = malloc(CH);
	if (!strcmp(av[0], "thread")) {
		/* A 16 KiB stack with 64 KiB of PROT_NONE below it, so that an
		 * overflow faults instead of landing in some other mapping. */
		pthread_attr_t at;
		pthread_attr_init(&at);
		unsigned char *m = mmap(NULL, 4 * CH + 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		say("mprotect guard", mprotect(m, 4 * CH, PROT_NONE));
		say("pthread_attr_setstack(16384)", pthread_attr_setstack(&at, m + 4 * CH, 16384));
		pthread_t t;
		say("pthread_create", pthread_create(&t, &at, stack_thread, NULL));
		say("pthread_join", pthread_join(t, NULL));
	} else {
		/* 8 KiB, with 64 KiB of PROT_NONE below it (see above) */
		unsigned char *m = mmap(NULL, 4 * CH + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		say("mprotect guard", mprotect(m, 4 * CH, PROT_NONE));
		stack_t ss = { .ss_sp = m + 4 * CH, .ss_size = 8192 };
		say("sigaltstack(8192)", sigaltstack(&ss, NULL));
		struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK };
		sigaction(SIGUSR1, &sa, NULL);
		say("raise(SIGUSR1)", raise(SIGUSR1));
		line("handler done: %d", in_handler_done);
	}
	for (int i = 0; i < nres; i++)
		line("result %d: %lld%s", i, res[i], res[i] <= -1000 ? ename((int)(-res[i] - 1000)) : "");
}

/* ---- seccomp ---- */

static unsigned char *seccomp_buf;

static void sc_copy(int s, int d)
{
	ssize_t r;
	while ((r = read(s, seccomp_buf, CH)) > 0)
		if (write(d, seccomp_buf, (size_t)r) != r)
			break;
}

static void cmd_seccomp(char **av)
{
	const char *mode = av[0];
	seccomp_buf = malloc(CH);
	memset(seccomp_buf, 0, CH);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		int s = xopen(av[1], O_RDONLY), d = xopen(av[2], O_WRONLY | O_CREAT | O_TRUNC);
		if (!strcmp(mode, "strict") || !strcmp(mode, "strict-nocopy")) {
			if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
				die("PR_SET_SECCOMP: %s", strerror(errno));
			if (!strcmp(mode, "strict"))
				sc_copy(s, d);
			else if (read(s, seccomp_buf, CH) == CH && write(d, "not a copy\n", 11) != 11)
				syscall(SYS_exit, 4);
			syscall(SYS_exit, 0);
		}
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			die("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		int r = !strcmp(mode, "filter") ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)
						: (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
		if (r != 0)
			die("seccomp: %s", strerror(errno));
		sc_copy(s, d);
		say("child: close D", close(d));
		say("child: close S", close(s));
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	status_line("child", st);
	struct stat sb;
	say("stat D", stat(av[2], &sb));
	line("D size %lld", (long long)sb.st_size);
}

/* ---- children in the middle of a copy ---- */


/* A vfork (or fork) child execs stat to print D's size as it sees it. */
static void stat_child(bool use_vfork, const char *dp)
{
	char fmt[32];
	snprintf(fmt, sizeof fmt, "%s+execve: %%s", use_vfork ? "vfork" : "fork");
	char *argv[] = { "stat", "-c", fmt, (char *)dp, NULL };
	int st;
	fflush(stdout);
	pid_t p = use_vfork ? vfork() : fork();
	if (p == 0) {
		execve("/usr/bin/stat", argv, environ);
		_exit(127);
	}
	waitpid(p, &st, 0);
	status_line(use_vfork ? "vfork child" : "fork child", st);
}
static void cmd_children(char **av)
{
	const char *dp = av[1];
	int s = xopen(av[0], O_RDONLY), d = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC);
	static unsigned char buf[CH];
	for (int i = 0; i < 2; i++) {
		ssize_t r = read(s, buf, CH);
		say("write D", write(d, buf, (size_t)r));
	}
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "stat -c 'system: %%s' '%s'", dp);
	say("system", system(cmd));

	pid_t p;
	int st;
	char *sargv[] = { "stat", "-c", "posix_spawn: %s", (char *)dp, NULL };
	fflush(stdout);
	/* The child prints too: report the return value once it has exited,
	 * or the two lines race. */
	int sr = posix_spawnp(&p, "stat", NULL, NULL, sargv, environ);
	waitpid(p, &st, 0);
	say("posix_spawnp", sr);
	status_line("posix_spawn child", st);

	snprintf(cmd, sizeof cmd, "wc -c < '%s'", dp);
	FILE *f = popen(cmd, "r");
	char l[256] = "";
	if (f && fgets(l, sizeof l, f))
		printf("popen: %s", l);
	say("pclose", pclose(f));

	stat_child(true, dp);
	stat_child(false, dp);

	copy_rest(s, d, buf, 2 * CH);
	say("close D", close(d));
}

/* ---- errno ---- */

#define KEEP(what, call)                                                         \
	do {                                                                     \
		errno = EDOM;                                                    \
		long long r_ = (long long)(call);                                \
		int e_ = errno;                                                  \
		printf("%s = %lld, errno %s\n", what, r_ < 0 ? r_ : (r_ > 0 ? 1 : 0), ename(e_)); \
		fflush(stdout);                                                  \
	} while (0)

static void cmd_errno(char **av)
{
	int s, d, d2;
	struct stat st;
	static unsigned char buf[16 * CH];
	ssize_t r;
	KEEP("open S", s = open(av[0], O_RDONLY));
	off_t total = 0;
	do
		KEEP("read S", r = read(s, buf + total, CH));
	while (r > 0 && (total += r) < (off_t)sizeof buf - CH);
	KEEP("close S (read whole)", close(s));
	KEEP("open D", d = open(av[1], O_WRONLY | O_CREAT | O_TRUNC, 0644));
	KEEP("write D (S's first 64K)", write(d, buf, CH));
	KEEP("write D (next 64K)", write(d, buf + CH, CH));
	KEEP("fstat D", fstat(d, &st));
	KEEP("lseek D cur", lseek(d, 0, SEEK_CUR));
	KEEP("lseek D end", lseek(d, 0, SEEK_END));
	KEEP("stat D", stat(av[1], &st));
	KEEP("dup D", d2 = dup(d));
	KEEP("close dup", close(d2));
	KEEP("write D (rest)", write(d, buf + 2 * CH, (size_t)(total - 2 * CH)));
	KEEP("fsync D", fsync(d));
	KEEP("close D", close(d));
	/* a second copy, from an open S, ending with fork and exit paths */
	KEEP("open S", s = open(av[0], O_RDONLY));
	char p2[4096];
	snprintf(p2, sizeof p2, "%s.2", av[1]);
	KEEP("open D2", d = open(p2, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	KEEP("read S", r = read(s, buf, CH));
	KEEP("write D2", write(d, buf, (size_t)r));
	KEEP("read S", r = read(s, buf, CH));
	KEEP("write D2", write(d, buf, (size_t)r));
	fflush(stdout);
	pid_t p;
	errno = EDOM;
	p = fork();
	if (p == 0)
		_exit(0);
	line("fork, errno %s", ename(errno));
	KEEP("waitpid", waitpid(p, NULL, 0));
	KEEP("ftruncate D2", ftruncate(d, 100000));
	KEEP("close D2", close(d));
	KEEP("close S", close(s));
	KEEP("close(-1)", close(-1));
	KEEP("write(-1)", write(-1, buf, 1));
	KEEP("read(-1)", read(-1, buf, 1));
	unlink(p2);
}

/*
 * readers S K: K fds on S, each read once from its start on one thread
 * (each a first read of a large file: one the shim publishes for other
 * processes) while another thread opens and closes /dev/null, with exactly
 * one fd number left under RLIMIT_NOFILE. Prints every fd number and error
 * the opening thread saw: always the one free number, without the shim.
 */
static int readers_done;

static void *readers_open(void *arg)
{
	unsigned long *seen = arg;  /* bit 0: EMFILE, bit 1: another error, bit n+2: fd n */
	__atomic_store_n(&readers_done, -1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE) <= 0) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			seen[0] |= errno == EMFILE ? 1 : 2;
		else {
			if (fd < 4 * 64 - 2)
				seen[(fd + 2) / 64] |= 1UL << ((fd + 2) % 64);
			close(fd);
		}
	}
	return NULL;
}

static void cmd_readers(char **av)
{
	int k = (int)num(av[1]);
	if (k < 1 || k > 200)
		die("readers: 1 to 200 fds");
	int fds[200], last = -1;
	for (int i = 0; i < k; i++)
		if ((fds[i] = xopen(av[0], O_RDONLY)) > last)
			last = fds[i];
	/* Inherited fds may sit among ours: one number free above the last. */
	struct rlimit rl = { (rlim_t)(last + 2), (rlim_t)(last + 2) };
	say("setrlimit(NOFILE, last fd + 2)", setrlimit(RLIMIT_NOFILE, &rl));
	static unsigned long seen[4];
	pthread_t t;
	if (pthread_create(&t, NULL, readers_open, seen))
		die("pthread_create");
	while (!__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE))
		sched_yield();
	static unsigned char buf[CH];
	long long got = 0;
	for (int i = 0; i < k; i++) {
		ssize_t r = pread(fds[i], buf, sizeof buf, 0);
		got += r > 0 ? r : 0;
	}
	__atomic_store_n(&readers_done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	line("read %lld bytes through %d fds", got, k);
	if (seen[0] & 1)
		line("open: EMFILE");
	if (seen[0] & 2)
		line("open: another error");
	for (int fd = 0; fd < 4 * 64 - 2; fd++)
		if (seen[(fd + 2) / 64] & (1UL << ((fd + 2) % 64)))
			line("open: fd %d", fd);
}

/* Reads 64 KiB of path from its start in a new fd: a file the shim
 * publishes for other processes (share.h), attaching its index. */
static void read_start(const char *path)
{
	static unsigned char b[CH];
	int fd = xopen(path, O_RDONLY);
	say("read 64K from the start", read(fd, b, sizeof b));
	close(fd);
}

/*
 * remap S1 S2: unmaps 1 MiB of its own, reads S1 from its start, maps
 * MAP_FIXED where it unmapped (the region is the program's to reuse),
 * fills it, reads S2 and checks its bytes. unmap2 S1 S2: the same, but
 * unmaps the region a second time instead (harmless without the shim).
 * The shim's index once landed in that range: the fill was overwritten
 * by a publish, or the second munmap took it and the next publish faulted.
 */
static void cmd_remap(char **av)
{
	size_t len = 1 << 20;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	say("munmap", munmap(p, len));
	read_start(av[0]);
	unsigned char *q = mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	line("mmap MAP_FIXED where it was: %s", q == p ? "same" : "other");
	memset(q, 'A', len);
	read_start(av[1]);
	size_t bad = 0;
	for (size_t i = 0; i < len; i++)
		bad += q[i] != 'A';
	line("bytes changed behind the program: %zu", bad);
}

static void cmd_unmap2(char **av)
{
	size_t len = 1 << 20;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	catch_segv();
	say("munmap", munmap(p, len));
	read_start(av[0]);
	say("munmap again", munmap(p, len));
	read_start(av[1]);
}

/*
 * memlimit S as|memlock: leaves 2 MiB of headroom under RLIMIT_AS (or sets
 * RLIMIT_MEMLOCK to 2 MiB and calls mlockall(MCL_FUTURE)), reads S from
 * its start, then maps 1.5 MiB. The shim's index once took 516 KiB of it.
 */
static long vmsize_kib(void)
{
	static char b[8192];
	int fd = xopen("/proc/self/status", O_RDONLY);
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n > 0 ? n : 0] = 0;
	char *p = strstr(b, "VmSize:");
	return p ? atol(p + 7) : -1;
}

static void cmd_memlimit(char **av)
{
	if (!strcmp(av[1], "as")) {
		/* Headroom, not a size: the shim's own mappings are in VmSize. */
		rlim_t v = (rlim_t)(vmsize_kib() + 2048) << 10;
		struct rlimit rl = { v, v };
		say("setrlimit(AS, VmSize + 2 MiB)", setrlimit(RLIMIT_AS, &rl));
	} else {
		struct rlimit rl = { 2 << 20, 2 << 20 };
		say("setrlimit(MEMLOCK, 2 MiB)", setrlimit(RLIMIT_MEMLOCK, &rl));
		say("mlockall(MCL_FUTURE)", mlockall(MCL_FUTURE));
	}
	read_start(av[0]);
	void *p = mmap(NULL, 3 << 19, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say("mmap 1.5 MiB", p == MAP_FAILED ? -1 : 0);
}

/*
 * busmap A S D (standard input a pipe): fed by the pipe, reads S into a
 * MAP_SHARED mapping of A, has A truncated by another process, then writes
 * from the mapping to D: EFAULT. The shim's look in the index once hashed
 * that buffer in place (it was the last read's) and died of SIGBUS.
 */
static void cmd_busmap(char **av)
{
	char b[64];
	say("read the pipe", read(0, b, sizeof b));
	int a = xopen(av[0], O_RDWR);
	unsigned char *m = mmap(NULL, CH, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	if (m == MAP_FAILED)
		die("mmap");
	int s = xopen(av[1], O_RDONLY);
	say("read S into the mapping", read(s, m, 4096));
	close(s);
	pid_t p = fork();
	if (p == 0) {
		execlp("truncate", "truncate", "-s", "0", av[0], (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	status_line("truncate A", st);
	catch_segv();
	int d = xopen(av[2], O_WRONLY | O_CREAT | O_TRUNC);
	errno = 0;
	say("write D from the mapping", write(d, m, 4096));
}

/*
 * pipewrite (standard input a pipe): fed by the pipe, writes 4096 bytes to
 * standard output with errno 0, and prints errno. The shim's first look in
 * its index (here refused) once left its own errno behind.
 */
static void cmd_pipewrite(char **av)
{
	(void)av;
	char b[64];
	static unsigned char out[4096];
	if (read(0, b, sizeof b) < 0)
		die("read");
	memset(out, 'x', sizeof out);
	errno = 0;
	ssize_t w = write(1, out, sizeof out);
	int e = errno;
	fprintf(stderr, "write %zd, errno %s\n", w, e ? ename(e) : "0");
}

/*
 * ownfiles S D X: a thread takes an fd table of its own (unshare
 * CLONE_FILES) while the main thread opens /dev/null, S and X; the thread
 * then locks X (F_SETLK), reads S whole, closes it, and writes it to D in
 * one call; a child asks whether X is still locked. Our fd table is the
 * process's, and /proc/self is the main thread's: fd N there is another
 * file than the thread's fd N (a lookup by name once closed X instead of
 * S, dropping the lock).
 */
static const char *own_s, *own_d, *own_x;
static sem_t own_unshared, own_opened;

static void *own_thread(void *arg)
{
	(void)arg;
	say("unshare", unshare(CLONE_FILES));
	sem_post(&own_unshared);
	sem_wait(&own_opened);
	int x = open(own_x, O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	say("lock X", fcntl(x, F_SETLK, &fl));
	int s = open(own_s, O_RDONLY);
	static char buf[1 << 20];
	ssize_t n = read(s, buf, sizeof buf);
	say("read S", n);
	say("close S", close(s));
	int d = open(own_d, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	say("open D", d);
	say("write D", write(d, buf, n > 0 ? (size_t)n : 0));
	say("close D", close(d));
	pid_t pid = fork();
	if (pid == 0) {
		int y = open(own_x, O_RDWR);
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		fcntl(y, F_GETLK, &q);
		line("X %s", q.l_type == F_UNLCK ? "unlocked" : "locked");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	return NULL;
}

static void cmd_ownfiles(char **av)
{
	own_s = av[0], own_d = av[1], own_x = av[2];
	sem_init(&own_unshared, 0, 0);
	sem_init(&own_opened, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, own_thread, NULL);
	sem_wait(&own_unshared);
	say("open /dev/null", open("/dev/null", O_RDONLY));
	say("open S", open(own_s, O_RDONLY));
	say("open X", open(own_x, O_RDONLY));
	sem_post(&own_opened);
	pthread_join(t, NULL);
}

/*
 * exchange A B STOP: swaps the names A and B (renameat2 RENAME_EXCHANGE)
 * until the file STOP exists, and leaves them as they were. With a FIFO
 * as B, a look at A's name and an open of it may each see another file.
 */
static void cmd_exchange(char **av)
{
	unsigned long n = 0;
	while (access(av[2], F_OK) != 0)
		for (int i = 0; i < 1000; i++, n++)
			if (renameat2(AT_FDCWD, av[0], AT_FDCWD, av[1], RENAME_EXCHANGE) != 0)
				die("renameat2: %s", strerror(errno));
	if (n & 1 && renameat2(AT_FDCWD, av[0], AT_FDCWD, av[1], RENAME_EXCHANGE) != 0)
		die("renameat2: %s", strerror(errno));
}

/* fifowait F: opens the FIFO F for writing, which blocks until someone
 * opens it for reading; then says so. */
static void cmd_fifowait(char **av)
{
	int fd = open(av[0], O_WRONLY);
	printf("fifowait: open %s\n", fd < 0 ? ename(errno) : "returned");
	fflush(stdout);
}

/*
 * setuidrace S N: N children of root, each with one thread reading S from
 * its start (attaching the shim's index) while another calls
 * setuid(65534): counts the children that still map root's index after.
 * (Without the shim, none maps anything.) A setuid between the attach and
 * its record was once missed: 3 children of 400.
 */
static int race_go;
static const char *race_src;

static void *race_read(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&race_go, __ATOMIC_ACQUIRE))
		;
	static unsigned char b[CH];
	int fd = open(race_src, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, b, sizeof b) < 0)
			_exit(3);
		close(fd);
	}
	return NULL;
}

static void *race_setuid(void *arg)
{
	while (!__atomic_load_n(&race_go, __ATOMIC_ACQUIRE))
		;
	for (volatile long i = 0; i < (long)arg; i++)
		;
	if (setuid(65534) != 0)
		_exit(4);
	return NULL;
}

static void cmd_setuidrace(char **av)
{
	race_src = av[0];
	int n = (int)num(av[1]), mapped = 0, failed = 0;
	char key[32];
	snprintf(key, sizeof key, "SYSV%08x ", SHARE_IPC_KEY ^ (unsigned)geteuid());
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0) {
			pthread_t a, b;
			pthread_create(&a, NULL, race_read, NULL);
			pthread_create(&b, NULL, race_setuid, (void *)(long)(i % 50 * 200));
			__atomic_store_n(&race_go, 1, __ATOMIC_RELEASE);
			pthread_join(a, NULL);
			pthread_join(b, NULL);
			FILE *f = fopen("/proc/self/maps", "r");
			char l[512];
			int found = 0;
			while (f && fgets(l, sizeof l, f))
				found |= strstr(l, key) != NULL;
			_exit(found);
		}
		int st;
		waitpid(p, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
			mapped++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	line("children mapping root's index after setuid: %d of %d", mapped, n);
	line("children that failed: %d", failed);
}

int main(int argc, char **argv)
{
	static const struct subcmd cmds[] = {
		{ "flock", 1, cmd_flock },
		{ "ofd", 1, cmd_ofd },
		{ "lease", 1, cmd_lease },
		{ "inotify", 1, cmd_inotify },
		{ "umount", 2, cmd_umount },
		{ "unlinkspace", 3, cmd_unlinkspace },
		{ "posixlock", 2, cmd_posixlock },
		{ "fdlist", 1, cmd_fdlist },
		{ "privfd", 2, cmd_privfd },
		{ "badptr", 3, cmd_badptr },
		{ "stack", 3, cmd_stack },
		{ "seccomp", 3, cmd_seccomp },
		{ "children", 2, cmd_children },
		{ "errno", 2, cmd_errno },
		{ "readers", 2, cmd_readers },
		{ "remap", 2, cmd_remap },
		{ "unmap2", 2, cmd_unmap2 },
		{ "memlimit", 2, cmd_memlimit },
		{ "busmap", 3, cmd_busmap },
		{ "pipewrite", 0, cmd_pipewrite },
		{ "setuidrace", 2, cmd_setuidrace },
		{ "exchange", 3, cmd_exchange },
		{ "ownfiles", 3, cmd_ownfiles },
		{ "fifowait", 1, cmd_fifowait },
	};
	return run_subcmd(cmds, sizeof cmds / sizeof cmds[0], argc, argv);
}
