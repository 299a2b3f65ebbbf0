/*
 * sys.h — raw system calls for the library's own use.
 *
 * We interpose syscall() itself, so internal code must never call it (it
 * would re-enter our wrapper), and during initialisation the real libc
 * functions may not be resolved yet. These inline system calls need
 * neither. They return -errno on failure, as the kernel does; sys_ret()
 * turns that into the libc convention (-1 and errno).
 */
#ifndef SHIM_SYS_H
#define SHIM_SYS_H

#include <errno.h>
#include <sys/syscall.h>

#include "kernel.h" /* the SYS_ numbers older C libraries lack */

#if defined(__x86_64__)
static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#else
#error "reflink-shim supports x86_64 and aarch64"
#endif

static inline long sys_ret(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* SYS(SYS_read, fd, buf, n): up to six arguments, libc conventions. */
#define SYS(...) sys_ret(sys_raw_(__VA_ARGS__, 0, 0, 0, 0, 0, 0))
#define sys_raw_(n, a, b, c, d, e, f, ...) \
	sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

#endif
