/*
 * wrap_sys.c — syscall(2), for programs that bypass libc's wrappers.
 *
 * Node (libuv) calls copy_file_range, statx and close through syscall();
 * other runtimes do the same for calls glibc did not wrap yet. Numbers that
 * touch what we track are routed through our own wrappers, which have the
 * same return convention as syscall() (-1 and errno); every other number
 * goes straight to the kernel.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/xattr.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "kernel.h"
#include "real.h"
#include "shim.h"
#include "sys.h"

SHIM_EXPORT long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	ENSURE_INIT();
	switch (n) {
	case SYS_read: return read((int)a, (void *)b, (size_t)c);
	case SYS_write: return write((int)a, (const void *)b, (size_t)c);
	case SYS_pread64: return pread((int)a, (void *)b, (size_t)c, (off_t)d);
	case SYS_pwrite64: return pwrite((int)a, (const void *)b, (size_t)c, (off_t)d);
	case SYS_readv: return readv((int)a, (const struct iovec *)b, (int)c);
	case SYS_writev: return writev((int)a, (const struct iovec *)b, (int)c);
	/* preadv/pwritev take the offset split in two longs; on LP64 the low
	 * half is the whole offset. */
	case SYS_preadv: return preadv((int)a, (const struct iovec *)b, (int)c, (off_t)d);
	case SYS_pwritev: return pwritev((int)a, (const struct iovec *)b, (int)c, (off_t)d);
	case SYS_preadv2: return preadv2((int)a, (const struct iovec *)b, (int)c, (off_t)d, (int)f);
	case SYS_pwritev2: return pwritev2((int)a, (const struct iovec *)b, (int)c, (off_t)d, (int)f);
	case SYS_sendfile: return sendfile((int)a, (int)b, (off_t *)c, (size_t)d);
	case SYS_copy_file_range:
		return copy_file_range((int)a, (off_t *)b, (int)c, (off_t *)d, (size_t)e, (unsigned)f);
	case SYS_splice: return splice((int)a, (off_t *)b, (int)c, (off_t *)d, (size_t)e, (unsigned)f);
	case SYS_setrlimit: return setrlimit((rlimit_resource)a, (const struct rlimit *)b);
	case SYS_prlimit64: return prlimit((pid_t)a, (rlimit_resource)b, (const struct rlimit *)c, (struct rlimit *)d);
	case SYS_close: return close((int)a);
	case SYS_close_range: return close_range((unsigned)a, (unsigned)b, (int)c);
	case SYS_dup: return dup((int)a);
	case SYS_dup3: return dup3((int)a, (int)b, (int)c);
	case SYS_fcntl: return fcntl((int)a, (int)b, c);
	case SYS_openat: return openat((int)a, (const char *)b, (int)c, (mode_t)d);
	case SYS_lseek: return lseek((int)a, (off_t)b, (int)c);
	case SYS_ftruncate: return ftruncate((int)a, (off_t)b);
	case SYS_truncate: return truncate((const char *)a, (off_t)b);
	case SYS_fallocate: return fallocate((int)a, (int)b, (off_t)c, (off_t)d);
	case SYS_fstat: return fstat((int)a, (struct stat *)b);
	case SYS_newfstatat: return fstatat((int)a, (const char *)b, (struct stat *)c, (int)d);
	case SYS_statx: return statx((int)a, (const char *)b, (int)c, (unsigned)d, (struct statx *)e);
	case SYS_fchmod: return fchmod((int)a, (mode_t)b);
	case SYS_fchown: return fchown((int)a, (uid_t)b, (gid_t)c);
	case SYS_utimensat:
		/* The kernel's futimens; glibc's utimensat refuses a NULL path. */
		if (!b && !d)
			return futimens((int)a, (const struct timespec *)c);
		return utimensat((int)a, (const char *)b, (const struct timespec *)c, (int)d);
	case SYS_fsetxattr: return fsetxattr((int)a, (const char *)b, (const void *)c, (size_t)d, (int)e);
	case SYS_fremovexattr: return fremovexattr((int)a, (const char *)b);
	case SYS_ioctl: return ioctl((int)a, (ioctl_req_t)b, c);
	case SYS_mmap: return (long)mmap((void *)a, (size_t)b, (int)c, (int)d, (int)e, (off_t)f);
	case SYS_execve: return execve((const char *)a, (char *const *)b, (char *const *)c);
	case SYS_execveat:
		return execveat((int)a, (const char *)b, (char *const *)c, (char *const *)d, (int)e);
	case SYS_exit_group: _exit((int)a);
	case SYS_munmap: return munmap((void *)a, (size_t)b);
	case SYS_mprotect: return mprotect((void *)a, (size_t)b, (int)c);
	case SYS_mremap: return (long)mremap((void *)a, (size_t)b, (size_t)c, (int)d, (void *)e);
	case SYS_madvise: return madvise((void *)a, (size_t)b, (int)c);
	case SYS_prctl: return prctl((int)a, b, c, d, e);
	/* A child made this way shares every description, as after fork.
	 * Bumped before and after, as in fork: an fd another thread opens
	 * between the first bump and the child's creation is the child's too.
	 * (The bump leaves errno alone.) */
	case SYS_clone:
#ifdef SYS_clone3
	case SYS_clone3:
#endif
#ifdef SYS_fork
	case SYS_fork:
	case SYS_vfork:
#endif
	{
		fd_descriptions_shared();
		long r = SYS(n, a, b, c, d, e, f);
		fd_descriptions_shared();
		return r;
	}
	case SYS_setuid:
	case SYS_setreuid:
	case SYS_setresuid: {
		/* This thread's credentials only (the C library's set*id change
		 * every thread's): the process's part in sharing ends all the
		 * same (copy_creds_changed). */
		long r = SYS(n, a, b, c, d, e, f);
		if (r == 0) {
			ERRNO_SAVE;
			copy_creds_changed();
			ERRNO_RESTORE;
		}
		return r;
	}
	case SYS_unshare: return unshare((int)a);
	case SYS_seccomp:
		/* SECCOMP_SET_MODE_STRICT (0) and _FILTER (1) install one. */
		if (a == 0 || a == 1) {
			ERRNO_SAVE;
			copy_go_inert("seccomp");
			ERRNO_RESTORE;
		}
		return SYS(n, a, b, c, d, e, f);
#ifdef SYS_open
	case SYS_open: return open((const char *)a, (int)b, (mode_t)c);
#endif
#ifdef SYS_dup2
	case SYS_dup2: return dup2((int)a, (int)b);
#endif
#ifdef SYS_stat
	case SYS_stat: return stat((const char *)a, (struct stat *)b);
	case SYS_lstat: return lstat((const char *)a, (struct stat *)b);
#endif
#ifdef SYS_creat
	case SYS_creat: return creat((const char *)a, (mode_t)b);
#endif
	case SYS_openat2: {
		long fd = SYS(SYS_openat2, a, b, c, d);
		if (fd >= 0) {
			ERRNO_SAVE;
			copy_fd_opened((int)fd, (int)((const unsigned long long *)b)[0]);
			ERRNO_RESTORE;
		}
		return fd;
	}
	default:
		return SYS(n, a, b, c, d, e, f);
	}
}
