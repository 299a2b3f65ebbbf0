/*
 * everycall — calls every name of shim/symbols.def with harmless arguments
 * (a pipe, a bad fd, files in DIR, paths that do not exist, children that
 * exit at once) and prints what each call returned, one line a call:
 *
 *   NAME direct RESULT    the name as the program would call it: the
 *                         definition dlsym(RTLD_DEFAULT) finds (ours when
 *                         preloaded); "absent" when there is none
 *   NAME sys RESULT       its fallback from symbols.def, with syscall() for
 *                         the system call: so, preloaded, through our
 *                         syscall() wrapper (none for a NOSYS fallback)
 *   ALIAS =NAME RESULT    an alias, called as NAME would be
 *
 * and "end N" after N names. RESULT holds nothing that differs from run to
 * run (fds, addresses and pids become 0), so that runs with and without the
 * library compare line by line (tests/everycall.bats).
 *
 *   everycall DIR            names as the program finds them
 *   everycall -l LIB DIR     names from LIB, dlopen()ed: a library loaded
 *                            last, with no C library after it to find
 *
 * The calls are generated from symbols.def: each entry needs a try_NAME
 * below (or own_NAME for OWN entries), so a name added there without one
 * here does not compile.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "common.h"
#include "real.h"

/* symbols.def's fallbacks, with syscall() as the system call. */
#define KCALL(...) kcall_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define kcall_(n, a, b, c, d, e, f, ...) \
	syscall((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#include "fallback.h"
/* A fallback without a system call: the "sys" variant reports nothing. */
static int no_sys;
#undef NOSYS
#define NOSYS(v)                \
	{                       \
		no_sys = 1;     \
		errno = ENOSYS; \
		return (v);     \
	}
#undef NOSYS_ERR
#define NOSYS_ERR             \
	{                     \
		no_sys = 1;   \
		return ENOSYS; \
	}

/* The types of the wrapped functions, and their "sys" variants. */
#define REQ(name, ret, params, ...) \
	typedef ret(*name##_fn) params; \
	FALLBACK_FN(sys_##name, ret, params, __VA_ARGS__)
#include "symbols.def"

static const char *dir;
static void *lib;  /* -l: the dlopen()ed library */

static void *lookup(const char *name)
{
	return dlsym(lib ? lib : RTLD_DEFAULT, name);
}

/* ---- what each call runs on, made afresh for every call ---- */

static char path_f[4096], path_g[4096], path_new[4096], path_link[4096];
static int fd_f, fd_g, fd_dir, p[2], sv[2], hi;  /* hi: a free fd number well above the others */
static const char content[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static void fixture(void)
{
	/* new inodes: no extended attribute or mode survives from the last call */
	unlink(path_f);
	unlink(path_g);
	unlink(path_new);
	unlink(path_link);
	fd_f = open(path_f, O_RDWR | O_CREAT | O_TRUNC, 0644);
	fd_g = open(path_g, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd_f < 0 || fd_g < 0 || write(fd_f, content, sizeof(content)) != sizeof(content) || lseek(fd_f, 0, SEEK_SET) ||
	    utimensat(AT_FDCWD, path_f, (const struct timespec[2]){ { 100, 0 }, { 200, 0 } }, 0) ||
	    symlink("f", path_link) || pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    write(p[1], content, 16) != 16 || (fd_dir = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		die("fixture: %s", strerror(errno));
}

static void unfixture(void)
{
	int fds[] = { fd_f, fd_g, fd_dir, p[0], p[1], sv[0], sv[1], hi };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
}

/* ---- output ---- */

struct out {
	const char *name, *variant;
};

static void say(const struct out *o, const char *fmt, ...)
{
	if (no_sys)
		return;
	printf("%s %s ", o->name, o->variant);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* A result: the value, or -1 and errno. */
static void res(const struct out *o, long r)
{
	if (r == -1)
		say(o, "-1 e%d", errno);
	else
		say(o, "%ld", r);
}

/* A new fd: 0, or -1 and errno; closed. */
static void res_fd(const struct out *o, long r)
{
	int e = errno;
	if (r >= 0)
		close((int)r);
	errno = e;
	res(o, r >= 0 ? 0 : r);
}

/* The file at path: size, mode, mtime (one set by a call here; "now" for
 * the time of a change); or the error of stat. */
static const char *info(const char *path)
{
	static char buf[128];
	struct stat st;
	if (lstat(path, &st))
		snprintf(buf, sizeof(buf), "stat:e%d", errno);
	else if (st.st_mtim.tv_sec > 1000000)
		snprintf(buf, sizeof(buf), "size:%lld mode:%o mtime:now", (long long)st.st_size,
			 (unsigned)st.st_mode & 07777);
	else
		snprintf(buf, sizeof(buf), "size:%lld mode:%o mtime:%lld.%09ld", (long long)st.st_size,
			 (unsigned)st.st_mode & 07777, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return buf;
}

static const char *stat_info(long r, const struct stat *st)
{
	static char buf[128];
	if (r)
		return "";
	snprintf(buf, sizeof(buf), "size:%lld mode:%o", (long long)st->st_size, (unsigned)st->st_mode & 07777);
	return buf;
}

static uint64_t digest(const void *b, long n)
{
	return n > 0 ? fnv(b, (size_t)n, FNV_INIT) : 0;
}

/* A child's end: its exit status, or the signal that killed it. */
static long waited(pid_t pid)
{
	int st;
	if (pid < 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid)
		return -2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

#define TRY(name) static void try_##name(name##_fn f, const struct out *o)

/* ---- data movement ---- */

TRY(read)
{
	char b[64];
	long r = f(p[0], b, 16);
	say(o, "%ld %llx", r, (unsigned long long)digest(b, r));
	errno = 0;
	res(o, f(-1, b, 1));
}

TRY(__read_chk)
{
	char b[64];
	long r = f(p[0], b, 16, sizeof(b));
	say(o, "%ld %llx", r, (unsigned long long)digest(b, r));
	res(o, f(fd_f, b, 8, sizeof(b)));
}

TRY(pread)
{
	char b[64];
	long r = f(fd_f, b, 16, 4);
	say(o, "%ld %llx", r, (unsigned long long)digest(b, r));
	res(o, f(fd_f, b, 16, -1));
}

TRY(__pread_chk)
{
	char b[64];
	long r = f(fd_f, b, 16, 4, sizeof(b));
	say(o, "%ld %llx", r, (unsigned long long)digest(b, r));
}

TRY(readv)
{
	char a[5], b[7];
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	long r = f(fd_f, v, 2);
	say(o, "%ld %llx %llx", r, (unsigned long long)digest(a, 5), (unsigned long long)digest(b, 7));
	res(o, f(-1, v, 2));
}

TRY(preadv)
{
	char a[5], b[7];
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	long r = f(fd_f, v, 2, 3);
	say(o, "%ld %llx %llx", r, (unsigned long long)digest(a, 5), (unsigned long long)digest(b, 7));
	res(o, f(fd_f, v, 2, -5));
}

TRY(preadv2)
{
	char a[5], b[7];
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	long r = f(fd_f, v, 2, 3, 0);
	say(o, "%ld %llx %llx", r, (unsigned long long)digest(a, 5), (unsigned long long)digest(b, 7));
	/* -1: at the file position */
	res(o, f(fd_f, v, 1, -1, 0));
	res(o, f(p[0], v, 1, -1, 0));
}

TRY(write)
{
	res(o, f(p[1], "x", 1));
	res(o, f(fd_g, content, 10));
	say(o, "%s", info(path_g));
	res(o, f(-1, "x", 1));
}

TRY(pwrite)
{
	res(o, f(fd_g, content, 10, 5));
	say(o, "%s", info(path_g));
}

TRY(writev)
{
	struct iovec v[2] = { { (void *)content, 3 }, { (void *)content, 4 } };
	res(o, f(fd_g, v, 2));
	say(o, "%s", info(path_g));
}

TRY(pwritev)
{
	struct iovec v[2] = { { (void *)content, 3 }, { (void *)content, 4 } };
	res(o, f(fd_g, v, 2, 9));
	say(o, "%s", info(path_g));
}

TRY(pwritev2)
{
	struct iovec v[2] = { { (void *)content, 3 }, { (void *)content, 4 } };
	res(o, f(fd_g, v, 2, 9, 0));
	res(o, f(fd_g, v, 1, -1, 0));
	say(o, "%s", info(path_g));
}

TRY(sendfile)
{
	off_t off = 2;
	res(o, f(fd_g, fd_f, &off, 16));
	say(o, "off:%lld %s", (long long)off, info(path_g));
}

TRY(copy_file_range)
{
	off_t in = 1;
	res(o, f(fd_f, &in, fd_g, NULL, 16, 0));
	say(o, "in:%lld %s", (long long)in, info(path_g));
}

TRY(splice)
{
	off_t in = 3;
	res(o, f(fd_f, &in, p[1], NULL, 8, 0));
	say(o, "in:%lld", (long long)in);
}

/* ---- descriptors ---- */

static const char *fd_mode(long fd)
{
	static char buf[64];
	struct stat st;
	if (fd < 0 || fstat((int)fd, &st))
		return "";
	snprintf(buf, sizeof(buf), "mode:%o", (unsigned)st.st_mode & 07777);
	return buf;
}

TRY(open)
{
	res_fd(o, f(path_f, O_RDONLY));
	long r = f(path_new, O_CREAT | O_EXCL | O_WRONLY, 0600);
	say(o, "%s", fd_mode(r));
	res_fd(o, r);
	res_fd(o, f(path_new, O_CREAT | O_EXCL | O_WRONLY, 0600));
}

TRY(__open_2)
{
	res_fd(o, f(path_f, O_RDONLY));
	res_fd(o, f(path_new, O_RDONLY));
}

TRY(openat)
{
	res_fd(o, f(fd_dir, "f", O_RDONLY));
	long r = f(fd_dir, "new", O_CREAT | O_EXCL | O_WRONLY, 0640);
	say(o, "%s", fd_mode(r));
	res_fd(o, r);
}

TRY(__openat_2)
{
	res_fd(o, f(fd_dir, "f", O_RDONLY));
	res_fd(o, f(-1, "f", O_RDONLY));
}

TRY(creat)
{
	long r = f(path_new, 0604);
	say(o, "%s", fd_mode(r));
	res_fd(o, r);
}

static const char *is_open(int fd)
{
	return fcntl(fd, F_GETFD) < 0 ? "closed" : "open";
}

TRY(close)
{
	res(o, f(fd_g));
	say(o, "%s", is_open(fd_g));
	res(o, f(-1));
}

TRY(close_range)
{
	dup2(fd_f, hi);
	res(o, f((unsigned)hi, (unsigned)hi, 0));
	say(o, "%s", is_open(hi));
}

TRY(closefrom)
{
	dup2(fd_f, hi);
	f(hi);
	say(o, "%s", is_open(hi));
}

TRY(dup)
{
	res_fd(o, f(fd_f));
	res_fd(o, f(-1));
}

TRY(dup2)
{
	res(o, f(fd_f, hi) == hi);
	res(o, f(fd_f, fd_f) == fd_f);
	res(o, f(-1, hi));
	res(o, f(hi, hi));
}

TRY(dup3)
{
	res(o, f(fd_f, hi, O_CLOEXEC) == hi);
	say(o, "cloexec:%d", fcntl(hi, F_GETFD));
	res(o, f(fd_f, fd_f, 0));
}

TRY(fcntl)
{
	res(o, f(fd_f, F_GETFL));
	res(o, f(fd_f, F_GETFD));
	long r = f(fd_f, F_DUPFD_CLOEXEC, 100);
	res(o, r >= 100);
	if (r >= 0)
		close((int)r);
	res(o, f(-1, F_GETFL));
}

TRY(lockf)
{
	res(o, f(fd_f, F_TEST, 0));
	res(o, f(-1, F_TEST, 0));
}

/* ---- offsets, sizes, metadata ---- */

TRY(lseek)
{
	res(o, f(fd_f, 5, SEEK_SET));
	res(o, f(fd_f, 0, SEEK_END));
	res(o, f(fd_f, -1, SEEK_SET));
}

TRY(ftruncate)
{
	res(o, f(fd_f, 10));
	say(o, "%s", info(path_f));
	res(o, f(fd_f, -1));
}

TRY(truncate)
{
	res(o, f(path_f, 7));
	say(o, "%s", info(path_f));
	res(o, f(path_new, 7));
}

TRY(fallocate)
{
	res(o, f(fd_g, 0, 0, 100));
	say(o, "%s", info(path_g));
	res(o, f(p[1], 0, 0, 100));
}

TRY(posix_fallocate)
{
	errno = 0;
	say(o, "%d errno:%d", f(fd_g, 0, 200), errno);
	say(o, "%s", info(path_g));
	say(o, "%d errno:%d", f(-1, 0, 200), errno);
}

TRY(fstat)
{
	struct stat st;
	long r = f(fd_f, &st);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
	res(o, f(-1, &st));
}

TRY(stat)
{
	struct stat st;
	long r = f(path_link, &st);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
	res(o, f(path_new, &st));
}

TRY(lstat)
{
	struct stat st;
	long r = f(path_link, &st);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
}

TRY(fstatat)
{
	struct stat st;
	long r = f(fd_dir, "link", &st, AT_SYMLINK_NOFOLLOW);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
	r = f(fd_f, "", &st, AT_EMPTY_PATH);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
}

TRY(statx)
{
	struct statx stx;
	long r = f(AT_FDCWD, path_f, 0, STATX_MTIME, &stx);
	res(o, r);
	if (r == 0)
		say(o, "mtime:%lld", (long long)stx.stx_mtime.tv_sec);
	res(o, f(AT_FDCWD, path_new, 0, STATX_MTIME, &stx));
}

TRY(fchmod)
{
	res(o, f(fd_f, 0640));
	say(o, "%s", info(path_f));
}

TRY(fchown)
{
	res(o, f(fd_f, (uid_t)-1, (gid_t)-1));
	res(o, f(-1, (uid_t)-1, (gid_t)-1));
}

static const struct timespec ts[2] = { { 1000, 5 }, { 2000, 7 } };
static const struct timeval tv[2] = { { 3000, 11 }, { 4000, 13 } };
static const struct timeval bad_tv[2] = { { 3000, 1000000 }, { 4000, 13 } };

TRY(futimens)
{
	res(o, f(fd_f, ts));
	say(o, "%s", info(path_f));
}

TRY(futimes)
{
	res(o, f(fd_f, tv));
	say(o, "%s", info(path_f));
	res(o, f(fd_f, bad_tv));
}

TRY(utimensat)
{
	res(o, f(fd_dir, "f", ts, 0));
	say(o, "%s", info(path_f));
	res(o, f(fd_dir, "new", ts, 0));
}

TRY(fsetxattr)
{
	res(o, f(fd_f, "user.everycall", "v", 1, 0));
	res(o, f(-1, "user.everycall", "v", 1, 0));
}

TRY(fremovexattr)
{
	res(o, f(fd_f, "user.everycall"));
}

TRY(ioctl)
{
	int n = -1;
	res(o, f(p[0], FIONREAD, &n));
	say(o, "n:%d", n);
	res(o, f(-1, FIONREAD, &n));
}

TRY(mmap)
{
	void *m = f(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	res(o, m == MAP_FAILED ? -1 : 0);
	if (m != MAP_FAILED)
		munmap(m, 4096);
	m = f(NULL, 4096, PROT_READ, MAP_SHARED, fd_f, 0);
	res(o, m == MAP_FAILED ? -1 : 0);
	if (m != MAP_FAILED) {
		say(o, "%llx", (unsigned long long)digest(m, sizeof(content)));
		munmap(m, 4096);
	}
	m = f(NULL, 4096, PROT_READ, MAP_SHARED, -1, 0);
	res(o, m == MAP_FAILED ? -1 : 0);
}

static void *page(void)
{
	void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return m;
}

TRY(munmap)
{
	void *m = page();
	res(o, f(m, 8192));
	res(o, f((char *)m + 1, 4096));
}

TRY(mprotect)
{
	void *m = page();
	res(o, f(m, 4096, PROT_READ));
	munmap(m, 8192);
}

TRY(mremap)
{
	void *m = page();
	void *n = f(m, 8192, 16384, MREMAP_MAYMOVE, NULL);
	res(o, n == MAP_FAILED ? -1 : 0);
	munmap(n == MAP_FAILED ? m : n, n == MAP_FAILED ? 8192 : 16384);
}

TRY(madvise)
{
	void *m = page();
	res(o, f(m, 4096, MADV_NORMAL));
	munmap(m, 8192);
}

TRY(open_by_handle_at)
{
	struct {
		struct file_handle h;
		unsigned char bytes[64];
	} fh;
	memset(&fh, 0, sizeof(fh));
	fh.h.handle_bytes = 8;
	res_fd(o, f(-1, &fh.h, O_RDONLY));
}

/* _STAT_VER of binaries built before glibc 2.33 */
#ifdef __x86_64__
#define STAT_VER 1
#else
#define STAT_VER 0
#endif

TRY(__fxstat)
{
	struct stat st;
	long r = f(STAT_VER, fd_f, &st);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
}

TRY(__xstat)
{
	struct stat st;
	long r = f(STAT_VER, path_link, &st);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
}

TRY(__lxstat)
{
	struct stat st;
	long r = f(STAT_VER, path_link, &st);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
}

TRY(__fxstatat)
{
	struct stat st;
	long r = f(STAT_VER, fd_dir, "link", &st, AT_SYMLINK_NOFOLLOW);
	res(o, r);
	say(o, "%s", stat_info(r, &st));
}

TRY(chmod)
{
	res(o, f(path_link, 0640));
	say(o, "%s", info(path_f));
}

TRY(lchmod)
{
	res(o, f(path_f, 0604));
	say(o, "%s", info(path_f));
}

TRY(fchmodat)
{
	res(o, f(fd_dir, "f", 0600, 0));
	say(o, "%s", info(path_f));
	res(o, f(fd_dir, "f", 0600, 0x4000000));
}

TRY(chown)
{
	res(o, f(path_f, (uid_t)-1, (gid_t)-1));
	res(o, f(path_new, (uid_t)-1, (gid_t)-1));
}

TRY(lchown)
{
	res(o, f(path_link, (uid_t)-1, (gid_t)-1));
}

TRY(fchownat)
{
	res(o, f(fd_dir, "link", (uid_t)-1, (gid_t)-1, AT_SYMLINK_NOFOLLOW));
}

TRY(utime)
{
	struct utimbuf u = { 5000, 6000 };
	res(o, f(path_f, &u));
	say(o, "%s", info(path_f));
}

TRY(utimes)
{
	res(o, f(path_link, tv));
	say(o, "%s", info(path_f));
	res(o, f(path_f, bad_tv));
}

TRY(lutimes)
{
	res(o, f(path_f, tv));
	say(o, "%s", info(path_f));
}

TRY(futimesat)
{
	res(o, f(fd_dir, "f", tv));
	say(o, "%s", info(path_f));
}

TRY(setxattr)
{
	res(o, f(path_f, "user.everycall", "v", 1, 0));
	res(o, f(path_new, "user.everycall", "v", 1, 0));
}

TRY(lsetxattr)
{
	res(o, f(path_link, "user.everycall", "v", 1, 0));
}

TRY(removexattr)
{
	res(o, f(path_f, "user.everycall"));
}

TRY(lremovexattr)
{
	res(o, f(path_link, "user.everycall"));
}

/* ---- process lifecycle ---- */

static char *const argv_true[] = { "true", NULL };
static char *const envp_none[] = { NULL };
#define NOWHERE "/nonexistent-everycall/x"

TRY(execve)
{
	res(o, f(NOWHERE, argv_true, envp_none));
}

TRY(execv)
{
	res(o, f(NOWHERE, argv_true));
}

TRY(execvp)
{
	res(o, f("nonexistent-everycall", argv_true));
}

TRY(execvpe)
{
	res(o, f("nonexistent-everycall", argv_true, envp_none));
}

TRY(fexecve)
{
	res(o, f(fd_f, argv_true, envp_none));  /* not executable */
}

TRY(execveat)
{
	res(o, f(AT_FDCWD, NOWHERE, argv_true, envp_none, 0));
}

TRY(posix_spawn)
{
	pid_t pid = -1;
	int r = f(&pid, "/bin/true", NULL, NULL, argv_true, environ);
	say(o, "%d %ld", r, r ? -1 : waited(pid));
	say(o, "%d", f(&pid, NOWHERE, NULL, NULL, argv_true, environ) ? 1 : 0);
}

TRY(posix_spawnp)
{
	pid_t pid = -1;
	int r = f(&pid, "true", NULL, NULL, argv_true, environ);
	say(o, "%d %ld", r, r ? -1 : waited(pid));
}

TRY(system)
{
	res(o, f("exit 3"));
}

TRY(popen)
{
	FILE *s = f("echo popen", "r");
	char line[32] = "";
	if (s && !fgets(line, sizeof(line), s))
		line[0] = 0;
	line[strcspn(line, "\n")] = 0;
	say(o, "%s %s e%d", s ? "ok" : "NULL", line, s ? 0 : errno);
	if (s)
		say(o, "%d", pclose(s));
}

TRY(_Fork)
{
	pid_t pid = f();
	if (pid == 0)
		syscall(SYS_exit_group, 9);
	res(o, pid < 0 ? -1 : waited(pid));
}

TRY(unshare)
{
	res(o, f(0));
	res(o, f(-1));
}

TRY(prctl)
{
	res(o, f(PR_GET_DUMPABLE, 0, 0, 0, 0));
	res(o, f(-1, 0, 0, 0, 0));
}

/* The user the test runs as, kept: no privilege is dropped. */
TRY(setuid)
{
	res(o, f(geteuid()));
	res(o, f((uid_t)-1));
}

TRY(seteuid)
{
	/* Not -1: glibc says EINVAL, musl (and the kernel) "unchanged". */
	res(o, f(geteuid()));
}

TRY(setreuid)
{
	res(o, f((uid_t)-1, geteuid()));
	res(o, f((uid_t)-1, (uid_t)-1));  /* -1: unchanged (every other id is one) */
}

TRY(setresuid)
{
	res(o, f((uid_t)-1, geteuid(), (uid_t)-1));
	res(o, f((uid_t)-1, (uid_t)-1, (uid_t)-1));
}

/* ---- handing files over ---- */

static void stream_res(const struct out *o, FILE *s)
{
	if (!s) {
		res(o, -1);
		return;
	}
	int c = fgetc(s);
	fclose(s);
	say(o, "ok %d", c);
}

TRY(fopen)
{
	stream_res(o, f(path_f, "r"));
	stream_res(o, f(path_new, "r"));
}

TRY(freopen)
{
	FILE *s = fopen(path_g, "r");
	if (!s)
		die("fopen: %s", strerror(errno));
	stream_res(o, f(path_f, "r", s));
}

TRY(fdopen)
{
	stream_res(o, f(dup(fd_f), "r"));
}

static void aio_wait(const struct out *o, struct aiocb *cb)
{
	const struct aiocb *list[1] = { cb };
	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	say(o, "%d %ld", aio_error(cb), (long)aio_return(cb));
}

TRY(aio_read)
{
	char b[16];
	struct aiocb cb = { .aio_fildes = fd_f, .aio_buf = b, .aio_nbytes = sizeof(b) };
	long r = f(&cb);
	res(o, r);
	if (r == 0) {
		aio_wait(o, &cb);
		say(o, "%llx", (unsigned long long)digest(b, sizeof(b)));
	}
}

TRY(aio_write)
{
	struct aiocb cb = { .aio_fildes = fd_g, .aio_buf = (void *)content, .aio_nbytes = 10 };
	long r = f(&cb);
	res(o, r);
	if (r == 0)
		aio_wait(o, &cb);
	say(o, "%s", info(path_g));
}

TRY(lio_listio)
{
	char b[16];
	struct aiocb cb = { .aio_fildes = fd_f, .aio_buf = b, .aio_nbytes = sizeof(b), .aio_lio_opcode = LIO_READ };
	struct aiocb *list[1] = { &cb };
	long r = f(LIO_WAIT, list, 1, NULL);
	res(o, r);
	if (r == 0)
		say(o, "%ld %llx", (long)aio_return(&cb), (unsigned long long)digest(b, sizeof(b)));
}

TRY(sendmsg)
{
	struct iovec v = { (void *)content, 5 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	res(o, f(sv[0], &m, 0));
	res(o, f(-1, &m, 0));
}

TRY(sendmmsg)
{
	struct iovec v = { (void *)content, 5 };
	struct mmsghdr m = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
	res(o, f(sv[0], &m, 1, 0));
}

TRY(setrlimit)
{
	struct rlimit rl;
	getrlimit(RLIMIT_CORE, &rl);
	res(o, f(RLIMIT_CORE, &rl));
	getrlimit(RLIMIT_FSIZE, &rl);
	res(o, f(RLIMIT_FSIZE, &rl));
	rl.rlim_cur = 1;
	rl.rlim_max = 0;  /* EINVAL: soft above hard */
	res(o, f(RLIMIT_NOFILE, &rl));
}

TRY(prlimit)
{
	struct rlimit old;
	res(o, f(0, RLIMIT_NOFILE, NULL, &old));
	res(o, f(0, RLIMIT_FSIZE, NULL, &old));
	res(o, f(0, RLIMIT_FSIZE, &old, NULL));
}

/* Exits in a child: its status. */
#define TRY_EXIT(name)                   \
	TRY(name)                        \
	{                                \
		fflush(stdout);          \
		pid_t pid = fork();      \
		if (pid == 0)            \
			f(7);            \
		res(o, waited(pid));     \
	}
TRY_EXIT(_exit)
TRY_EXIT(_Exit)
TRY_EXIT(quick_exit)

static int clone_child(void *arg)
{
	(void)arg;
	return 5;
}

TRY(clone)
{
	static char stack[65536] __attribute__((aligned(16)));
	fflush(stdout);
	int pid = f(clone_child, stack + sizeof(stack), SIGCHLD, NULL);
	if (pid < 0) {
		res(o, pid);
		return;
	}
	res(o, waited(pid));
}

TRY(syscall)
{
	res(o, f(SYS_getuid, 0, 0, 0, 0, 0, 0));
	res(o, f(SYS_close, -1, 0, 0, 0, 0, 0));
	res(o, f(-1, 0, 0, 0, 0, 0, 0));
}

/* ---- OWN entries: variadic wrappers, no fallback of their own ---- */

static void own_execl(void *fn, const struct out *o)
{
	int (*f)(const char *, const char *, ...) = fn;
	res(o, f(NOWHERE, "x", "y", (char *)NULL));
}

static void own_execlp(void *fn, const struct out *o)
{
	int (*f)(const char *, const char *, ...) = fn;
	res(o, f("nonexistent-everycall", "x", (char *)NULL));
}

static void own_execle(void *fn, const struct out *o)
{
	int (*f)(const char *, const char *, ...) = fn;
	res(o, f(NOWHERE, "x", (char *)NULL, envp_none));
}

/* ---- the calls, one entry of symbols.def after another ---- */

static int names;

static void begin(void)
{
	fixture();
	no_sys = 0;
}

static void end(void)
{
	unfixture();
	no_sys = 0;
}

#define CALL(fn, try, name, variant)                              \
	do {                                                      \
		struct out o_ = { name, variant };                \
		__typeof__(fn) fn_ = (fn);                        \
		begin();                                          \
		if (fn_)                                          \
			try(fn_, &o_);                            \
		else                                              \
			say(&o_, "absent");                       \
		end();                                            \
	} while (0)

static void every(void)
{
#define REQ(name, ret, params, ...)                                           \
	CALL((name##_fn)lookup(#name), try_##name, #name, "direct");          \
	CALL((name##_fn)sys_##name, try_##name, #name, "sys");                         \
	names++;
#define OPT REQ
#define ALIAS(name, target)                                                   \
	CALL((target##_fn)lookup(#name), try_##target, #name, "=" #target);   \
	names++;
#define OWN(name)                                                             \
	CALL(lookup(#name), own_##name, #name, "direct");                     \
	names++;
#include "symbols.def"
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "-l")) {
		if (!(lib = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL)))
			die("dlopen %s: %s", argv[2], dlerror());
		argc -= 2;
		argv += 2;
	}
	if (argc != 2)
		die("usage: everycall [-l LIB] DIR");
	dir = argv[1];
	snprintf(path_f, sizeof(path_f), "%s/f", dir);
	snprintf(path_g, sizeof(path_g), "%s/g", dir);
	snprintf(path_new, sizeof(path_new), "%s/new", dir);
	snprintf(path_link, sizeof(path_link), "%s/link", dir);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	/* below the library's private fds (3/4 of the limit and up) */
	hi = (int)(rl.rlim_cur < 1024 ? rl.rlim_cur / 2 : 500);
	signal(SIGPIPE, SIG_IGN);
	/* The children (posix_spawn, system, popen) are the system's programs,
	 * which a musl build of the library cannot be preloaded into. */
	unsetenv("LD_PRELOAD");
	every();
	printf("end %d\n", names);
	return 0;
}
