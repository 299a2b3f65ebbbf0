/*
 * wrap_io.c — interposed data-movement calls: read/write families,
 * sendfile, copy_file_range, splice.
 *
 * The common case is one table load and a compare: an fd that is FD_PLAIN
 * (not a regular file) or FD_REG_DONE (a regular file that is not a copy
 * destination) goes straight to libc. Reads of regular files additionally
 * store the buffer address as a hint for finding a copy's source later.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "real.h"
#include "shim.h"
#include "sys.h"

/* Limits a read of fd; returns the count to pass on (0: answer EOF now). */
static inline size_t read_hook(int fd, void *buf, size_t n, off_t off)
{
	uintptr_t e = fd_get(fd);
	if (likely(e == FD_PLAIN))
		return n;
	if (likely(e == FD_REG || e == FD_REG_DONE)) {
		fd_hint(fd, buf);
		return n;
	}
	return copy_read_limit(fd, e, n, off, buf);
}

/* After a sequential read: count what a regular file returned. */
static inline ssize_t read_done(int fd, ssize_t r)
{
	if (r > 0) {
		uintptr_t e = fd_get(fd);
		if (e == FD_REG || e == FD_REG_DONE)
			fd_count_read(fd, r);
	}
	return r;
}

/* Offers a write to the copy module; true when it answered the call. */
static inline bool write_hook(int fd, const struct iovec *iov, int cnt, off_t off, ssize_t *ret)
{
	uintptr_t e = fd_get(fd);
	if (likely(e == FD_PLAIN || e == FD_REG_DONE))
		return false;
	bool handled;
	*ret = copy_write(fd, e, iov, cnt, off, &handled);
	return handled;
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ENSURE_INIT();
	if (unlikely(!real.read))
		return SYS(SYS_read, fd, buf, n);
	size_t m = read_hook(fd, buf, n, -1);
	if (m == 0 && n)
		return 0;
	return read_done(fd, real.read(fd, buf, m));
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	ENSURE_INIT();
	if (n > buflen)  /* let libc report the overflow */
		return real.__read_chk(fd, buf, n, buflen);
	size_t m = read_hook(fd, buf, n, -1);
	if (m == 0 && n)
		return 0;
	return read_done(fd, real.__read_chk(fd, buf, m, buflen));
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	ENSURE_INIT();
	if (unlikely(!real.pread))
		return SYS(SYS_pread64, fd, buf, n, off);
	size_t m = off >= 0 ? read_hook(fd, buf, n, off) : n;
	if (m == 0 && n)
		return 0;
	return real.pread(fd, buf, m, off);
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	ENSURE_INIT();
	if (n > buflen)
		return real.__pread_chk(fd, buf, n, off, buflen);
	size_t m = off >= 0 ? read_hook(fd, buf, n, off) : n;
	if (m == 0 && n)
		return 0;
	return real.__pread_chk(fd, buf, m, off, buflen);
}

/*
 * Vector reads: when the copy module limits the count, pass on a shortened
 * copy of the vector (the caller's stays untouched).
 */
#define VREAD(call, fd, iov, cnt, off)                                                   \
	do {                                                                             \
		size_t total_ = 0;                                                       \
		for (int i_ = 0; i_ < (cnt) && (cnt) <= IOV_MAX; i_++)                    \
			total_ += (iov)[i_].iov_len;                                     \
		if ((cnt) <= 0 || (cnt) > IOV_MAX)                                       \
			break;                                                           \
		size_t lim_ = read_hook(fd, (cnt) ? (iov)[0].iov_base : NULL, total_, off); \
		if (lim_ == total_)                                                      \
			break;                                                           \
		if (lim_ == 0)                                                           \
			return 0;                                                        \
		struct iovec cut_[IOV_MAX];                                              \
		int n_ = 0;                                                              \
		for (int i_ = 0; i_ < (cnt) && lim_; i_++, n_++) {                       \
			cut_[n_] = (iov)[i_];                                            \
			if (cut_[n_].iov_len > lim_)                                     \
				cut_[n_].iov_len = lim_;                                 \
			lim_ -= cut_[n_].iov_len;                                        \
		}                                                                        \
		iov = cut_;                                                              \
		cnt = n_;                                                                \
		return call;                                                             \
	} while (0)

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	ENSURE_INIT();
	VREAD(real.readv(fd, iov, cnt), fd, iov, cnt, -1);
	return read_done(fd, real.readv(fd, iov, cnt));
}

SHIM_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ENSURE_INIT();
	if (off >= 0)
		VREAD(real.preadv(fd, iov, cnt, off), fd, iov, cnt, off);
	return real.preadv(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ENSURE_INIT();
	if (off >= -1)
		VREAD(real.preadv2(fd, iov, cnt, off, flags), fd, iov, cnt, off);
	return real.preadv2(fd, iov, cnt, off, flags);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	ENSURE_INIT();
	if (unlikely(!real.write))
		return SYS(SYS_write, fd, buf, n);
	struct iovec v = { (void *)buf, n };
	ssize_t r;
	if (write_hook(fd, &v, 1, -1, &r))
		return r;
	return real.write(fd, buf, n);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ENSURE_INIT();
	struct iovec v = { (void *)buf, n };
	ssize_t r;
	if (off >= 0 && write_hook(fd, &v, 1, off, &r))
		return r;
	return real.pwrite(fd, buf, n, off);
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ENSURE_INIT();
	ssize_t r;
	if (cnt > 0 && cnt <= IOV_MAX && write_hook(fd, iov, cnt, -1, &r))
		return r;
	return real.writev(fd, iov, cnt);
}

SHIM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ENSURE_INIT();
	ssize_t r;
	if (off >= 0 && cnt > 0 && cnt <= IOV_MAX && write_hook(fd, iov, cnt, off, &r))
		return r;
	return real.pwritev(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ENSURE_INIT();
	ssize_t r;
	if (flags)  /* RWF_APPEND, RWF_DSYNC...: not a plain copy */
		copy_settle_fd(fd, "pwritev2 flags");
	else if (off >= -1 && cnt > 0 && cnt <= IOV_MAX && write_hook(fd, iov, cnt, off, &r))
		return r;
	return real.pwritev2(fd, iov, cnt, off, flags);
}

/* A transfer reading from a destination must see only what was written. */
static void settle_if_copy(int fd, const char *why)
{
	uintptr_t e = fd_get(fd);
	if (unlikely(fd_is_copy(e)))
		copy_settle_fd(fd, why);
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	ENSURE_INIT();
	settle_if_copy(in, "sendfile from a destination");
	uintptr_t e = fd_get(out);
	if (e != FD_PLAIN && e != FD_REG_DONE) {
		bool handled;
		ssize_t r = copy_transfer(out, in, off, NULL, count, &handled);
		if (handled)
			return r;
	}
	return real.sendfile(out, in, off, count);
}

SHIM_EXPORT ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned flags)
{
	ENSURE_INIT();
	settle_if_copy(in, "copy_file_range from a destination");
	uintptr_t e = fd_get(out);
	if (!flags && e != FD_PLAIN && e != FD_REG_DONE) {
		bool handled;
		ssize_t r = copy_transfer(out, in, inoff, outoff, len, &handled);
		if (handled)
			return r;
	} else if (flags) {
		settle_if_copy(out, "copy_file_range flags");
	}
	return real.copy_file_range(in, inoff, out, outoff, len, flags);
}

SHIM_EXPORT ssize_t splice(int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned flags)
{
	ENSURE_INIT();
	settle_if_copy(in, "splice");
	settle_if_copy(out, "splice");
	return real.splice(in, inoff, out, outoff, len, flags);
}
