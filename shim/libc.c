/*
 * libc.c — the C library functions the library itself calls, bound by us.
 *
 * The library is linked -z now: no lazy binding, whose resolver would save
 * every register on the stack of whatever thread or signal handler first
 * called through the PLT. Every function it imported would then cost a
 * symbol lookup in every process start, about 500 instructions, called or
 * not. So it imports nothing: each C library function it uses has a local
 * (hidden) definition here, which binds the real one at its first call
 * through our own lookup (elfsym.c: lock-free, async-signal-safe, a small
 * stack) and calls it. The one bound is the next definition after ours, as
 * for the wrappers' real functions: the C library's, or that of a library
 * loaded after us that wraps it (a sanitizer runtime the program links).
 * Only if nothing after us has it (we were dlopen()ed) is the definition
 * before us taken. A function missing from this list shows up as an
 * import; tests/startup.bats fails on any. elfsym.c calls none of them:
 * binding one would recurse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>

#include "elfsym.h"
#include "real.h"
#include "shim.h"
#include "sys.h"

/* Without the C library's functions the library cannot run: say which one
 * is missing rather than crash somewhere else. */
__attribute__((noreturn, cold)) static void missing(const struct elfsym_name *name)
{
	static const char msg[] = "reflink-shim: cannot find the C library's ";
	sys6(SYS_write, 2, (long)msg, sizeof(msg) - 1, 0, 0, 0);
	sys6(SYS_write, 2, (long)name->name, name->len, 0, 0, 0);
	sys6(SYS_write, 2, (long)"\n", 1, 0, 0, 0);
	__builtin_trap();
}

/* The next definition of name, else fallback if there is one. */
static void *bind_next(const struct elfsym_name *name, void **slot, void *fallback)
{
	void *f = elfsym_next_one(name);
	/* Nothing after us (we were dlopen()ed): the C library is before us.
	 * The wrappers then stay inert (init.c), but the library itself
	 * must run. */
	if (!f)
		f = elfsym_default(name->name);
	if (!f)
		f = fallback;
	if (!f)
		missing(name);
	__atomic_store_n(slot, f, __ATOMIC_RELAXED);
	return f;
}

#define FORWARD_OR(fallback, ret, name, params, args)                      \
	ret name params                                                    \
	{                                                                  \
		static const struct elfsym_name sym_ = ELFSYM_NAME(#name); \
		static void *fn;                                           \
		void *f = __atomic_load_n(&fn, __ATOMIC_RELAXED);          \
		if (unlikely(!f))                                          \
			f = bind_next(&sym_, &fn, fallback);               \
		return ((ret(*) params)f) args;                            \
	}
#define FORWARD(...) FORWARD_OR(NULL, __VA_ARGS__)

/*
 * Before glibc 2.34, pthread_sigmask and pthread_testcancel are in
 * libpthread, which only programs that use threads load (dd, cpio and
 * busybox do not); the other pthread functions here have forwarders in
 * libc. Without libpthread no thread can be cancelled, and pthread_sigmask
 * is the system call it wraps. (A libpthread dlopened after our first call
 * is not seen: a deferred cancel then acts at the next real cancellation
 * point instead of at our write.)
 */
static int raw_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return (int)-sys6(SYS_rt_sigprocmask, how, (long)set, (long)old, _NSIG / 8, 0, 0);
}

static void no_testcancel(void)
{
}

FORWARD(int *, __errno_location, (void), ())
FORWARD(int, memcmp, (const void *a, const void *b, size_t n), (a, b, n))
/* Also called by the compiler, for copies and zeroing it does not inline:
 * GCC on x86_64 inlines all of ours, on aarch64 it calls these (real_init's
 * array, a name copy in copy.c). */
FORWARD(void *, memcpy, (void *d, const void *s, size_t n), (d, s, n))
FORWARD(void *, memset, (void *d, int c, size_t n), (d, c, n))
FORWARD(size_t, strlen, (const char *s), (s))
FORWARD(int, strncmp, (const char *a, const char *b, size_t n), (a, b, n))
FORWARD(size_t, strnlen, (const char *s, size_t n), (s, n))
FORWARD(char *, secure_getenv, (const char *name), (name))
FORWARD(int, fileno, (FILE *stream), (stream))
FORWARD(int, fstatfs, (int fd, struct statfs *buf), (fd, buf))
FORWARD(int, getrlimit, (rlimit_resource r, struct rlimit *rl), (r, rl))
FORWARD(int, sched_yield, (void), ())
FORWARD(int, sigfillset, (sigset_t *set), (set))
FORWARD_OR((void *)raw_sigmask, int, pthread_sigmask, (int how, const sigset_t *set, sigset_t *old), (how, set, old))
FORWARD(int, pthread_setcancelstate, (int state, int *old), (state, old))
FORWARD_OR((void *)no_testcancel, void, pthread_testcancel, (void), ())
FORWARD(int, clock_gettime, (clockid_t c, struct timespec *ts), (c, ts))
FORWARD(int, pthread_mutex_init, (pthread_mutex_t *m, const pthread_mutexattr_t *a), (m, a))
FORWARD(int, pthread_mutex_lock, (pthread_mutex_t *m), (m))
FORWARD(int, pthread_mutex_unlock, (pthread_mutex_t *m), (m))

#ifdef __GLIBC__
/* glibc's pthread_atfork is a static stub (libc_nonshared.a) that passes
 * the caller's DSO handle, so that dlclose can drop its handlers; the
 * library is never unloaded (-z nodelete), any address of ours will do. */
int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso);
FORWARD(int, __register_atfork, (void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso),
	(prepare, parent, child, dso))

static const char dso_handle;

int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return __register_atfork(prepare, parent, child, (void *)&dso_handle);
}
#else
FORWARD(int, pthread_atfork, (void (*prepare)(void), void (*parent)(void), void (*child)(void)),
	(prepare, parent, child))
#endif
