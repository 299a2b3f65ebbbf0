/*
 * wrap_meta.c — interposed calls that observe or change a file's size,
 * position or metadata.
 *
 * Observers (fstat, stat, statx, lseek) are corrected to the written size
 * of an armed destination. Changers (ftruncate, fallocate, chmod, chown,
 * times, xattrs, ioctl, mmap) settle the copy first, so that they act on
 * exactly the file the program has written and nothing we do later can
 * undo them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <utime.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "kernel.h"
#include "real.h"
#include "shim.h"
#include "umem.h"

/* glibc declares these paths nonnull, but programs do pass NULL (Linux
 * documents utimensat(fd, NULL, ...) as futimens) and we must not crash. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"

static inline bool is_copy_fd(int fd)
{
	return fd_is_copy(fd_get(fd));
}

static inline void settle_fd(int fd, const char *why)
{
	if (unlikely(is_copy_fd(fd)))
		copy_settle_fd(fd, why);
}

static inline bool any_copy(void)
{
	return __atomic_load_n(&copies_active, __ATOMIC_RELAXED) != 0;
}

SHIM_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	uintptr_t e = fd_get(fd);
	if (unlikely(fd_is_copy(e))) {
		bool handled;
		off_t r = copy_lseek(fd, e, off, whence, &handled);
		if (handled)
			return r;
	}
	return real.lseek(fd, off, whence);
}

SHIM_EXPORT int ftruncate(int fd, off_t len)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "ftruncate");
	int r = real.ftruncate(fd, len);
	if (r == 0)
		copy_fd_truncated(fd, len);
	return r;
}

SHIM_EXPORT int truncate(const char *path, off_t len)
{
	ENSURE_INIT();
	if (any_copy())
		copy_settle_path(AT_FDCWD, path, 0, "truncate");
	return real.truncate(path, len);
}

SHIM_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "fallocate");
	return real.fallocate(fd, mode, off, len);
}

SHIM_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	ENSURE_INIT();
	if (unlikely(fd_is_private(fd)))
		return EBADF;  /* returned, not in errno */
	settle_fd(fd, "posix_fallocate");
	return real.posix_fallocate(fd, off, len);
}

SHIM_EXPORT int fstat(int fd, struct stat *st)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	int r = real.fstat(fd, st);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat(fd, st);
	return r;
}

SHIM_EXPORT int stat(const char *path, struct stat *st)
{
	ENSURE_INIT();
	int r = real.stat(path, st);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat(-1, st);
	return r;
}

SHIM_EXPORT int lstat(const char *path, struct stat *st)
{
	ENSURE_INIT();
	int r = real.lstat(path, st);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat(-1, st);
	return r;
}

SHIM_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	ENSURE_INIT();
	int r = real.fstatat(dirfd, path, st, flags);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat((flags & AT_EMPTY_PATH) && path && !*path ? dirfd : -1, st);
	return r;
}

SHIM_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	ENSURE_INIT();
	int r = real.statx(dirfd, path, flags, mask, stx);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_statx((flags & AT_EMPTY_PATH) && path && !*path ? dirfd : -1, stx);
	return r;
}

SHIM_EXPORT int fchmod(int fd, mode_t mode)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "fchmod");
	return real.fchmod(fd, mode);
}

SHIM_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "fchown");
	return real.fchown(fd, uid, gid);
}

SHIM_EXPORT int futimens(int fd, const struct timespec ts[2])
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "futimens");
	return real.futimens(fd, ts);
}

SHIM_EXPORT int futimes(int fd, const struct timeval tv[2])
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "futimes");
	return real.futimes(fd, tv);
}

SHIM_EXPORT int utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	ENSURE_INIT();
	if (!path)
		settle_fd(dirfd, "futimens");
	else if (any_copy())
		copy_settle_path(dirfd, path, flags, "utimensat");
	return real.utimensat(dirfd, path, ts, flags);
}

/* The stat ABI of binaries built before glibc 2.33. */
SHIM_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	int r = real.__fxstat(ver, fd, st);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat(fd, st);
	return r;
}

SHIM_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	ENSURE_INIT();
	int r = real.__xstat(ver, path, st);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat(-1, st);
	return r;
}

SHIM_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	ENSURE_INIT();
	int r = real.__lxstat(ver, path, st);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat(-1, st);
	return r;
}

SHIM_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	ENSURE_INIT();
	int r = real.__fxstatat(ver, dirfd, path, st, flags);
	if (r == 0 && unlikely(any_copy()))
		copy_fix_stat((flags & AT_EMPTY_PATH) && path && !*path ? dirfd : -1, st);
	return r;
}

/*
 * Metadata changes by path: one wrapper each, all alike. An armed
 * destination is settled before the change, so that nothing we do later (a
 * truncate stamps mtime and may clear setuid bits) can undo it.
 */
#define PATH_META(name, params, args, dirfd, path, flags)                 \
	SHIM_EXPORT int name params                                        \
	{                                                                  \
		ENSURE_INIT();                                             \
		if (unlikely(any_copy()))                                  \
			copy_settle_path(dirfd, path, flags, #name);      \
		return real.name args;                                     \
	}

PATH_META(chmod, (const char *p, mode_t m), (p, m), AT_FDCWD, p, 0)
PATH_META(lchmod, (const char *p, mode_t m), (p, m), AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)
PATH_META(fchmodat, (int d, const char *p, mode_t m, int f), (d, p, m, f), d, p, f)
PATH_META(chown, (const char *p, uid_t u, gid_t g), (p, u, g), AT_FDCWD, p, 0)
PATH_META(lchown, (const char *p, uid_t u, gid_t g), (p, u, g), AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)
PATH_META(fchownat, (int d, const char *p, uid_t u, gid_t g, int f), (d, p, u, g, f), d, p, f)
PATH_META(utime, (const char *p, const struct utimbuf *t), (p, t), AT_FDCWD, p, 0)
PATH_META(utimes, (const char *p, const struct timeval t[2]), (p, t), AT_FDCWD, p, 0)
PATH_META(lutimes, (const char *p, const struct timeval t[2]), (p, t), AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)
PATH_META(futimesat, (int d, const char *p, const struct timeval t[2]), (d, p, t), d, p ? p : "", p ? 0 : AT_EMPTY_PATH)
PATH_META(setxattr, (const char *p, const char *n, const void *v, size_t s, int f), (p, n, v, s, f), AT_FDCWD, p, 0)
PATH_META(lsetxattr, (const char *p, const char *n, const void *v, size_t s, int f), (p, n, v, s, f), AT_FDCWD, p,
	  AT_SYMLINK_NOFOLLOW)
PATH_META(removexattr, (const char *p, const char *n), (p, n), AT_FDCWD, p, 0)
PATH_META(lremovexattr, (const char *p, const char *n), (p, n), AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)

SHIM_EXPORT int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "fsetxattr");
	return real.fsetxattr(fd, name, value, size, flags);
}

SHIM_EXPORT int fremovexattr(int fd, const char *name)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	settle_fd(fd, "fremovexattr");
	return real.fremovexattr(fd, name);
}

SHIM_EXPORT int ioctl(int fd, ioctl_req_t req, ...)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	settle_fd(fd, "ioctl");
	/* Cloning from a destination would copy what the program has not written. */
	struct k_clone_range range;
	if (req == K_FICLONE)
		settle_fd((int)(long)arg, "FICLONE from a destination");
	else if (req == K_FICLONERANGE && umem_read(&range, arg, sizeof(range)))
		settle_fd((int)range.src_fd, "FICLONERANGE from a destination");
	return real.ioctl(fd, req, arg);
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	ENSURE_INIT();
	if (!(flags & MAP_ANONYMOUS))
		PRIV_GUARD(fd, MAP_FAILED);
	if (flags & MAP_FIXED)  /* replaces whatever was mapped there */
		umem_unvet();
	if (fd >= 0 && !(flags & MAP_ANONYMOUS))
		settle_fd(fd, "mmap");
	return real.mmap(addr, len, prot, flags, fd, off);
}

/*
 * Mapping changes: bytes the kernel vetted by an earlier read (umem.h) may
 * no longer be readable, so no vetted range survives them.
 */
SHIM_EXPORT int munmap(void *addr, size_t len)
{
	ENSURE_INIT();
	umem_unvet();
	return real.munmap(addr, len);
}

SHIM_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	ENSURE_INIT();
	umem_unvet();
	return real.mprotect(addr, len, prot);
}

SHIM_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *new_addr = va_arg(ap, void *);
	va_end(ap);
	ENSURE_INIT();
	umem_unvet();
	return real.mremap(old, oldlen, newlen, flags, new_addr);
}

SHIM_EXPORT int madvise(void *addr, size_t len, int advice)
{
	ENSURE_INIT();
	umem_unvet();  /* guard pages (MADV_GUARD_INSTALL) make memory fault */
	return real.madvise(addr, len, advice);
}
