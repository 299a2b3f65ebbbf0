/*
 * wrap_fd.c — interposed calls that create, duplicate and close fds.
 *
 * They keep the fd table honest: a new fd starts FD_UNKNOWN, a dup shares
 * its original's entry, a closed fd forgets its copy (settling it when the
 * last fd writing the destination goes).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "kernel.h"
#include "real.h"
#include "shim.h"
#include "umem.h"

static inline bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* The optional mode argument of open/openat, after parameter `last`. */
#define OPEN_MODE(flags, last)                          \
	({                                              \
		mode_t m_ = 0;                          \
		if (needs_mode(flags)) {                \
			va_list ap_;                    \
			va_start(ap_, last);            \
			m_ = va_arg(ap_, mode_t);       \
			va_end(ap_);                    \
		}                                       \
		m_;                                     \
	})

static int opened(int fd, int flags, unsigned gen)
{
	if (fd >= 0) {
		copy_fd_opened(fd, flags);
		fd_set_flags(fd, flags, gen);
	}
	return fd;
}

/* opened(CALL's fd), the flags' generation read before CALL. */
#define OPENED(call, flags)                           \
	({                                            \
		unsigned gen_ = fd_flags_gen();       \
		int fd_ = (call);                     \
		opened(fd_, (flags), gen_);           \
	})

/*
 * An fd-allocating call: when the table is full only because of our
 * private fds, free them and try once more, so the program can open as
 * many files as without us.
 */
#define ALLOC_FD(call)                                                  \
	({                                                              \
		int r_ = (call);                                        \
		if (r_ < 0 && errno == EMFILE && copy_fds_exhausted()) \
			r_ = (call);                                    \
		r_;                                                     \
	})

/* A relative path from one of our fds names nothing the program has. The
 * path is the program's memory: read without faulting (umem.h). */
#define DIRFD_GUARD(dirfd, path)                                                    \
	do {                                                                        \
		char c0_ = 0;                                                       \
		if (unlikely(fd_is_private(dirfd)) && (!umem_read(&c0_, path, 1) || c0_ != '/')) { \
			errno = EBADF;                                              \
			return -1;                                                  \
		}                                                                   \
	} while (0)

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	ENSURE_INIT();
	mode_t mode = OPEN_MODE(flags, flags);
	return OPENED(ALLOC_FD(real.open(path, flags, mode)), flags);
}

SHIM_EXPORT int __open_2(const char *path, int flags)
{
	ENSURE_INIT();
	return OPENED(ALLOC_FD(real.__open_2(path, flags)), flags);
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	ENSURE_INIT();
	mode_t mode = OPEN_MODE(flags, flags);
	DIRFD_GUARD(dirfd, path);
	return OPENED(ALLOC_FD(real.openat(dirfd, path, flags, mode)), flags);
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	ENSURE_INIT();
	DIRFD_GUARD(dirfd, path);
	return OPENED(ALLOC_FD(real.__openat_2(dirfd, path, flags)), flags);
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
	ENSURE_INIT();
	return OPENED(ALLOC_FD(real.creat(path, mode)), O_WRONLY | O_CREAT | O_TRUNC);
}

SHIM_EXPORT int open_by_handle_at(int mountfd, struct file_handle *h, int flags)
{
	ENSURE_INIT();
	PRIV_GUARD(mountfd, -1);
	return OPENED(ALLOC_FD(real.open_by_handle_at(mountfd, h, flags)), flags);
}

SHIM_EXPORT int close(int fd)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);  /* not the program's: as if it were not open */
	copy_fd_closing(fd);
	return real.close(fd);
}

SHIM_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	ENSURE_INIT();
	return copy_close_range(first, last, flags, false);
}

SHIM_EXPORT void closefrom(int lowfd)
{
	ENSURE_INIT();
	copy_close_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u, 0, true);
}

SHIM_EXPORT int dup(int fd)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	int r = ALLOC_FD(real.dup(fd));
	if (r >= 0)
		copy_fd_duped(fd, r);
	return r;
}

SHIM_EXPORT int dup2(int fd, int fd2)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	int r = copy_dup_onto(fd, fd2, 0, false);
	if (r >= 0)
		copy_fd_duped(fd, r);
	return r;
}

SHIM_EXPORT int dup3(int fd, int fd2, int flags)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	int r = copy_dup_onto(fd, fd2, flags, true);
	if (r >= 0)
		copy_fd_duped(fd, r);
	return r;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	ENSURE_INIT();
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	PRIV_GUARD(fd, -1);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		copy_fds_wanted_from((int)(long)arg);
		int r = ALLOC_FD(real.fcntl(fd, cmd, arg));
		if (r >= 0)
			copy_fd_duped(fd, r);
		return r;
	}
	case F_SETLK:
	case F_SETLKW:
#if defined(F_SETLK64) && F_SETLK64 != F_SETLK
	case F_SETLK64:
	case F_SETLKW64:
#endif
		copy_note_posix_lock();
		break;
	case F_SETFL:  /* O_APPEND would write at the clone's end, not at hi */
		copy_settle_fd(fd, "fcntl(F_SETFL)");
		/* for every fd on its description, which we do not track */
		fd_descriptions_shared();
		break;
	default:
		break;
	}
	return real.fcntl(fd, cmd, arg);
}

/* glibc's lockf sets its lock with an internal fcntl we would not see. */
SHIM_EXPORT int lockf(int fd, int cmd, off_t len)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, -1);
	if (cmd != F_ULOCK && cmd != F_TEST)
		copy_note_posix_lock();
	return real.lockf(fd, cmd, len);
}
