/*
 * scenario — a scriptable copier for differential tests.
 *
 *   scenario SRC DST OP...
 *
 * Runs the operations in order on a source fd S (opened O_RDONLY at start)
 * and a destination fd D, printing one line per operation with every value
 * the program observes (return values, errno, offsets, sizes, digests of
 * data read back). The tests run the same script with and without the
 * shim and require identical output and identical files.
 *
 * Operations (N chunks; without :N, until EOF):
 *   open=w|rw|keep|keeprw|excl|tmpdirect   open DST (O_TRUNC for w/rw;
 *                   tmpdirect: mkostemp(O_DIRECT) beside DST, renamed to DST)
 *   copy=CHUNK[:N]  read/write     pcopy=CHUNK[:N]   pread/pwrite
 *   vcopy=CHUNK[:N] readv/writev   pvcopy=CHUNK[:N]  preadv/pwritev
 *   copyx=CHUNK[:N] read, write transformed bytes
 *   sendfile=CHUNK[:N] (NULL offset)   sendfileoff=CHUNK[:N] (&off)
 *   cfr=CHUNK[:N]   copy_file_range, NULL offsets   cfroff=CHUNK[:N]
 *   whole           one read of the whole source, one write
 *   wholeclose      read all, close S, then one write
 *   threads=CHUNK   reader thread and writer thread (a pipeline of 2 buffers)
 *   fstat | stat | statx              print D's size as the program sees it
 *   lseek=OFF:set|cur|end|data|hole   print result or errno
 *   read=N | pread=OFF:N              read D, print count and digest
 *   open2 | close2                    second fd on DST: read it all
 *   write=LEN:BYTE | pwrite=OFF:LEN:BYTE
 *   gap=N           lseek both S and D forward by N (skip a range)
 *   srcseek=OFF     lseek S            dseek=OFF   lseek D
 *   rawdseek=OFF    lseek D by an inline system call (no wrapper sees it)
 *   ftruncate=LEN | fallocate=LEN | fsync
 *   dup | dup2=FD | fdup   D becomes the new fd; the old one stays open and
 *                          becomes D again when the new one is closed
 *   fork=close|exec|exit|copy|direct|srcdirect   child does that with D
 *                   (direct: sets O_DIRECT on D's description, srcdirect on
 *                   S's), parent waits
 *   setfl=direct|append | srcsetfl=direct   F_SETFL adds it to D's (S's) flags
 *   clone=direct|srcdirect            the same from a child made by clone()
 *   mmap            map D, print digest of its size
 *   futimens=SEC | fchmod=MODE | fchown
 *   close | closeraw (syscall)        srcclose
 *   srcmod=OFF:LEN:BYTE               another process rewrites part of SRC
 *   srcpoke=OFF:LEN:BYTE              this process rewrites part of SRC through
 *                                     an fd of its own (no fork: fork settles)
 *   writer=MS                         a child keeps rewriting SRC for MS ms
 *   timer=US        SIGALRM every US microseconds, handler without SA_RESTART
 *   shadow=FILE     from now on, every write to D is also made to FILE
 *   vfork=exec|exit|close|open        vfork child does that (open: opens
 *                   DST for writing, then _exit without closing it)
 *   xfork=close|exit                  _Fork() child (no atfork handlers)
 *   spawn           posix_spawn /bin/true, file actions dup2 D to 1, close D
 *   system | popen  run /bin/true through the shell
 *   closefrom=FD | closerange=FD      close everything from FD up
 *   fclose          fdopen(D) and fclose it (libc closes D behind the shim)
 *   reuse=PATH      fopen PATH for writing (libc may reuse D's number),
 *                   write 100 bytes to its fd with write(), keep it open
 *   dup2over        dup2 a /dev/null fd over D
 *   sigd=US | sigdsignal=US   SIGALRM every US us, installed with sigaction
 *                   or signal(); the handler does fstat and lseek on D
 *   sigio=US        SIGALRM every US us; the handler writes 1 byte to a log
 *                   file (DST.log) and preads 1 byte of S
 *   exec=execv|execvp|execve|execl|execlp|execle|fexecve|execveat
 *   exec | _exit | _Exit | quick_exit | exit | return   end the program
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *src_path, *dst_path;
static int S = -1, D = -1, D2 = -1, Dold = -1, shadow = -1;
static off_t spos_explicit, dpos_explicit;  /* offsets for p*copy / *off */
static pid_t writer_pid;
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int sig_log = -1;

/* A handler doing I/O in the middle of the copy's calls. */
static void on_alarm_io(int sig)
{
	(void)sig;
	int e = errno;
	char c;
	if (pread(S, &c, 1, 0) == 1 && write(sig_log, &c, 1) == 1)
		alarms++;
	errno = e;
}

/* A handler that asks about D (fstat, its offset): on an armed copy, both
 * take the shim's slow path, and the copy's lock. */
static void on_alarm_dest(int sig)
{
	(void)sig;
	int e = errno;
	struct stat st;
	if (fstat(D, &st) == 0 && lseek(D, 0, SEEK_CUR) >= 0)
		alarms++;
	errno = e;
}

/* A child made by the C library's clone(), which runs no fork handler:
 * sets O_DIRECT on D's (arg "src": S's) description, which it shares. It
 * returns (clone exits with that status): _exit on this stack makes ASan
 * warn of an unknown stack. */
static int clone_direct(void *arg)
{
	int fd = arg ? S : D;
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) == 0 ? 0 : 2;
}

extern char **environ;

static void exec_kind(const char *kind)
{
	char *const argv[] = { "true", NULL };
	fflush(stdout);
	if (!strcmp(kind, "execv"))
		execv("/bin/true", argv);
	else if (!strcmp(kind, "execvp"))
		execvp("true", argv);
	else if (!strcmp(kind, "execve"))
		execve("/bin/true", argv, environ);
	else if (!strcmp(kind, "execl"))
		execl("/bin/true", "true", (char *)NULL);
	else if (!strcmp(kind, "execlp"))
		execlp("true", "true", (char *)NULL);
	else if (!strcmp(kind, "execle"))
		execle("/bin/true", "true", (char *)NULL, environ);
	else if (!strcmp(kind, "fexecve")) {
		int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
		fexecve(fd, argv, environ);
	} else if (!strcmp(kind, "execveat"))
		syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, environ, 0);
	die("exec %s failed: %s", kind, strerror(errno));
}

static void say(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *op, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s -> ", op);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

/* The shadow file receives every byte written to D at the same offset. */
static void mirror(const void *buf, ssize_t n, off_t at)
{
	if (shadow >= 0 && n > 0 && pwrite(shadow, buf, (size_t)n, at) != n)
		die("shadow write failed");
}

static off_t dpos(void)
{
	return lseek(D, 0, SEEK_CUR);
}

static void parse_chunk(const char *arg, size_t *chunk, long *count)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", arg);
	char *colon = strchr(buf, ':');
	*count = -1;
	if (colon) {
		*colon = 0;
		*count = (long)num(colon + 1);
	}
	*chunk = (size_t)num(buf);
}

/* Apart from main, so vfork cannot clobber main's locals. */
static __attribute__((noinline)) void vfork_op(const char *op, const char *what)
{
	fflush(stdout);
	int exec = !strcmp(what, "exec"), cl = !strcmp(what, "close");
	int opn = !strcmp(what, "open");
	pid_t pid = vfork();
	if (pid == 0) {
		if (exec)
			execl("/bin/true", "true", (char *)NULL);
		else if (cl)
			close(D);
		else if (opn)
			open(dst_path, O_WRONLY | O_CREAT, 0644);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	say(op, "status=%d dpos=%lld", WEXITSTATUS(st), (long long)dpos());
}

enum style { RW, PRW, VRW, PVRW, XRW };

static void copy_loop(const char *op, const char *arg, enum style st)
{
	size_t chunk;
	long count;
	parse_chunk(arg, &chunk, &count);
	char *buf = malloc(chunk);
	long long total = 0, calls = 0;
	for (long i = 0; count < 0 || i < count; i++) {
		ssize_t r;
		if (st == PRW || st == PVRW) {
			if (st == PRW) {
				r = pread(S, buf, chunk, spos_explicit);
			} else {
				struct iovec v[2] = { { buf, chunk / 2 }, { buf + chunk / 2, chunk - chunk / 2 } };
				r = preadv(S, v, 2, spos_explicit);
			}
		} else if (st == VRW) {
			struct iovec v[2] = { { buf, chunk / 2 }, { buf + chunk / 2, chunk - chunk / 2 } };
			r = readv(S, v, 2);
		} else {
			r = read(S, buf, chunk);
		}
		if (r < 0)
			die("%s: read: %s", op, strerror(errno));
		if (r == 0)
			break;
		if (st == XRW)
			for (ssize_t k = 0; k < r; k++)
				buf[k] ^= 0x55;
		off_t at = (st == PRW || st == PVRW) ? dpos_explicit : dpos();
		ssize_t w;
		if (st == PRW) {
			w = pwrite(D, buf, (size_t)r, dpos_explicit);
		} else if (st == PVRW) {
			size_t h = (size_t)r / 2;
			struct iovec v[2] = { { buf, h }, { buf + h, (size_t)r - h } };
			w = pwritev(D, v, 2, dpos_explicit);
		} else if (st == VRW) {
			size_t h = (size_t)r / 3;
			struct iovec v[3] = { { buf, h }, { buf + h, 0 }, { buf + h, (size_t)r - h } };
			w = writev(D, v, 3);
		} else {
			w = write(D, buf, (size_t)r);
		}
		if (w != r) {
			say(op, "write returned %zd of %zd (%s) after bytes=%lld", w, r, w < 0 ? strerror(errno) : "",
			    total);
			free(buf);
			return;
		}
		mirror(buf, w, at);
		if (st == PRW || st == PVRW) {
			spos_explicit += r;
			dpos_explicit += w;
		}
		total += w;
		calls++;
	}
	free(buf);
	say(op, "bytes=%lld calls=%lld dpos=%lld", total, calls, (long long)dpos());
}

static void transfer_loop(const char *op, const char *arg, int kind)
{
	size_t chunk;
	long count;
	parse_chunk(arg, &chunk, &count);
	long long total = 0, calls = 0;
	off_t before = dpos();
	for (long i = 0; count < 0 || i < count; i++) {
		ssize_t r;
		switch (kind) {
		case 0: r = sendfile(D, S, NULL, chunk); break;
		case 1: r = sendfile(D, S, &spos_explicit, chunk); break;
		case 2: r = copy_file_range(S, NULL, D, NULL, chunk, 0); break;
		default: r = copy_file_range(S, &spos_explicit, D, &dpos_explicit, chunk, 0); break;
		}
		if (r < 0) {
			say(op, "-1 %s after bytes=%lld", strerror(errno), total);
			return;
		}
		calls++;
		if (r == 0)
			break;
		total += r;
	}
	if (shadow >= 0 && total > 0) {
		/* mirror what the kernel copied: the source range, as it is now */
		char *buf = malloc((size_t)total);
		off_t from = kind == 0 || kind == 2 ? lseek(S, 0, SEEK_CUR) - total : spos_explicit - total;
		if (pread(S, buf, (size_t)total, from) != total)
			die("mirror read");
		mirror(buf, total, kind == 3 ? dpos_explicit - total : before);
		free(buf);
	}
	say(op, "bytes=%lld calls=%lld spos=%lld dpos=%lld off=%lld/%lld", total, calls,
	    (long long)lseek(S, 0, SEEK_CUR), (long long)dpos(), (long long)spos_explicit,
	    (long long)dpos_explicit);
}

static void whole(const char *op, bool close_src)
{
	struct stat st;
	if (fstat(S, &st))
		die("fstat");
	size_t n = (size_t)st.st_size + 1;
	char *buf = malloc(n);
	ssize_t r = read(S, buf, n);
	ssize_t z = read(S, buf + (r > 0 ? r : 0), 1);
	if (close_src) {
		close(S);
		S = -1;
	}
	off_t at = dpos();
	ssize_t w = write(D, buf, (size_t)r);
	mirror(buf, w, at);
	free(buf);
	say(op, "read=%zd eof=%zd write=%zd", r, z, w);
}

/* Reader and writer threads handing chunks over through two buffers. */
struct pipe2 {
	pthread_mutex_t m;
	pthread_cond_t cv;
	char *buf[2];
	ssize_t len[2];
	int full[2];
	size_t chunk;
};

static void *reader(void *arg)
{
	struct pipe2 *p = arg;
	for (int i = 0;; i ^= 1) {
		pthread_mutex_lock(&p->m);
		while (p->full[i])
			pthread_cond_wait(&p->cv, &p->m);
		pthread_mutex_unlock(&p->m);
		ssize_t r = read(S, p->buf[i], p->chunk);
		pthread_mutex_lock(&p->m);
		p->len[i] = r;
		p->full[i] = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->m);
		if (r <= 0)
			return NULL;
	}
}

static void threads(const char *op, const char *arg)
{
	struct pipe2 p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, { 0 }, { 0 }, 0 };
	p.chunk = (size_t)num(arg);
	p.buf[0] = malloc(p.chunk);
	p.buf[1] = malloc(p.chunk);
	pthread_t t;
	pthread_create(&t, NULL, reader, &p);
	long long total = 0;
	for (int i = 0;; i ^= 1) {
		pthread_mutex_lock(&p.m);
		while (!p.full[i])
			pthread_cond_wait(&p.cv, &p.m);
		ssize_t r = p.len[i];
		pthread_mutex_unlock(&p.m);
		if (r <= 0)
			break;
		off_t at = dpos();
		if (write(D, p.buf[i], (size_t)r) != r)
			die("threads: write");
		mirror(p.buf[i], r, at);
		total += r;
		pthread_mutex_lock(&p.m);
		p.full[i] = 0;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.m);
	}
	pthread_join(t, NULL);
	say(op, "bytes=%lld", total);
}

static void read_report(const char *op, int fd, ssize_t r, const char *buf)
{
	int e = errno;
	if (r < 0)
		say(op, "-1 %s", strerror(e));
	else
		say(op, "%zd digest=%016llx pos=%lld", r, (unsigned long long)fnv(buf, (size_t)r, FNV_INIT),
		    (long long)lseek(fd, 0, SEEK_CUR));
}

/* Rewrites LEN bytes of SRC at OFF with BYTE, through a new fd; true if
 * all were written. */
static bool poke_src(long long off, long long len, int byte)
{
	int fd = open(src_path, O_WRONLY);
	char *b = malloc((size_t)len);
	memset(b, byte, (size_t)len);
	bool ok = fd >= 0 && pwrite(fd, b, (size_t)len, off) == len;
	free(b);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* srcmod (another process) or srcpoke (this one) OFF:LEN:BYTE. */
static void srcmod(const char *arg, bool child)
{
	long long off, len;
	int byte;
	if (sscanf(arg, "%lli:%lli:%i", &off, &len, &byte) != 3)
		die("srcmod=OFF:LEN:BYTE");
	if (!child) {
		if (!poke_src(off, len, byte))
			die("srcpoke: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(poke_src(off, len, byte) ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
}

/* A child that rewrites random ranges of SRC until killed or MS elapse. */
static void writer(const char *arg)
{
	long ms = (long)num(arg);
	writer_pid = fork();
	if (writer_pid == 0) {
		int fd = open(src_path, O_WRONLY);
		struct stat st;
		fstat(fd, &st);
		char b[65536];
		unsigned x = (unsigned)getpid();
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
				_exit(0);
			x = x * 1103515245 + 12345;
			memset(b, (int)(x >> 16), sizeof b);
			off_t off = (off_t)((x >> 8) % (unsigned)(st.st_size > 1 ? st.st_size : 1));
			size_t len = 1 + (x >> 4) % sizeof b;
			if (off + (off_t)len > st.st_size)
				len = (size_t)(st.st_size - off);
			if (pwrite(fd, b, len, off) < 0)
				_exit(1);
		}
	}
}

/* lseek by an inline system call, which no preloaded library sees (as a
 * runtime's own syscall code, or one in another process sharing the
 * description, would move it). Elsewhere: libc's lseek. */
static long raw_lseek(int fd, off_t off, int whence)
{
#if defined(__x86_64__)
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_lseek), "D"((long)fd), "S"((long)off), "d"((long)whence)
			 : "rcx", "r11", "memory");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_lseek;
	register long x0 __asm__("x0") = fd;
	register long x1 __asm__("x1") = (long)off;
	register long x2 __asm__("x2") = whence;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	if (x0 < 0 && x0 > -4096) {
		errno = (int)-x0;
		return -1;
	}
	return x0;
#else
	return lseek(fd, off, whence);
#endif
}

static int open_mode(const char *m)
{
	if (!strcmp(m, "w")) return O_WRONLY | O_CREAT | O_TRUNC;
	if (!strcmp(m, "rw")) return O_RDWR | O_CREAT | O_TRUNC;
	if (!strcmp(m, "keep")) return O_WRONLY | O_CREAT;
	if (!strcmp(m, "keeprw")) return O_RDWR | O_CREAT;
	if (!strcmp(m, "excl")) return O_WRONLY | O_CREAT | O_EXCL;
	die("open=%s?", m);
}

static int whence_of(const char *w)
{
	if (!strcmp(w, "set")) return SEEK_SET;
	if (!strcmp(w, "cur")) return SEEK_CUR;
	if (!strcmp(w, "end")) return SEEK_END;
	if (!strcmp(w, "data")) return SEEK_DATA;
	if (!strcmp(w, "hole")) return SEEK_HOLE;
	die("whence %s?", w);
}

static void fork_op(const char *op, const char *what)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (!strcmp(what, "close")) {
			close(D);
			_exit(0);
		} else if (!strcmp(what, "exec")) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		} else if (!strcmp(what, "exit")) {
			exit(0);
		} else if (!strcmp(what, "direct") || !strcmp(what, "srcdirect")) {
			/* the child sets O_DIRECT on the description it shares */
			int fd = what[0] == 's' ? S : D;
			_exit(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) == 0 ? 0 : 2);
		} else if (!strcmp(what, "copy")) {
			/* the child finishes the copy on the shared offsets */
			char buf[65536];
			ssize_t r;
			while ((r = read(S, buf, sizeof buf)) > 0)
				if (write(D, buf, (size_t)r) != r)
					_exit(1);
			exit(0);
		}
		_exit(3);
	}
	int st;
	waitpid(pid, &st, 0);
	say(op, "child status=%d dpos=%lld", WIFEXITED(st) ? WEXITSTATUS(st) : -1, (long long)dpos());
}

int main(int argc, char **argv)
{
	if (argc < 3)
		die("usage: scenario SRC DST OP...");
	src_path = argv[1];
	dst_path = argv[2];
	S = open(src_path, O_RDONLY);
	if (S < 0)
		die("open %s: %s", src_path, strerror(errno));
	for (int i = 3; i < argc; i++) {
		char op[256];
		snprintf(op, sizeof op, "%s", argv[i]);
		char *arg = strchr(op, '=');
		if (arg)
			*arg++ = 0;
		else
			arg = "";
		const char *o = argv[i];
		errno = 0;
		if (!strcmp(op, "open") && !strcmp(arg, "tmpdirect")) {
			/* libc opens it without our wrappers (glibc's mkostemp calls
			 * its internal open): the shim learns nothing at the open */
			char t[4096];
			snprintf(t, sizeof t, "%s.XXXXXX", dst_path);
			D = mkostemp(t, O_DIRECT);
			say(o, "%s", D >= 0 && rename(t, dst_path) == 0 ? "ok" : strerror(errno));
		} else if (!strcmp(op, "open")) {
			D = open(dst_path, open_mode(arg), 0644);
			say(o, "%s", D >= 0 ? "ok" : strerror(errno));
		} else if (!strcmp(op, "copy")) {
			copy_loop(o, arg, RW);
		} else if (!strcmp(op, "pcopy")) {
			copy_loop(o, arg, PRW);
		} else if (!strcmp(op, "vcopy")) {
			copy_loop(o, arg, VRW);
		} else if (!strcmp(op, "pvcopy")) {
			copy_loop(o, arg, PVRW);
		} else if (!strcmp(op, "copyx")) {
			copy_loop(o, arg, XRW);
		} else if (!strcmp(op, "sendfile")) {
			transfer_loop(o, arg, 0);
		} else if (!strcmp(op, "sendfileoff")) {
			transfer_loop(o, arg, 1);
		} else if (!strcmp(op, "cfr")) {
			transfer_loop(o, arg, 2);
		} else if (!strcmp(op, "cfroff")) {
			transfer_loop(o, arg, 3);
		} else if (!strcmp(op, "whole")) {
			whole(o, false);
		} else if (!strcmp(op, "wholeclose")) {
			whole(o, true);
		} else if (!strcmp(op, "threads")) {
			threads(o, arg);
		} else if (!strcmp(op, "fstat")) {
			struct stat st;
			int r = fstat(D, &st);
			say(o, "%d size=%lld", r, (long long)st.st_size);
		} else if (!strcmp(op, "stat")) {
			struct stat st;
			int r = stat(dst_path, &st);
			say(o, "%d size=%lld", r, (long long)st.st_size);
		} else if (!strcmp(op, "statx")) {
			struct statx sx;
			int r = statx(AT_FDCWD, dst_path, 0, STATX_SIZE, &sx);
			say(o, "%d size=%llu", r, (unsigned long long)sx.stx_size);
		} else if (!strcmp(op, "lseek")) {
			char *w = strchr(arg, ':');
			if (!w)
				die("lseek=OFF:WHENCE");
			*w++ = 0;
			off_t r = lseek(D, (off_t)num(arg), whence_of(w));
			say(o, "%lld %s", (long long)r, r < 0 ? strerror(errno) : "");
		} else if (!strcmp(op, "read")) {
			size_t n = (size_t)num(arg);
			char *b = malloc(n);
			read_report(o, D, read(D, b, n), b);
			free(b);
		} else if (!strcmp(op, "pread")) {
			char *w = strchr(arg, ':');
			*w++ = 0;
			size_t n = (size_t)num(w);
			char *b = malloc(n);
			read_report(o, D, pread(D, b, n, (off_t)num(arg)), b);
			free(b);
		} else if (!strcmp(op, "open2")) {
			D2 = open(dst_path, O_RDONLY);
			char *b = malloc(64 << 20);
			ssize_t r = read(D2, b, 64 << 20);
			read_report(o, D2, r, b);
			free(b);
		} else if (!strcmp(op, "close2")) {
			say(o, "%d", close(D2));
		} else if (!strcmp(op, "write")) {
			long long len;
			int byte;
			sscanf(arg, "%lli:%i", &len, &byte);
			char *b = malloc((size_t)len);
			memset(b, byte, (size_t)len);
			off_t at = dpos();
			ssize_t r = write(D, b, (size_t)len);
			int e = errno;
			mirror(b, r, at);
			say(o, "%zd %s dpos=%lld", r, r < 0 ? strerror(e) : "", (long long)dpos());
			free(b);
		} else if (!strcmp(op, "pwrite")) {
			long long off, len;
			int byte;
			sscanf(arg, "%lli:%lli:%i", &off, &len, &byte);
			char *b = malloc((size_t)len);
			memset(b, byte, (size_t)len);
			ssize_t r = pwrite(D, b, (size_t)len, off);
			mirror(b, r, off);
			say(o, "%zd", r);
			free(b);
		} else if (!strcmp(op, "gap")) {
			off_t n = (off_t)num(arg);
			off_t a = lseek(S, n, SEEK_CUR), b = lseek(D, n, SEEK_CUR);
			say(o, "%lld %lld", (long long)a, (long long)b);
		} else if (!strcmp(op, "rawdseek")) {
			say(o, "%ld", raw_lseek(D, (off_t)num(arg), SEEK_SET));
		} else if (!strcmp(op, "dseek")) {
			say(o, "%lld", (long long)lseek(D, (off_t)num(arg), SEEK_SET));
		} else if (!strcmp(op, "srcseek")) {
			say(o, "%lld", (long long)lseek(S, (off_t)num(arg), SEEK_SET));
		} else if (!strcmp(op, "ftruncate")) {
			int r = ftruncate(D, (off_t)num(arg));
			if (shadow >= 0 && ftruncate(shadow, (off_t)num(arg)))
				die("shadow truncate");
			say(o, "%d", r);
		} else if (!strcmp(op, "fallocate")) {
			int r = fallocate(D, 0, 0, (off_t)num(arg));
			say(o, "%d %s", r, r ? strerror(errno) : "");
		} else if (!strcmp(op, "fsync")) {
			say(o, "%d", fsync(D));
		} else if (!strcmp(op, "dup")) {
			Dold = D;
			D = dup(D);
			say(o, "%s", D >= 0 ? "ok" : strerror(errno));
		} else if (!strcmp(op, "dup2")) {
			int r = dup2(D, (int)num(arg));
			Dold = D;
			D = r;
			say(o, "%s", r >= 0 ? "ok" : strerror(errno));
		} else if (!strcmp(op, "fdup")) {
			Dold = D;
			D = fcntl(D, F_DUPFD, 10);
			say(o, "%s", D >= 0 ? "ok" : strerror(errno));
		} else if (!strcmp(op, "fork")) {
			fork_op(o, arg);
		} else if (!strcmp(op, "clone")) {
			static char stack[65536] __attribute__((aligned(16)));
			int pid = clone(clone_direct, stack + sizeof(stack), SIGCHLD,
					strcmp(arg, "srcdirect") ? NULL : (void *)1);
			int st = 0;
			waitpid(pid, &st, 0);
			say(o, "child status=%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		} else if (!strcmp(op, "setfl") || !strcmp(op, "srcsetfl")) {
			/* F_SETFL O_DIRECT or O_APPEND, added to D's (S's) flags */
			int fd = !strncmp(op, "src", 3) ? S : D;
			int add = !strcmp(arg, "direct") ? O_DIRECT : O_APPEND;
			say(o, "%d", fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | add));
		} else if (!strcmp(op, "mmap")) {
			struct stat st;
			fstat(D, &st);
			void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, D, 0);
			if (m == MAP_FAILED)
				say(o, "failed %s", strerror(errno));
			else
				say(o, "size=%lld digest=%016llx", (long long)st.st_size,
				    (unsigned long long)fnv(m, (size_t)st.st_size, FNV_INIT));
		} else if (!strcmp(op, "futimens")) {
			struct timespec ts[2] = { { (time_t)num(arg), 0 }, { (time_t)num(arg), 0 } };
			say(o, "%d", futimens(D, ts));
		} else if (!strcmp(op, "fchmod")) {
			say(o, "%d", fchmod(D, (mode_t)strtol(arg, NULL, 8)));
		} else if (!strcmp(op, "fchown")) {
			say(o, "%d", fchown(D, getuid(), getgid()));
		} else if (!strcmp(op, "close")) {
			int r = close(D);
			say(o, "%d %s", r, r ? strerror(errno) : "");
			D = Dold;
			Dold = -1;
		} else if (!strcmp(op, "closeraw")) {
			say(o, "%ld", syscall(SYS_close, D));
		} else if (!strcmp(op, "srcclose")) {
			say(o, "%d", close(S));
		} else if (!strcmp(op, "srcmod") || !strcmp(op, "srcpoke")) {
			srcmod(arg, !strcmp(op, "srcmod"));
			say(o, "done");
		} else if (!strcmp(op, "writer")) {
			writer(arg);
			say(o, "started");
		} else if (!strcmp(op, "timer")) {
			struct sigaction sa = { .sa_handler = on_alarm };  /* no SA_RESTART */
			sigaction(SIGALRM, &sa, NULL);
			long us = (long)num(arg);
			struct itimerval it = { { 0, us }, { 0, us } };
			setitimer(ITIMER_REAL, &it, NULL);
			say(o, "armed");
		} else if (!strcmp(op, "shadow")) {
			shadow = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (shadow < 0)
				die("shadow %s: %s", arg, strerror(errno));
		} else if (!strcmp(op, "exec")) {
			exec_kind(*arg ? arg : "execl");
		} else if (!strcmp(op, "vfork")) {
			vfork_op(o, arg);
		} else if (!strcmp(op, "xfork")) {
			fflush(stdout);
			pid_t pid = _Fork();
			if (pid == 0) {
				if (!strcmp(arg, "close"))
					close(D);
				else
					exit(0);
				_exit(0);
			}
			int st;
			waitpid(pid, &st, 0);
			say(o, "status=%d dpos=%lld", WEXITSTATUS(st), (long long)dpos());
		} else if (!strcmp(op, "spawn")) {
			posix_spawn_file_actions_t fa;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_adddup2(&fa, D, 1);
			posix_spawn_file_actions_addclose(&fa, D);
			char *const sargv[] = { "true", NULL };
			pid_t pid;
			int r = posix_spawn(&pid, "/bin/true", &fa, NULL, sargv, environ);
			int st = 0;
			if (r == 0)
				waitpid(pid, &st, 0);
			posix_spawn_file_actions_destroy(&fa);
			say(o, "%d status=%d dpos=%lld", r, WEXITSTATUS(st), (long long)dpos());
		} else if (!strcmp(op, "system")) {
			fflush(stdout);
			say(o, "%d", system("true"));
		} else if (!strcmp(op, "popen")) {
			fflush(stdout);
			FILE *p = popen("true", "r");
			say(o, "%d", p ? pclose(p) : -1);
		} else if (!strcmp(op, "closefrom")) {
			closefrom((int)num(arg));
			say(o, "done");
		} else if (!strcmp(op, "closerange")) {
			say(o, "%d", close_range((unsigned)num(arg), ~0u, 0));
		} else if (!strcmp(op, "fclose")) {
			FILE *f = fdopen(D, "w");
			say(o, "%d", f ? fclose(f) : -1);
		} else if (!strcmp(op, "reuse")) {
			FILE *f = fopen(arg, "w");
			int fd = f ? fileno(f) : -1;
			char b[100];
			memset(b, 'r', sizeof b);
			ssize_t r = fd >= 0 ? write(fd, b, sizeof b) : -1;
			say(o, "same-number=%d write=%zd", fd == D, r);
			/* f stays open: later ops on D's number reach the reused file */
		} else if (!strcmp(op, "dup2over")) {
			int n = open("/dev/null", O_WRONLY);
			int r = dup2(n, D);
			close(n);
			say(o, "%d", r == D);
		} else if (!strcmp(op, "sigio")) {
			char p[4096];
			snprintf(p, sizeof p, "%s.log", dst_path);
			sig_log = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			struct sigaction sa = { .sa_handler = on_alarm_io };
			sigaction(SIGALRM, &sa, NULL);
			long us = (long)num(arg);
			struct itimerval it = { { 0, us }, { 0, us } };
			setitimer(ITIMER_REAL, &it, NULL);
			say(o, "armed");
		} else if (!strcmp(op, "sigd") || !strcmp(op, "sigdsignal")) {
			/* Installed mid-copy: with sigaction, or with signal(). */
			if (!strcmp(op, "sigd")) {
				struct sigaction sa = { .sa_handler = on_alarm_dest };
				sigaction(SIGALRM, &sa, NULL);
			} else {
				signal(SIGALRM, on_alarm_dest);
			}
			long us = (long)num(arg);
			struct itimerval it = { { 0, us }, { 0, us } };
			setitimer(ITIMER_REAL, &it, NULL);
			say(o, "armed");
		} else if (!strcmp(op, "_Exit")) {
			fflush(stdout);
			_Exit(0);
		} else if (!strcmp(op, "quick_exit")) {
			fflush(stdout);
			quick_exit(0);
		} else if (!strcmp(op, "_exit")) {
			fflush(stdout);
			_exit(0);
		} else if (!strcmp(op, "exit")) {
			exit(0);
		} else if (!strcmp(op, "return")) {
			break;
		} else {
			die("unknown op %s", op);
		}
	}
	if (writer_pid > 0) {
		kill(writer_pid, SIGKILL);
		waitpid(writer_pid, NULL, 0);
	}
	return 0;
}
