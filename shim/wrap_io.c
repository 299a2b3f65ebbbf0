/*
 * wrap_io.c — interposed data-movement calls: read/write families,
 * sendfile, copy_file_range, splice.
 *
 * The common case is one table load and a compare: an fd that is FD_PLAIN
 * (not a regular file) or FD_REG_DONE (a regular file that is not a copy
 * destination) goes straight to libc. Reads of regular files additionally
 * store the buffer address as a hint for finding a copy's source later,
 * and vet the bytes the kernel filled (umem.h). Nothing here dereferences
 * the program's memory before the kernel has accepted it.
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
#include "umem.h"

/*
 * Limits a read of fd; returns the count to pass on (0: answer EOF now).
 * The caller has checked that fd is not FD_PLAIN and not ours (FD_PRIV).
 */
static inline size_t read_hook(int fd, uintptr_t e, void *buf, size_t n, off_t off)
{
	if (likely(e == FD_REG || e == FD_REG_DONE)) {
		fd_hint(fd, buf);
		return n;
	}
	return copy_read_limit(fd, e, n, off, buf);
}

/* After a read of a regular file (entry e, as it was classified before
 * the read): its bytes are vetted (umem.h), and a sequential read counts
 * towards "read whole". */
static inline ssize_t read_done(int fd, uintptr_t e, const void *buf, ssize_t r, bool sequential)
{
	if (r > 0 && (e == FD_REG || e == FD_REG_DONE)) {
		umem_vet(buf, (size_t)r);
		if (sequential)
			fd_count_read(fd, r);
	}
	return r;
}

/* One table load on the way in; the entry is loaded again only after the
 * slow path may have classified the fd. */
#define READ_PROLOGUE(fd, buf, n, off)                       \
	uintptr_t e_ = fd_get(fd);                           \
	size_t m_ = (n);                                     \
	if (unlikely(e_ != FD_PLAIN)) {                      \
		if (unlikely(e_ == FD_PRIV)) {               \
			errno = EBADF;                       \
			return -1;                           \
		}                                            \
		m_ = read_hook(fd, e_, buf, n, off);         \
		if (m_ == 0 && (n))                          \
			return 0;                            \
		if (e_ != FD_REG && e_ != FD_REG_DONE)       \
			e_ = fd_get(fd);                     \
	}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ENSURE_INIT();
	if (unlikely(!real.read))
		return SYS(SYS_read, fd, buf, n);
	READ_PROLOGUE(fd, buf, n, -1);
	return read_done(fd, e_, buf, real.read(fd, buf, m_), true);
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	ENSURE_INIT();
	if (n > buflen)  /* let libc report the overflow */
		return real.__read_chk(fd, buf, n, buflen);
	READ_PROLOGUE(fd, buf, n, -1);
	return read_done(fd, e_, buf, real.__read_chk(fd, buf, m_, buflen), true);
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	ENSURE_INIT();
	if (unlikely(!real.pread))
		return SYS(SYS_pread64, fd, buf, n, off);
	if (off < 0)  /* EINVAL from the kernel */
		return real.pread(fd, buf, n, off);
	READ_PROLOGUE(fd, buf, n, off);
	return read_done(fd, e_, buf, real.pread(fd, buf, m_, off), false);
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	ENSURE_INIT();
	if (n > buflen || off < 0)
		return real.__pread_chk(fd, buf, n, off, buflen);
	READ_PROLOGUE(fd, buf, n, off);
	return read_done(fd, e_, buf, real.__pread_chk(fd, buf, m_, off, buflen), false);
}

/*
 * Vector reads never look at the program's iovec array before the kernel
 * has (it may be a bad pointer): a destination being copied is settled
 * first instead of having its count cut, and the source hint is taken from
 * the array only after the kernel accepted it.
 */
static inline int vread_before(int fd, uintptr_t e)
{
	if (likely(e == FD_PLAIN || e == FD_REG || e == FD_REG_DONE))
		return 0;
	PRIV_GUARD(fd, -1);
	if (fd_is_copy(e))
		copy_settle_fd(fd, "vector read of a destination");
	else
		(void)copy_read_limit(fd, e, 0, -1, NULL);  /* classifies the fd */
	return 0;
}

static inline ssize_t vread_after(int fd, const struct iovec *iov, ssize_t r, bool sequential)
{
	if (r > 0) {
		uintptr_t e = fd_get(fd);
		if (e == FD_REG || e == FD_REG_DONE) {
			fd_hint(fd, iov[0].iov_base);
			if (sequential)
				fd_count_read(fd, r);
		}
	}
	return r;
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	ENSURE_INIT();
	if (vread_before(fd, fd_get(fd)))
		return -1;
	return vread_after(fd, iov, real.readv(fd, iov, cnt), true);
}

SHIM_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ENSURE_INIT();
	if (vread_before(fd, fd_get(fd)))
		return -1;
	return vread_after(fd, iov, real.preadv(fd, iov, cnt, off), false);
}

SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ENSURE_INIT();
	if (vread_before(fd, fd_get(fd)))
		return -1;
	return vread_after(fd, iov, real.preadv2(fd, iov, cnt, off, flags), off == -1);
}

/*
 * Offers a write to the copy module; true when it answered the call (*ret).
 * iov is ours (a single buffer the program passed to write/pwrite).
 */
static inline bool write_hook(int fd, const struct iovec *iov, int cnt, off_t off, ssize_t *ret)
{
	uintptr_t e = fd_get(fd);
	if (likely(e == FD_PLAIN || e == FD_REG_DONE))
		return false;
	if (unlikely(e == FD_PRIV)) {
		errno = EBADF;
		*ret = -1;
		return true;
	}
	bool handled;
	*ret = copy_write(fd, e, iov, cnt, off, &handled);
	return handled;
}

/* The same for the program's own iovec array, which we copy first without
 * faulting (a few entries; longer vectors are not looked at). */
#define IOV_CHUNK 8
static bool writev_hook(int fd, const struct iovec *iov, int cnt, off_t off, ssize_t *ret)
{
	uintptr_t e = fd_get(fd);
	if (likely(e == FD_PLAIN || e == FD_REG_DONE))
		return false;
	struct iovec v[IOV_CHUNK];
	if (e == FD_PRIV || (cnt > 0 && cnt <= IOV_CHUNK && umem_read(v, iov, (size_t)cnt * sizeof(*v))))
		return write_hook(fd, v, cnt, off, ret);
	copy_write_unseen(fd, e);
	return false;
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
	if (writev_hook(fd, iov, cnt, -1, &r))
		return r;
	return real.writev(fd, iov, cnt);
}

SHIM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ENSURE_INIT();
	ssize_t r;
	if (off >= 0 && writev_hook(fd, iov, cnt, off, &r))
		return r;
	return real.pwritev(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ENSURE_INIT();
	ssize_t r;
	PRIV_GUARD(fd, -1);
	if (flags)  /* RWF_APPEND, RWF_DSYNC...: not a plain copy */
		copy_settle_fd(fd, "pwritev2 flags");
	else if (off >= -1 && writev_hook(fd, iov, cnt, off, &r))
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
	PRIV_GUARD(out, -1);
	PRIV_GUARD(in, -1);
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
	PRIV_GUARD(out, -1);
	PRIV_GUARD(in, -1);
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
	PRIV_GUARD(out, -1);
	PRIV_GUARD(in, -1);
	settle_if_copy(in, "splice");
	settle_if_copy(out, "splice");
	return real.splice(in, inoff, out, outoff, len, flags);
}
