/*
 * fallback.h — the words of symbols.def's fallback column, and the function
 * an entry's fallback becomes.
 *
 * The includer defines KCALL(nr, args...): system call nr with up to six
 * arguments, each passed as a long, returning -1 and errno on failure.
 * shim/real.c makes it the library's inline system call (sys.h);
 * tests/progs/everycall.c makes it syscall(), and so calls each name's
 * system call exactly as its fallback would.
 *
 * A fallback is reached only through `real.name`, from our own wrappers,
 * which pass every argument, optional ones included: VARG reads them
 * without looking at the flags that would make them optional.
 */
#ifndef SHIM_FALLBACK_H
#define SHIM_FALLBACK_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <utime.h>

/* static ret fname params { body }: ret_t_ names the return type for RAW. */
#define FALLBACK_FN(fname, ret, params, ...)                            \
	static ret fname params                                         \
	{                                                               \
		typedef ret ret_t_ __attribute__((unused));             \
		__VA_ARGS__                                             \
	}

/* The system call's result, in the function's return type. */
#define RAW(...) return (ret_t_)KCALL(__VA_ARGS__);
/* For a function returning nothing. */
#define RAW_VOID(...) (void)KCALL(__VA_ARGS__);
/* For a function returning the error number, errno untouched (posix_fallocate). */
#define RAW_ERR(...)                                             \
	{                                                        \
		int e_ = errno;                                  \
		int r_ = KCALL(__VA_ARGS__) < 0 ? errno : 0;     \
		errno = e_;                                      \
		return r_;                                       \
	}
/* No system call does it: ENOSYS, returned as v says (-1, NULL) or as the
 * error number itself (posix_spawn). */
#define NOSYS(v)                \
	{                       \
		errno = ENOSYS; \
		return (v);     \
	}
#define NOSYS_ERR return ENOSYS;
/* Checks the C library makes before the system call. */
#define FAIL_IF(cond, err)        \
	if (cond) {               \
		errno = (err);    \
		return -1;        \
	}
/* glibc's fortified functions abort the program on a detected overflow. */
#define TRAP_IF(cond) \
	if (cond)     \
		__builtin_trap();

/* The i-th (from 0) variadic argument, of type `type`, after `last`. */
#define VARG(last, type, i)                                    \
	({                                                     \
		va_list ap_;                                   \
		va_start(ap_, last);                           \
		for (int i_ = 0; i_ < (i); i_++)               \
			(void)va_arg(ap_, type);               \
		type v_ = va_arg(ap_, type);                   \
		va_end(ap_);                                   \
		v_;                                            \
	})

/* Whether open's flags take a mode. */
#define NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

/* utimensat's times from utimes' (microseconds: one out of range becomes -1
 * nanoseconds, for the kernel's EINVAL, which is the C library's answer) and
 * from utime's (seconds). */
#define TV_NS(us) ((us) >= 0 && (us) < 1000000 ? (long)(us) * 1000 : -1L)
#define TV_TS(tv)                                                                       \
	((tv) ? (const struct timespec[2]){ { (tv)[0].tv_sec, TV_NS((tv)[0].tv_usec) }, \
					    { (tv)[1].tv_sec, TV_NS((tv)[1].tv_usec) } } \
	      : NULL)
#define UTIMBUF_TS(t) \
	((t) ? (const struct timespec[2]){ { (t)->actime, 0 }, { (t)->modtime, 0 } } : NULL)

#endif
