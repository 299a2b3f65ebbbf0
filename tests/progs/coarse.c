/*
 * coarse.so — a kernel with coarse file timestamps, simulated. Preloaded
 * after the shim (LD_PRELOAD=libreflink-shim.so:coarse.so), it is what the
 * shim resolves as the "real" stat family and clock, so the shim sees what
 * it would see on Linux before 6.13 (or any filesystem without multigrain
 * timestamps): every ctime, mtime, atime (and statx btime) rounded down to
 * a granule, as if stamped from the kernel's coarse clock, and a wall clock
 * that moves one granule at a time:
 *
 *   COARSE_NS=N   the granule in nanoseconds (default 10000000, 10 ms)
 *
 * Rounded: fstat, stat, lstat, fstatat, statx, the glibc < 2.33 names
 * __fxstat, __xstat, __lxstat, __fxstatat (and every *64 name), and
 * syscall() of SYS_fstat, SYS_newfstatat, SYS_statx, SYS_clock_gettime;
 * clock_gettime and gettimeofday for CLOCK_REALTIME and
 * CLOCK_REALTIME_COARSE; clock_getres(CLOCK_REALTIME_COARSE) answers the
 * granule, as the kernel answers its tick.
 *
 * The program under test sees the same (it is in the same process): the
 * whole process lives on the simulated kernel. Nothing else changes: a
 * write to a file still moves its real ctime, by less than a granule
 * perhaps, which is exactly what a coarse kernel hides.
 *
 * The shim's own raw system calls (shim/sys.h) are not seen: at HEAD only
 * open_by_name's identity check (dev, ino) is made that way.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* glibc declares gettimeofday's tv nonnull; programs do pass NULL. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"

extern char **environ;

static long long granule(void)
{
	static long long g;
	long long v = __atomic_load_n(&g, __ATOMIC_RELAXED);
	if (v)
		return v;
	/* Called before libc has set environ (another preload's
	 * constructor): use the default, and read the variable next time. */
	const char *e = environ ? getenv("COARSE_NS") : NULL;
	v = e ? atoll(e) : 0;
	if (v <= 0)
		v = 10000000;
	if (environ)
		__atomic_store_n(&g, v, __ATOMIC_RELAXED);
	return v;
}

/* Rounds (sec, nsec) down to the granule. */
static void round_ns(long long *sec, long long *nsec)
{
	long long g = granule();
	if (g <= 1)
		return;
	__int128 t = (__int128)*sec * 1000000000 + *nsec;
	__int128 r = t % g;
	if (r < 0)
		r += g;
	t -= r;
	*sec = (long long)(t >= 0 ? t / 1000000000 : -((-t + 999999999) / 1000000000));
	*nsec = (long long)(t - (__int128)*sec * 1000000000);
}

static void round_ts(struct timespec *ts)
{
	long long s = ts->tv_sec, n = ts->tv_nsec;
	round_ns(&s, &n);
	ts->tv_sec = s;
	ts->tv_nsec = n;
}

static void round_stat(struct stat *st)
{
	round_ts(&st->st_atim);
	round_ts(&st->st_mtim);
	round_ts(&st->st_ctim);
}

static void round_sxts(struct statx_timestamp *t)
{
	long long s = t->tv_sec, n = t->tv_nsec;
	round_ns(&s, &n);
	t->tv_sec = s;
	t->tv_nsec = (unsigned)n;
}

static void round_statx(struct statx *sx)
{
	round_sxts(&sx->stx_atime);
	round_sxts(&sx->stx_btime);
	round_sxts(&sx->stx_ctime);
	round_sxts(&sx->stx_mtime);
}

/* On LP64 struct stat64 is struct stat. */
_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "LP64 stat");

/* The next definition of NAME (libc's), looked up once. */
#define NEXT(fn)                                                                  \
	static __typeof__(&fn) next_;                                             \
	if (!__atomic_load_n(&next_, __ATOMIC_RELAXED))                           \
		__atomic_store_n(&next_, (__typeof__(&fn))dlsym(RTLD_NEXT, #fn),  \
				 __ATOMIC_RELAXED);                               \
	if (!next_)                                                               \
		die("coarse.so: no next %s", #fn);

/*
 * The C library's stat functions. glibc 2.33 and later export fstat, stat,
 * lstat and fstatat; before, only __fxstat, __xstat, __lxstat and
 * __fxstatat, which take a structure version first (_STAT_VER: its headers
 * define it only then) and which those headers' inline stat() calls.
 */
#ifdef _STAT_VER
#define REAL_STAT(fn, xfn, ...) { NEXT(xfn); return next_(_STAT_VER, __VA_ARGS__); }
#else
#define REAL_STAT(fn, xfn, ...) { NEXT(fn); return next_(__VA_ARGS__); }
#endif
static int real_fstat(int fd, struct stat *st) REAL_STAT(fstat, __fxstat, fd, st)
static int real_stat(const char *p, struct stat *st) REAL_STAT(stat, __xstat, p, st)
static int real_lstat(const char *p, struct stat *st) REAL_STAT(lstat, __lxstat, p, st)
static int real_fstatat(int dirfd, const char *p, struct stat *st, int flags)
	REAL_STAT(fstatat, __fxstatat, dirfd, p, st, flags)

static int rounded(int r, struct stat *st)
{
	if (r == 0)
		round_stat(st);
	return r;
}
static int coarse_fstat(int fd, struct stat *st) { return rounded(real_fstat(fd, st), st); }
static int coarse_stat(const char *p, struct stat *st) { return rounded(real_stat(p, st), st); }
static int coarse_lstat(const char *p, struct stat *st) { return rounded(real_lstat(p, st), st); }
static int coarse_fstatat(int dirfd, const char *p, struct stat *st, int flags)
{
	return rounded(real_fstatat(dirfd, p, st, flags), st);
}

/*
 * Every name of each: NAME, NAME64 and the glibc < 2.33 names that binaries
 * built then call (on x86_64 and aarch64 the structure is the kernel's,
 * whatever the version says). None calls another by its public name: that
 * would go back through the shim, which exports them all.
 */
int fstat(int fd, struct stat *st) { return coarse_fstat(fd, st); }
int fstat64(int fd, struct stat64 *st) { return coarse_fstat(fd, (struct stat *)st); }
int __fxstat(int ver, int fd, struct stat *st) { return coarse_fstat(fd, st); }
int __fxstat64(int ver, int fd, struct stat64 *st) { return coarse_fstat(fd, (struct stat *)st); }

int stat(const char *p, struct stat *st) { return coarse_stat(p, st); }
int stat64(const char *p, struct stat64 *st) { return coarse_stat(p, (struct stat *)st); }
int __xstat(int ver, const char *p, struct stat *st) { return coarse_stat(p, st); }
int __xstat64(int ver, const char *p, struct stat64 *st) { return coarse_stat(p, (struct stat *)st); }

int lstat(const char *p, struct stat *st) { return coarse_lstat(p, st); }
int lstat64(const char *p, struct stat64 *st) { return coarse_lstat(p, (struct stat *)st); }
int __lxstat(int ver, const char *p, struct stat *st) { return coarse_lstat(p, st); }
int __lxstat64(int ver, const char *p, struct stat64 *st) { return coarse_lstat(p, (struct stat *)st); }

int fstatat(int dirfd, const char *p, struct stat *st, int flags) { return coarse_fstatat(dirfd, p, st, flags); }
int fstatat64(int dirfd, const char *p, struct stat64 *st, int flags)
{
	return coarse_fstatat(dirfd, p, (struct stat *)st, flags);
}
int __fxstatat(int ver, int dirfd, const char *p, struct stat *st, int flags)
{
	return coarse_fstatat(dirfd, p, st, flags);
}
int __fxstatat64(int ver, int dirfd, const char *p, struct stat64 *st, int flags)
{
	return coarse_fstatat(dirfd, p, (struct stat *)st, flags);
}

int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
	NEXT(statx);
	int r = next_(dirfd, path, flags, mask, sx);
	if (r == 0)
		round_statx(sx);
	return r;
}

static bool realtime(clockid_t id)
{
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	NEXT(clock_gettime);
	int r = next_(id, ts);
	if (r == 0 && realtime(id))
		round_ts(ts);
	return r;
}

int clock_getres(clockid_t id, struct timespec *res)
{
	NEXT(clock_getres);
	int r = next_(id, res);
	if (r == 0 && res && id == CLOCK_REALTIME_COARSE) {
		res->tv_sec = granule() / 1000000000;
		res->tv_nsec = granule() % 1000000000;
	}
	return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	NEXT(gettimeofday);
	int r = next_(tv, tz);
	if (r == 0 && tv) {
		long long s = tv->tv_sec, n = (long long)tv->tv_usec * 1000;
		round_ns(&s, &n);
		tv->tv_sec = s;
		tv->tv_usec = n / 1000;
	}
	return r;
}

/* Node (libuv) and others call these through syscall(); the shim routes
 * the stat numbers to its own wrappers (and so to the functions above) and
 * passes the rest on to this one. */
long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	NEXT(syscall);
	long r = next_(nr, a, b, c, d, e, f);
	if (r == 0) {
		switch (nr) {
		case SYS_fstat:
			round_stat((struct stat *)b);
			break;
		case SYS_newfstatat:
			round_stat((struct stat *)c);
			break;
		case SYS_statx:
			round_statx((struct statx *)e);
			break;
		case SYS_clock_gettime:
			if (realtime((clockid_t)a))
				round_ts((struct timespec *)b);
			break;
		}
	}
	return r;
}
