/*
 * exact — copies that something else touches, for issue 10 ("Exact where it
 * clones, whatever else touches the destination"). Each sub-command copies S
 * into D in 128 KiB read/write chunks (unless it says otherwise) while
 * something else touches D, and prints every value it observes (return
 * values, errno names, offsets, sizes, SEEK_DATA/SEEK_HOLE results, digests
 * of data read back, how timestamps moved), one per line and deterministic:
 * no pids, no times except compared with each other. tests/exact.bats runs
 * it plain and under the shim and requires identical output and identical
 * files.
 *
 *   exact CMD ARGS...
 *
 * Stdout should be a pipe: a regular file as stdout would itself be a
 * candidate destination for the shim.
 *
 * Wrong final files:
 *   hole link|rename|tmpfile|chmod|none S D
 *       2 chunks, then link(D, D.2) / rename D away and back / linkat of an
 *       O_TMPFILE D / chmod of D by another process / nothing; then lseek S
 *       and D past a range (to S's size - 512 KiB) and copy on. D must keep
 *       the hole.
 *   writers fd2|aio|system|system-early|scm|truncate stop|finish S D
 *       1 chunk, then another writer puts "xyz" at 500000 (stop: then the
 *       program closes D) or at S's size + 500000 (finish: then it copies
 *       the rest): a second fd opened before the copy, aio_write, a child
 *       of system("dd ... conv=notrunc"), a dd started by system() before
 *       the copy (waiting on a FIFO), an fd received over a unix socket
 *       (SCM_RIGHTS; it first reads at the shared offset); or (truncate)
 *       another process sets D's size to that offset + 3.
 *   whole plain|lock|dup S D
 *       S read whole and written to D in one write, then D's size and
 *       timestamps, more writes, seeks, a read back; with lock, a POSIX
 *       write lock on D taken first, probed by another process after the
 *       copy and after close; with dup, the later calls go through a dup
 *       of D.
 *   stalefd S D
 *       copies S to D.first with a pipe open; closes the pipe through stdio
 *       (fclose: no wrapper sees it), fopen(D) on that number, copies S to
 *       D through a second fd, then writes a line through the stream.
 *   stdio S D
 *       re-executes itself with stdout and stderr on D (`prog S > D 2>&1`):
 *       2 chunks to fd 1, a warning on fd 2, lseek(1, 0, SEEK_END) and
 *       fstat(1), the rest to fd 1. Prints to fd 3.
 *   refuse chattr|fsize|direct S D
 *       chattr +a D by another process after 2 chunks, then one more chunk
 *       and the program stops (dd count=3); RLIMIT_FSIZE lowered
 *       to 300000 after 1 chunk (SIGXFSZ ignored); D opened O_DIRECT: an
 *       aligned chunk, a chunk from a misaligned buffer, a 1000-byte write.
 *   cancel S D
 *       a thread copies; a deferred pthread_cancel arrives between its third
 *       read and its third write.
 *   death pipe|int|term S D
 *       a child copies 2 chunks, then dies of SIGPIPE (writing to a pipe
 *       nobody reads), SIGINT or SIGTERM (sent by the parent); the parent
 *       prints D's size.
 *   cfr S D
 *       copy_file_range(S, NULL, D, NULL, 100000) until it returns 0.
 *   sendfile whole|once|offset|chunks S D
 *       S's atime set before mtime, then sendfile(D, S, NULL, 16 MiB) until
 *       it returns 0 (busybox cp), only once (no call at EOF, which reads
 *       and stamps), with an offset pointer (Python's shutil), or 100,000
 *       bytes at a time; offsets, D's size, whether S's
 *       atime moved (relatime: it must). Again into D.2 with S's atime set
 *       after its ctime (relatime: it must not).
 *   sendfile cfr S D
 *       as whole, by copy_file_range(S, NULL, D, NULL, 16 MiB, 0): on the
 *       same filesystem the kernel's own call clones, so S's atime must
 *       not move either time.
 *   sendfile limit S D
 *       a whole sendfile copy into D.2, then setrlimit(RLIMIT_FSIZE, 300000)
 *       (SIGXFSZ ignored) and the same copy into D: a short count, then EFBIG.
 * Wrong values the program sees:
 *   readmid earlyfd|fopen|fopen-early|aio S D
 *       after 2 chunks, read D through an fd opened before the copy (read,
 *       pread at the written size, lseek SEEK_END, fstat), through
 *       fopen+fread (opened then, or before the copy) and fseek/ftell, or
 *       through aio_read.
 *   mtime S D
 *       fstat after every chunk: did each write move mtime? After the last
 *       write, 60 ms, close: is mtime still the last write's?
 *   touch S D
 *       the whole copy, then `touch -d @981173106 D` by another process,
 *       then close: which mtime does D keep?
 *   lseekerr S D
 *       after 2 chunks, lseek(D) with INT64_MAX/SEEK_END, -5/SEEK_DATA,
 *       -5/SEEK_HOLE and other edge cases; errno must match.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define CH (128 << 10)

static FILE *out;  /* where observations go: stdout, or fd 3 for stdio */

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* One line: "what = r" or "what = -1 ENAME". */
static void say(const char *what, long long r)
{
	if (r < 0)
		fprintf(out, "%s = %lld %s\n", what, r, ename(errno));
	else
		fprintf(out, "%s = %lld\n", what, r);
	fflush(out);
}

static void line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
}

static void status_line(const char *who, int st)
{
	if (WIFEXITED(st))
		line("%s: exited %d", who, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		line("%s: killed by SIG%s", who, sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	else
		line("%s: status %#x", who, st);
}

static off_t path_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("vasprintf");
	va_end(ap);
	return s;
}

/* The copy buffer: page-aligned (O_DIRECT), with room for a misaligned chunk. */
static unsigned char *buf;

static void alloc_buf(void)
{
	void *p;
	if (posix_memalign(&p, 4096, CH + 4096) != 0)
		die("posix_memalign");
	buf = p;
}

/* One chunk: read up to CH bytes of s into buf, write them to d. Prints the
 * write's result; returns it (0 at the end of S). */
static ssize_t chunk(int s, int d)
{
	ssize_t r = read(s, buf, CH);
	if (r <= 0) {
		if (r < 0)
			say("read S", r);
		return r;
	}
	ssize_t w = write(d, buf, (size_t)r);
	say("write D", w);
	return w;
}

/* Chunks until S ends or a write fails; returns the bytes written. */
static off_t copy_rest(int s, int d)
{
	off_t n = 0;
	ssize_t w;
	while ((w = chunk(s, d)) > 0)
		n += w;
	line("copied %lld more", (long long)n);
	return n;
}

/* Digest of bytes read back, and whether they are S's bytes at `at`. */
static void read_line(const char *what, const char *s, off_t at, const unsigned char *p, ssize_t n)
{
	if (n < 0) {
		say(what, n);
		return;
	}
	unsigned char *sb = malloc(n ? (size_t)n : 1);
	int fd = xopen(s, O_RDONLY);
	ssize_t m = pread(fd, sb, (size_t)n, at);
	close(fd);
	bool zeros = true;
	for (ssize_t i = 0; i < n && zeros; i++)
		zeros = p[i] == 0;
	line("%s = %zd, digest %016llx%s", what, n, (unsigned long long)fnv(p, (size_t)n, FNV_INIT),
	     n == 0 ? "" : m == n && !memcmp(p, sb, (size_t)n) ? " (S's bytes)" : zeros ? " (zeros)" : "");
	free(sb);
}

/* ---- another process, started before the copy ---- */

/* A child forked before anything is opened: it runs shell commands sent
 * over a pipe (system() in a process that copies nothing) and answers with
 * their status, so "another process" acts in the middle of the copy. */
static int agent_to = -1, agent_from = -1;
static pid_t agent_pid;

static void agent_start(void)
{
	int a[2], b[2];
	if (pipe(a) || pipe(b))
		die("pipe");
	fflush(out);
	agent_pid = fork();
	if (agent_pid < 0)
		die("fork");
	if (agent_pid == 0) {
		close(a[1]);
		close(b[0]);
		for (;;) {
			size_t len;
			if (read(a[0], &len, sizeof len) != sizeof len || len == 0 || len > 8191)
				_exit(0);
			char cmd[8192];
			size_t got = 0;
			while (got < len) {
				ssize_t r = read(a[0], cmd + got, len - got);
				if (r <= 0)
					_exit(1);
				got += (size_t)r;
			}
			cmd[len] = 0;
			int st = system(cmd);
			if (write(b[1], &st, sizeof st) != sizeof st)
				_exit(1);
		}
	}
	close(a[0]);
	close(b[1]);
	agent_to = a[1];
	agent_from = b[0];
}

/* Runs the command in the agent; prints "LABEL: exited N". */
static void agent(const char *label, const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		die("vasprintf");
	va_end(ap);
	size_t len = strlen(cmd);
	int st = -1;
	if (write(agent_to, &len, sizeof len) != sizeof len || write(agent_to, cmd, len) != (ssize_t)len ||
	    read(agent_from, &st, sizeof st) != sizeof st)
		die("agent");
	free(cmd);
	status_line(label, st);
}

static void agent_stop(void)
{
	if (agent_pid <= 0)
		return;
	size_t z = 0;
	if (write(agent_to, &z, sizeof z) != sizeof z)
		die("agent");
	waitpid(agent_pid, NULL, 0);
	close(agent_to);
	close(agent_from);
	agent_pid = 0;
}

/* ---- wrong final files ---- */

/* Whether fd has a hole in [2 chunks, skip) and data again at skip, from
 * SEEK_DATA/SEEK_HOLE. (Not the raw offsets: XFS may turn some of its
 * speculative preallocation past the old EOF into zeroed data, depending on
 * writeback timing, even without the shim.) */
static void hole_lines(const char *what, int fd, off_t skip)
{
	char w[256];
	snprintf(w, sizeof w, "%s: lseek(0, SEEK_DATA)", what);
	say(w, lseek(fd, 0, SEEK_DATA));
	off_t h = lseek(fd, 2 * CH, SEEK_HOLE);
	line("%s: first hole from 2 chunks on is %s", what,
	     h < 0 ? ename(errno) : h < skip ? "in the skipped range" : "not in the skipped range");
	off_t da = h < 0 ? -1 : lseek(fd, h, SEEK_DATA);
	line("%s: data again at the skip offset: %s", what, da == skip ? "yes" : "no");
}

static void cmd_hole(char **av)
{
	const char *mode = av[0], *sp = av[1], *dp = av[2];
	if (!strcmp(mode, "chmod"))
		agent_start();
	int s = xopen(sp, O_RDONLY);
	off_t ssize = fsize(s), skip = ssize - 4 * CH;
	int d;
	if (!strcmp(mode, "tmpfile")) {
		char *dir = strdup(dp);
		d = open(dirname(dir), O_TMPFILE | O_WRONLY, 0644);
		say("open O_TMPFILE", d < 0 ? -1 : 0);
		if (d < 0)
			exit(1);
		free(dir);
	} else {
		d = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC);
	}
	chunk(s, d);
	chunk(s, d);
	char *d2 = xasprintf("%s.2", dp);
	if (!strcmp(mode, "link")) {
		say("link(D, D.2)", link(dp, d2));
	} else if (!strcmp(mode, "rename")) {
		say("rename(D, D.2)", rename(dp, d2));
		say("rename(D.2, D)", rename(d2, dp));
	} else if (!strcmp(mode, "tmpfile")) {
		char *proc = xasprintf("/proc/self/fd/%d", d);
		say("linkat(/proc/self/fd/D, D)", linkat(AT_FDCWD, proc, AT_FDCWD, dp, AT_SYMLINK_FOLLOW));
		free(proc);
	} else if (!strcmp(mode, "chmod")) {
		agent("chmod 600 D (another process)", "chmod 600 '%s'", dp);
	} else if (strcmp(mode, "none")) {
		die("hole: unknown mode %s", mode);
	}
	say("lseek(S, skip, SEEK_SET)", lseek(s, skip, SEEK_SET));
	say("lseek(D, skip, SEEK_SET)", lseek(d, skip, SEEK_SET));
	copy_rest(s, d);
	say("fstat D size", fsize(d));
	hole_lines("D", d, skip);
	say("close D", close(d));
	int r = xopen(dp, O_RDONLY);
	hole_lines("D after close", r, skip);
	close(r);
	if (!strcmp(mode, "link"))
		say("unlink D.2", unlink(d2));
	free(d2);
	close(s);
	agent_stop();
}

/* Sends fd over a unix socket to ourselves; returns the received number. */
static int pass_fd(int fd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		die("socketpair");
	char c = 'x';
	struct iovec iv = { &c, 1 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	say("sendmsg SCM_RIGHTS", sendmsg(sv[0], &m, 0));
	memset(&u, 0, sizeof u);
	m.msg_controllen = sizeof u.b;
	say("recvmsg", recvmsg(sv[1], &m, 0));
	cm = CMSG_FIRSTHDR(&m);
	int r = -1;
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&r, CMSG_DATA(cm), sizeof r);
	line("received an fd: %s", r >= 0 ? "yes" : "no");
	close(sv[0]);
	close(sv[1]);
	return r;
}

static void cmd_writers(char **av)
{
	const char *mode = av[0], *how = av[1], *sp = av[2], *dp = av[3];
	bool finish = !strcmp(how, "finish");
	if (!finish && strcmp(how, "stop"))
		die("writers: stop or finish, not %s", how);
	int s = xopen(sp, O_RDONLY);
	off_t ssize = fsize(s);
	off_t at = finish ? ssize + 500000 : 500000;
	bool scm = !strcmp(mode, "scm");
	if (!strcmp(mode, "truncate"))
		agent_start();
	int d = xopen(dp, (scm ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC);
	int d2 = -1;
	char *fifo = xasprintf("%s.fifo", dp), *done = xasprintf("%s.done", dp);
	if (!strcmp(mode, "fd2")) {
		d2 = xopen(dp, O_WRONLY);
		line("second fd opened before the copy");
	} else if (!strcmp(mode, "system-early")) {
		unlink(fifo);
		unlink(done);
		if (mkfifo(fifo, 0600) || mkfifo(done, 0600))
			die("mkfifo: %s", strerror(errno));
		/* dd opens the FIFO first and blocks there until we write to it,
		 * after the first chunk; then it opens D and writes. */
		say("system(dd ... &)",
		    system(xasprintf("(dd if='%s' of='%s' bs=3 count=1 iflag=fullblock seek=%lld oflag=seek_bytes "
				     "conv=notrunc status=none; echo done > '%s') </dev/null >/dev/null 2>&1 &",
				     fifo, dp, (long long)at, done)));
	}
	chunk(s, d);
	if (!strcmp(mode, "fd2")) {
		say("pwrite(fd2, xyz, at)", pwrite(d2, "xyz", 3, at));
	} else if (!strcmp(mode, "aio")) {
		struct aiocb cb = { .aio_fildes = d, .aio_buf = (void *)"xyz", .aio_nbytes = 3, .aio_offset = at };
		say("aio_write", aio_write(&cb));
		const struct aiocb *l[1] = { &cb };
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		say("aio_error", aio_error(&cb));
		say("aio_return", aio_return(&cb));
	} else if (!strcmp(mode, "system")) {
		int st = system(xasprintf("printf xyz | dd of='%s' bs=3 count=1 iflag=fullblock seek=%lld "
					  "oflag=seek_bytes conv=notrunc status=none", dp, (long long)at));
		status_line("system(dd)", st);
	} else if (!strcmp(mode, "system-early")) {
		int f = xopen(fifo, O_WRONLY);
		say("write FIFO", write(f, "xyz", 3));
		close(f);
		f = xopen(done, O_RDONLY);
		char b[16] = "";
		say("read done FIFO", read(f, b, sizeof b - 1));
		close(f);
		unlink(fifo);
		unlink(done);
	} else if (!strcmp(mode, "truncate")) {
		agent("truncate -s at+3 D (another process)", "truncate -s %lld '%s'", (long long)at + 3, dp);
	} else if (scm) {
		int r = pass_fd(d);
		say("lseek(received, 0, SEEK_CUR)", lseek(r, 0, SEEK_CUR));
		unsigned char rb[16];
		ssize_t n = read(r, rb, sizeof rb);
		read_line("read(received, 16) at the shared offset", sp, CH, rb, n);
		say("lseek(received, 1 chunk, SEEK_SET)", lseek(r, CH, SEEK_SET));
		say("pwrite(received, xyz, at)", pwrite(r, "xyz", 3, at));
		n = pread(r, rb, 3, at);
		read_line("pread(received, 3, at)", sp, at, rb, n);
		say("fstat(received) size", fsize(r));
		say("close received", close(r));
	} else {
		die("writers: unknown mode %s", mode);
	}
	say("fstat D size", fsize(d));
	say("lseek(D, 0, SEEK_CUR)", lseek(d, 0, SEEK_CUR));
	say("lseek(D, 0, SEEK_END)", lseek(d, 0, SEEK_END));
	say("lseek(D, 1 chunk, SEEK_SET)", lseek(d, CH, SEEK_SET));
	say("stat D size", path_size(dp));
	if (finish) {
		copy_rest(s, d);
		say("fstat D size", fsize(d));
	}
	if (d2 >= 0)
		say("close fd2", close(d2));
	say("close D", close(d));
	say("stat D size after close", path_size(dp));
	close(s);
	agent_stop();
}

static const char warning[] = "prog: warning: something odd\n";

/* The program proper, with stdout and stderr on D (set up before exec, as
 * a shell does, so that the shim sees neither being opened). */
static void cmd_stdio_run(char **av)
{
	out = fdopen(3, "w");
	if (!out)
		exit(2);
	int s = xopen(av[0], O_RDONLY);
	chunk(s, 1);
	chunk(s, 1);
	say("write(2, warning)", write(2, warning, sizeof warning - 1));
	say("lseek(1, 0, SEEK_CUR)", lseek(1, 0, SEEK_CUR));
	say("fstat(1) size", fsize(1));
	say("lseek(1, 0, SEEK_END)", lseek(1, 0, SEEK_END));
	say("fstat(2) size", fsize(2));
	copy_rest(s, 1);
	say("fstat(1) size", fsize(1));
	say("lseek(2, 0, SEEK_CUR)", lseek(2, 0, SEEK_CUR));
	close(s);
}

static void cmd_stdio(char **av)
{
	const char *sp = av[0], *dp = av[1];
	fflush(stdout);
	if (dup2(1, 3) != 3)
		die("dup2: %s", strerror(errno));
	int o = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC);
	if (dup2(o, 1) != 1 || dup2(o, 2) != 2)
		die("dup2: %s", strerror(errno));
	close(o);
	execl("/proc/self/exe", "exact", "stdio-run", sp, (char *)NULL);
	_exit(127);
}

/*
 * stalefd S D: a copy armed while a pipe is open lists the pipe's fd (not
 * a regular file); stdio's fclose then closes that number without our
 * wrappers, and fopen(D) reuses it. A copy into D through a second fd must
 * see D open on that number: the stream writes behind the copy's back.
 */
static void cmd_stalefd(char **av)
{
	const char *sp = av[0], *dp = av[1];
	char first[4096];
	snprintf(first, sizeof first, "%s.first", dp);
	int p[2];
	if (pipe(p) != 0)
		die("pipe: %s", strerror(errno));
	int s = xopen(sp, O_RDONLY);
	int d0 = xopen(first, O_WRONLY | O_CREAT | O_TRUNC);
	say("copy S to another file", copy_rest(s, d0));
	close(d0);
	fclose(fdopen(p[0], "r"));  /* libc's own close */
	close(p[1]);
	FILE *f = fopen(dp, "w");
	if (!f)
		die("fopen: %s", strerror(errno));
	say("fopen(D) reuses the pipe's number", fileno(f) == p[0]);
	say("lseek S 0", lseek(s, 0, SEEK_SET));
	int d = xopen(dp, O_WRONLY);
	say("copy S to D", copy_rest(s, d));
	fputs("a line through the stream, at its offset 0\n", f);
	say("fclose", fclose(f));
	say("close D", close(d));
	close(s);
}

/*
 * whole plain|lock S D: S read whole and written to D in one write (the
 * copy ends at that call under the shim), then what the program sees of D
 * afterwards: size, timestamps, more writes, seeks, reads back. With lock,
 * the program first takes a POSIX write lock on D, which another process
 * must still see held after the copy (closing a dup of D would drop it).
 */
static void cmd_whole(char **av)
{
	const char *mode = av[0], *sp = av[1], *dp = av[2];
	bool lock = !strcmp(mode, "lock"), dup_after = !strcmp(mode, "dup");
	if (!lock && !dup_after && strcmp(mode, "plain"))
		die("whole: unknown mode %s", mode);
	if (lock)
		agent_start();
	int s = xopen(sp, O_RDONLY);
	int d = xopen(dp, O_RDWR | O_CREAT | O_TRUNC);
	if (lock) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		say("fcntl(D, F_SETLK, write lock)", fcntl(d, F_SETLK, &fl));
	}
	off_t n = fsize(s);
	unsigned char *all = malloc((size_t)n);
	say("read S whole", read(s, all, (size_t)n));
	say("write D whole", write(d, all, (size_t)n));
	/* dup: the later calls go through a second fd on the same description
	 * (one made before the copy would have kept it from being cloned). */
	int d2 = dup_after ? dup(d) : d;
	struct stat st;
	fstat(d, &st);
	line("fstat D: size %lld, mtime == ctime %s", (long long)st.st_size,
	     st.st_mtim.tv_sec == st.st_ctim.tv_sec && st.st_mtim.tv_nsec == st.st_ctim.tv_nsec ? "yes" : "no");
	if (lock)
		agent("another process's lockf(D, F_TLOCK)",
		      "python3 -c 'import fcntl,sys; f=open(sys.argv[1],\"r+b\"); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)' '%s' 2>/dev/null",
		      dp);
	say("write D 4 more", write(d2, "tail", 4));
	say("lseek(D, 0, SEEK_END)", lseek(d2, 0, SEEK_END));
	say("pwrite(D, 2, 10)", pwrite(d2, "XX", 2, 10));
	unsigned char back[64];
	read_line("pread(D, 64, n - 32)", sp, n - 32, back, pread(d2, back, sizeof back, n - 32));
	say("lseek(D, 0, SEEK_DATA)", lseek(d2, 0, SEEK_DATA));
	fstat(d, &st);
	line("fstat D: size %lld", (long long)st.st_size);
	if (dup_after)
		say("close the dup", close(d2));
	say("close D", close(d));
	if (lock)
		agent("another process's lockf(D, F_TLOCK) after close",
		      "python3 -c 'import fcntl,sys; f=open(sys.argv[1],\"r+b\"); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)' '%s' 2>/dev/null",
		      dp);
	agent_stop();
	close(s);
	free(all);
}

static void cmd_refuse(char **av)
{
	const char *mode = av[0], *sp = av[1], *dp = av[2];
	bool chattr = !strcmp(mode, "chattr"), fsz = !strcmp(mode, "fsize"), direct = !strcmp(mode, "direct");
	if (!chattr && !fsz && !direct)
		die("refuse: unknown mode %s", mode);
	if (chattr)
		agent_start();
	int s = xopen(sp, O_RDONLY);
	int d = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0));
	if (chattr) {
		chunk(s, d);
		chunk(s, d);
		agent("chattr +a D (another process)", "chattr +a '%s'", dp);
		/* Writes through an fd opened before still work: one more chunk,
		 * then the program stops (dd count=3). */
		chunk(s, d);
	} else if (fsz) {
		signal(SIGXFSZ, SIG_IGN);
		chunk(s, d);
		struct rlimit rl;
		getrlimit(RLIMIT_FSIZE, &rl);
		rl.rlim_cur = 300000;
		say("setrlimit(RLIMIT_FSIZE, 300000)", setrlimit(RLIMIT_FSIZE, &rl));
		copy_rest(s, d);
	} else {
		/* O_DIRECT: what the program wrote decides where it goes on. */
		off_t done = 0;
		ssize_t r, w;
		r = read(s, buf, CH);
		say("write D (aligned buffer, 1 chunk)", w = write(d, buf, (size_t)r));
		done += w > 0 ? w : 0;
		r = pread(s, buf + 1, CH, done);
		say("write D (buffer + 1, 1 chunk)", w = write(d, buf + 1, (size_t)r));
		if (w < 0) {
			r = pread(s, buf, CH, done);
			say("write D (again, aligned)", w = write(d, buf, (size_t)r));
		}
		done += w > 0 ? w : 0;
		r = pread(s, buf, 1000, done);
		say("write D (1000 bytes)", w = write(d, buf, (size_t)r));
		done += w > 0 ? w : 0;
		say("lseek(D, 0, SEEK_CUR)", lseek(d, 0, SEEK_CUR));
		if (done % 4096) {
			/* the rest of that block, then aligned chunks */
			size_t k = 4096 - (size_t)(done % 4096);
			r = pread(s, buf, k, done);
			say("write D (rest of the block)", w = write(d, buf, (size_t)r));
			done += w > 0 ? w : 0;
		}
		say("lseek(S, done, SEEK_SET)", lseek(s, done, SEEK_SET));
		copy_rest(s, d);
	}
	say("fstat D size", fsize(d));
	say("close D", close(d));
	say("stat D size after close", path_size(dp));
	close(s);
	if (chattr)
		agent("chattr -a D", "chattr -a '%s'", dp);
	agent_stop();
}

/* ---- cancellation and death ---- */

static struct {
	int s, d;
	int read_done, cancelled;
	ssize_t res[64];
	int nres;
} cx;

static void *cancel_thread(void *a)
{
	(void)a;
	for (int k = 0;; k++) {
		ssize_t r = read(cx.s, buf, CH);
		if (r <= 0)
			break;
		if (k == 2) {
			/* The main thread cancels us between this read and its write. */
			__atomic_store_n(&cx.read_done, 1, __ATOMIC_SEQ_CST);
			while (!__atomic_load_n(&cx.cancelled, __ATOMIC_SEQ_CST))
				;
		}
		ssize_t w = write(cx.d, buf, (size_t)r);
		cx.res[cx.nres++] = w;  /* printed by the main thread (printf may be a cancellation point) */
	}
	return NULL;
}

static void cmd_cancel(char **av)
{
	cx.s = xopen(av[0], O_RDONLY);
	cx.d = xopen(av[1], O_WRONLY | O_CREAT | O_TRUNC);
	pthread_t t;
	if (pthread_create(&t, NULL, cancel_thread, NULL))
		die("pthread_create");
	while (!__atomic_load_n(&cx.read_done, __ATOMIC_SEQ_CST))
		;
	say("pthread_cancel", pthread_cancel(t));
	__atomic_store_n(&cx.cancelled, 1, __ATOMIC_SEQ_CST);
	void *ret;
	say("pthread_join", pthread_join(t, &ret));
	line("thread canceled: %s", ret == PTHREAD_CANCELED ? "yes" : "no");
	for (int i = 0; i < cx.nres; i++)
		say("write D (thread)", cx.res[i]);
	line("chunks written: %d", cx.nres);
	say("fstat D size", fsize(cx.d));
	say("close D", close(cx.d));
	say("stat D size after close", path_size(av[1]));
	close(cx.s);
}

static void cmd_death(char **av)
{
	const char *how = av[0], *sp = av[1], *dp = av[2];
	int sig = !strcmp(how, "pipe") ? SIGPIPE : !strcmp(how, "int") ? SIGINT : !strcmp(how, "term") ? SIGTERM : 0;
	if (!sig)
		die("death: pipe, int or term, not %s", how);
	int sync[2], pp[2];
	if (pipe(sync) || pipe(pp))
		die("pipe");
	close(pp[0]);  /* before the fork: nobody at all reads pp */
	fflush(out);
	pid_t p = fork();
	if (p == 0) {
		/* A shell's background job has SIGINT ignored: the copier's own
		 * disposition is the default one. */
		signal(sig, SIG_DFL);
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, sig);
		sigprocmask(SIG_UNBLOCK, &m, NULL);
		close(sync[0]);
		int s = xopen(sp, O_RDONLY), d = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC);
		chunk(s, d);
		chunk(s, d);
		if (sig == SIGPIPE) {
			ssize_t r = write(pp[1], "x", 1);  /* nobody reads: SIGPIPE */
			say("child: write to a closed pipe", r);
		} else {
			if (write(sync[1], "r", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		_exit(0);
	}
	close(sync[1]);
	close(pp[1]);
	if (sig != SIGPIPE) {
		char c;
		if (read(sync[0], &c, 1) != 1)
			die("child did not get ready");
		kill(p, sig);
	}
	int st;
	waitpid(p, &st, 0);
	status_line("copier", st);
	say("stat D size", path_size(dp));
}

static void cmd_cfr(char **av)
{
	int s = xopen(av[0], O_RDONLY), d = xopen(av[1], O_WRONLY | O_CREAT | O_TRUNC);
	ssize_t r;
	int i = 0;
	do {
		r = copy_file_range(s, NULL, d, NULL, 100000, 0);
		say("copy_file_range(S, NULL, D, NULL, 100000)", r);
	} while (r > 0 && ++i < 100);
	say("lseek(S, 0, SEEK_CUR)", lseek(s, 0, SEEK_CUR));
	say("lseek(D, 0, SEEK_CUR)", lseek(d, 0, SEEK_CUR));
	say("fstat D size", fsize(d));
	say("close D", close(d));
	close(s);
}

/* Sets S's atime (mtime kept) `delta` seconds from now; returns it. */
static time_t set_atime(int s, time_t delta)
{
	struct timespec ts[2] = { { time(NULL) + delta, 0 }, { 0, UTIME_OMIT } };
	if (futimens(s, ts) != 0)
		die("futimens: %s", strerror(errno));
	return ts[0].tv_sec;
}

static void sendfile_round(const char *mode, int s, const char *dp, time_t delta)
{
	time_t a = set_atime(s, delta);
	/* The next ctime tick: S's ctime, just set, must not be the clone's
	 * reason to wait or not. */
	usleep(20000);
	int d = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC);
	bool offset = !strcmp(mode, "offset"), cfr = !strcmp(mode, "cfr");
	size_t count = !strcmp(mode, "chunks") ? 100000 : 16 << 20;
	off_t off = 0;
	ssize_t r;
	int i = 0;
	do {
		r = cfr ? copy_file_range(s, NULL, d, NULL, count, 0) : sendfile(d, s, offset ? &off : NULL, count);
		say(cfr ? "copy_file_range(S, NULL, D, NULL)" : "sendfile(D, S)", r);
	} while (r > 0 && ++i < 100 && strcmp(mode, "once"));
	if (offset)
		line("offset %lld", (long long)off);
	say("lseek(S, 0, SEEK_CUR)", lseek(s, 0, SEEK_CUR));
	say("lseek(D, 0, SEEK_CUR)", lseek(d, 0, SEEK_CUR));
	say("fstat D size", fsize(d));
	struct stat st;
	fstat(s, &st);
	line("S atime moved: %s", st.st_atim.tv_sec != a ? "yes" : "no");
	say("close D", close(d));
	lseek(s, 0, SEEK_SET);
}

static void cmd_sendfile(char **av)
{
	const char *mode = av[0];
	bool limit = !strcmp(mode, "limit");
	if (strcmp(mode, "whole") && strcmp(mode, "once") && strcmp(mode, "offset") && strcmp(mode, "chunks") &&
	    strcmp(mode, "cfr") && !limit)
		die("sendfile: unknown mode %s", mode);
	int s = xopen(av[1], O_RDONLY);
	char d2[4096];
	snprintf(d2, sizeof d2, "%s.2", av[2]);
	if (limit) {
		signal(SIGXFSZ, SIG_IGN);
		sendfile_round("whole", s, d2, -1000);
		struct rlimit rl = { 300000, RLIM_INFINITY };
		say("setrlimit(RLIMIT_FSIZE, 300000)", setrlimit(RLIMIT_FSIZE, &rl));
		sendfile_round("whole", s, av[2], -1000);
		close(s);
		return;
	}
	sendfile_round(mode, s, av[2], -1000);
	sendfile_round(mode, s, d2, 1000);
	close(s);
}

/* ---- wrong values the program sees ---- */

static void cmd_readmid(char **av)
{
	const char *mode = av[0], *sp = av[1], *dp = av[2];
	int s = xopen(sp, O_RDONLY), d = xopen(dp, O_WRONLY | O_CREAT | O_TRUNC);
	int r = -1;
	FILE *f = NULL;
	bool earlyfd = !strcmp(mode, "earlyfd"), aio = !strcmp(mode, "aio");
	bool fopen_mid = !strcmp(mode, "fopen"), fopen_early = !strcmp(mode, "fopen-early");
	if (!earlyfd && !aio && !fopen_mid && !fopen_early)
		die("readmid: unknown mode %s", mode);
	if (earlyfd || aio)
		r = xopen(dp, O_RDONLY);
	if (fopen_early && !(f = fopen(dp, "r")))
		die("fopen: %s", strerror(errno));
	chunk(s, d);
	chunk(s, d);
	static unsigned char rb[2 << 20];
	if (earlyfd) {
		ssize_t n, total = 0;
		while ((n = read(r, rb + total, 65536)) > 0 && total + n < (ssize_t)sizeof rb - 65536)
			total += n;
		if (n < 0)
			say("read", n);
		read_line("read(early fd) to EOF", sp, 0, rb, total);
		read_line("pread(early fd, 64K, 2 chunks)", sp, 2 * CH, rb, pread(r, rb, 65536, 2 * CH));
		say("lseek(early fd, 0, SEEK_END)", lseek(r, 0, SEEK_END));
		say("fstat(early fd) size", fsize(r));
	} else if (aio) {
		struct aiocb cb = { .aio_fildes = r, .aio_buf = rb, .aio_nbytes = 65536, .aio_offset = 2 * CH };
		const struct aiocb *l[1] = { &cb };
		say("aio_read(64K at 2 chunks)", aio_read(&cb));
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		say("aio_error", aio_error(&cb));
		read_line("aio_return", sp, 2 * CH, rb, aio_return(&cb));
		struct aiocb cb2 = { .aio_fildes = r, .aio_buf = rb, .aio_nbytes = sizeof rb, .aio_offset = 0 };
		l[0] = &cb2;
		say("aio_read(all at 0)", aio_read(&cb2));
		while (aio_error(&cb2) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		say("aio_error", aio_error(&cb2));
		read_line("aio_return", sp, 0, rb, aio_return(&cb2));
	} else {
		if (fopen_mid && !(f = fopen(dp, "r")))
			die("fopen: %s", strerror(errno));
		size_t n = fread(rb, 1, sizeof rb, f);
		read_line("fread to EOF", sp, 0, rb, (ssize_t)n);
		say("fseek(0, SEEK_END)", fseek(f, 0, SEEK_END));
		say("ftell", ftell(f));
		say("fseek(2 chunks, SEEK_SET)", fseek(f, 2 * CH, SEEK_SET));
		n = fread(rb, 1, 4096, f);
		read_line("fread(4096) at 2 chunks", sp, 2 * CH, rb, (ssize_t)n);
	}
	copy_rest(s, d);
	say("close D", close(d));
	if (r >= 0) {
		read_line("pread(early fd, 64K, 2 chunks) after close", sp, 2 * CH, rb, pread(r, rb, 65536, 2 * CH));
		say("fstat(early fd) size after close", fsize(r));
		close(r);
	}
	if (f)
		fclose(f);
	close(s);
}

static bool ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static long long ts_ns(struct timespec a)
{
	return a.tv_sec * 1000000000LL + a.tv_nsec;
}

static void cmd_mtime(char **av)
{
	int s = xopen(av[0], O_RDONLY), d = xopen(av[1], O_WRONLY | O_CREAT | O_TRUNC);
	struct stat st;
	fstat(d, &st);
	struct timespec prev = st.st_mtim, prevc = st.st_ctim;
	int k = 0;
	ssize_t w;
	while ((w = chunk(s, d)) > 0) {
		k++;
		fstat(d, &st);
		line("write %d: mtime moved %s, ctime moved %s, mtime == ctime %s", k,
		     ts_eq(st.st_mtim, prev) ? "no" : ts_ns(st.st_mtim) > ts_ns(prev) ? "forward" : "back",
		     ts_eq(st.st_ctim, prevc) ? "no" : ts_ns(st.st_ctim) > ts_ns(prevc) ? "forward" : "back",
		     ts_eq(st.st_mtim, st.st_ctim) ? "yes" : "no");
		prev = st.st_mtim;
		prevc = st.st_ctim;
	}
	/* mtime seen after the last write; then some time passes before close */
	struct timespec last = prev, before_close;
	struct timespec pause_ = { 0, 60 * 1000000 };
	nanosleep(&pause_, NULL);
	clock_gettime(CLOCK_REALTIME, &before_close);
	say("close D", close(d));
	stat(av[1], &st);
	line("mtime after close == mtime after the last write: %s", ts_eq(st.st_mtim, last) ? "yes" : "no");
	line("mtime after close at least 30 ms before close(): %s",
	     ts_ns(st.st_mtim) <= ts_ns(before_close) - 30000000LL ? "yes" : "no");
	close(s);
}

static void cmd_touch(char **av)
{
	agent_start();
	int s = xopen(av[0], O_RDONLY), d = xopen(av[1], O_WRONLY | O_CREAT | O_TRUNC);
	copy_rest(s, d);
	agent("touch -d @981173106 D (another process)", "touch -d @981173106 '%s'", av[1]);
	struct stat st;
	fstat(d, &st);
	say("fstat D mtime (s)", (long long)st.st_mtim.tv_sec);
	say("close D", close(d));
	stat(av[1], &st);
	if (st.st_mtim.tv_sec == 981173106)
		line("mtime after close = 981173106 (the touched time)");
	else
		line("mtime after close: not the touched time");
	close(s);
	agent_stop();
}

static void cmd_lseekerr(char **av)
{
	int s = xopen(av[0], O_RDONLY), d = xopen(av[1], O_WRONLY | O_CREAT | O_TRUNC);
	chunk(s, d);
	chunk(s, d);
	const off_t hi = 2 * CH;
	static const struct {
		off_t off;
		int whence;
		const char *what;
	} cases[] = {
		{ INT64_MAX, SEEK_END, "lseek(D, INT64_MAX, SEEK_END)" },
		{ INT64_MAX - 2 * CH + 1, SEEK_END, "lseek(D, INT64_MAX - 2 chunks + 1, SEEK_END)" },
		{ INT64_MAX - 2 * CH, SEEK_END, "lseek(D, INT64_MAX - 2 chunks, SEEK_END)" },
		{ -5, SEEK_DATA, "lseek(D, -5, SEEK_DATA)" },
		{ -5, SEEK_HOLE, "lseek(D, -5, SEEK_HOLE)" },
		{ INT64_MIN, SEEK_DATA, "lseek(D, INT64_MIN, SEEK_DATA)" },
		{ INT64_MIN, SEEK_HOLE, "lseek(D, INT64_MIN, SEEK_HOLE)" },
		{ 2 * CH, SEEK_DATA, "lseek(D, 2 chunks, SEEK_DATA)" },
		{ 2 * CH, SEEK_HOLE, "lseek(D, 2 chunks, SEEK_HOLE)" },
		{ 2 * CH - 1, SEEK_HOLE, "lseek(D, 2 chunks - 1, SEEK_HOLE)" },
		{ INT64_MAX, SEEK_DATA, "lseek(D, INT64_MAX, SEEK_DATA)" },
		{ -2 * CH - 1, SEEK_END, "lseek(D, -2 chunks - 1, SEEK_END)" },
		{ -2 * CH, SEEK_END, "lseek(D, -2 chunks, SEEK_END)" },
		{ 1, SEEK_END, "lseek(D, 1, SEEK_END)" },
		{ 0, 5, "lseek(D, 0, 5)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		say(cases[i].what, lseek(d, cases[i].off, cases[i].whence));
		if (lseek(d, hi, SEEK_SET) != hi)
			die("lseek back: %s", strerror(errno));
	}
	copy_rest(s, d);
	say("close D", close(d));
	close(s);
}

int main(int argc, char **argv)
{
	out = stdout;
	alloc_buf();
	static const struct subcmd cmds[] = {
		{ "hole", 3, cmd_hole },
		{ "writers", 4, cmd_writers },
		{ "stdio", 2, cmd_stdio },
		{ "stdio-run", 1, cmd_stdio_run },
		{ "refuse", 3, cmd_refuse },
		{ "stalefd", 2, cmd_stalefd },
		{ "whole", 3, cmd_whole },
		{ "cancel", 2, cmd_cancel },
		{ "death", 3, cmd_death },
		{ "cfr", 2, cmd_cfr },
		{ "sendfile", 3, cmd_sendfile },
		{ "readmid", 3, cmd_readmid },
		{ "mtime", 2, cmd_mtime },
		{ "touch", 2, cmd_touch },
		{ "lseekerr", 2, cmd_lseekerr },
	};
	return run_subcmd(cmds, sizeof cmds / sizeof cmds[0], argc, argv);
}
