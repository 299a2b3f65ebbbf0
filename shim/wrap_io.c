/*
 * wrap_io.c — interposed data-movement calls: read/write families,
 * sendfile, copy_file_range, splice.
 *
 * The common case is one table load and a bit test (fdtab.h): an fd that
 * is not a regular file, a regular file already seen read (for reads) or
 * whose first write was judged not a copy (for writes) goes straight to
 * libc, about six instructions. The first read of a regular file is seen
 * once: it marks the fd as a possible source, stores the buffer address as
 * a hint for finding it later, and vets the bytes the kernel filled
 * (umem.h), as does every read of a copy's source. Nothing here
 * dereferences the program's memory before the kernel has accepted it.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "real.h"
#include "shim.h"
#include "umem.h"

/*
 * Every read and write wrapper starts with the fast path: one load and a bit
 * test on the fd's entry (fd_passes), then a tail call to libc. An fd that
 * is not a regular file, a regular file already seen read (for reads) or
 * whose first write was judged (for writes) takes it. Everything else goes
 * to an out-of-line slow path, which also runs the library's
 * initialisation (the table is published only once libc is resolved).
 */
#define SLOW __attribute__((noinline, cold))

/*
 * A read that missed the fast path: how much of it to pass on. Returns
 * false with errno set to fail the call now; *m = 0 with n > 0 answers EOF.
 * *vet: vet the bytes the kernel fills (a regular file's first read, and
 * every read of a copy's source: the writes that follow compare in place).
 */
static bool read_begin(int fd, void *buf, size_t n, off_t off, size_t *m, bool *vet)
{
	ENSURE_INIT();
	uintptr_t e = fd_get(fd);
	*m = n;
	*vet = false;
	if (e == FD_PRIV) {
		errno = EBADF;
		return false;
	}
	if (!(e & FD_PASS_READ) && off >= -1)
		*m = copy_read_begin(fd, e, n, off, buf, vet);
	return true;
}

static inline ssize_t read_end(const void *buf, ssize_t r, bool vet)
{
	if (vet) {
		if (r > 0)
			umem_vet(buf, (size_t)r);
		copy_read_end(buf, r);
	}
	return r;
}

SLOW static ssize_t read_slow(int fd, void *buf, size_t n)
{
	size_t m;
	bool vet;
	if (!read_begin(fd, buf, n, -1, &m, &vet))
		return -1;
	if (m == 0 && n)
		return 0;
	return read_end(buf, real.read(fd, buf, m), vet);
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (likely(fd_passes(fd, FD_PASS_READ)))
		return real.read(fd, buf, n);
	return read_slow(fd, buf, n);
}

SLOW static ssize_t read_chk_slow(int fd, void *buf, size_t n, size_t buflen)
{
	size_t m;
	bool vet;
	if (n > buflen)  /* let libc report the overflow */
		return real.__read_chk(fd, buf, n, buflen);
	if (!read_begin(fd, buf, n, -1, &m, &vet))
		return -1;
	if (m == 0 && n)
		return 0;
	return read_end(buf, real.__read_chk(fd, buf, m, buflen), vet);
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (likely(fd_passes(fd, FD_PASS_READ)))
		return real.__read_chk(fd, buf, n, buflen);
	ENSURE_INIT();
	return read_chk_slow(fd, buf, n, buflen);
}

SLOW static ssize_t pread_slow(int fd, void *buf, size_t n, off_t off)
{
	size_t m;
	bool vet;
	/* off < 0: EINVAL from the kernel */
	if (!read_begin(fd, buf, n, off < 0 ? -2 : off, &m, &vet))
		return -1;
	if (m == 0 && n)
		return 0;
	return read_end(buf, real.pread(fd, buf, m, off), vet);
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	if (likely(fd_passes(fd, FD_PASS_READ)))
		return real.pread(fd, buf, n, off);
	return pread_slow(fd, buf, n, off);
}

SLOW static ssize_t pread_chk_slow(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	size_t m;
	bool vet;
	if (n > buflen)
		return real.__pread_chk(fd, buf, n, off, buflen);
	if (!read_begin(fd, buf, n, off < 0 ? -2 : off, &m, &vet))
		return -1;
	if (m == 0 && n)
		return 0;
	return read_end(buf, real.__pread_chk(fd, buf, m, off, buflen), vet);
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (likely(fd_passes(fd, FD_PASS_READ)))
		return real.__pread_chk(fd, buf, n, off, buflen);
	ENSURE_INIT();
	return pread_chk_slow(fd, buf, n, off, buflen);
}

/*
 * Vector reads never look at the program's iovec array before the kernel
 * has (it may be a bad pointer): a destination being copied is settled
 * first instead of having its count cut, and the source hint is taken from
 * the array only after the kernel accepted it.
 */
SLOW static int vread_before(int fd)
{
	ENSURE_INIT();
	uintptr_t e = fd_get(fd);
	PRIV_GUARD(fd, -1);
	if (fd_is_copy(e)) {
		copy_settle_fd(fd, "vector read of a destination");
	} else if (!(e & FD_PASS_READ)) {
		bool vet;
		(void)copy_read_begin(fd, e, 0, -1, NULL, &vet);  /* classifies the fd */
	}
	return 0;
}

static inline ssize_t vread_after(int fd, const struct iovec *iov, ssize_t r)
{
	if (r > 0 && fd_was_read(fd_get(fd)) && !fd_get_hint(fd))
		fd_hint(fd, iov[0].iov_base);
	return r;
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (likely(fd_passes(fd, FD_PASS_READ)))
		return real.readv(fd, iov, cnt);
	if (vread_before(fd))
		return -1;
	return vread_after(fd, iov, real.readv(fd, iov, cnt));
}

SHIM_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (likely(fd_passes(fd, FD_PASS_READ)))
		return real.preadv(fd, iov, cnt, off);
	if (vread_before(fd))
		return -1;
	return vread_after(fd, iov, real.preadv(fd, iov, cnt, off));
}

SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ENSURE_INIT();
	if (!fd_passes(fd, FD_PASS_READ) && vread_before(fd))
		return -1;
	return vread_after(fd, iov, real.preadv2(fd, iov, cnt, off, flags));
}

/*
 * Offers a write that missed the fast path to the copy module; true when it
 * answered the call (*ret). iov is ours (a single buffer the program passed
 * to write/pwrite).
 */
static bool write_hook(int fd, const struct iovec *iov, int cnt, off_t off, ssize_t *ret)
{
	uintptr_t e = fd_get(fd);
	if (e & FD_PASS_WRITE)
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
	if (e & FD_PASS_WRITE)
		return false;
	struct iovec v[IOV_CHUNK];
	if (e == FD_PRIV || (cnt > 0 && cnt <= IOV_CHUNK && umem_read(v, iov, (size_t)cnt * sizeof(*v))))
		return write_hook(fd, v, cnt, off, ret);
	copy_write_unseen(fd, e);
	return false;
}

SLOW static ssize_t write_slow(int fd, const void *buf, size_t n)
{
	ENSURE_INIT();
	struct iovec v = { (void *)buf, n };
	ssize_t r;
	if (write_hook(fd, &v, 1, -1, &r))
		return r;
	return real.write(fd, buf, n);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (likely(fd_passes(fd, FD_PASS_WRITE)))
		return real.write(fd, buf, n);
	return write_slow(fd, buf, n);
}

SLOW static ssize_t pwrite_slow(int fd, const void *buf, size_t n, off_t off)
{
	ENSURE_INIT();
	struct iovec v = { (void *)buf, n };
	ssize_t r;
	if (off >= 0 && write_hook(fd, &v, 1, off, &r))
		return r;
	return real.pwrite(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (likely(fd_passes(fd, FD_PASS_WRITE)))
		return real.pwrite(fd, buf, n, off);
	return pwrite_slow(fd, buf, n, off);
}

SLOW static ssize_t writev_slow(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ENSURE_INIT();
	ssize_t r;
	if (off >= -1 && writev_hook(fd, iov, cnt, off, &r))
		return r;
	return off == -1 ? real.writev(fd, iov, cnt) : real.pwritev(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (likely(fd_passes(fd, FD_PASS_WRITE)))
		return real.writev(fd, iov, cnt);
	return writev_slow(fd, iov, cnt, -1);
}

SHIM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (likely(fd_passes(fd, FD_PASS_WRITE)))
		return real.pwritev(fd, iov, cnt, off);
	/* off < 0: EINVAL from the kernel (never -1: that is writev's) */
	return off < 0 ? real.pwritev(fd, iov, cnt, off) : writev_slow(fd, iov, cnt, off);
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
	if (!(fd_get(out) & FD_PASS_WRITE)) {
		bool handled;
		ssize_t r = copy_transfer(out, in, off, NULL, count, false, &handled);
		if (handled)
			return r;
	} else if (out == STDOUT_FILENO) {
		copy_transfer_to_stdout(in, off);
	}
	return real.sendfile(out, in, off, count);
}

SHIM_EXPORT ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned flags)
{
	ENSURE_INIT();
	PRIV_GUARD(out, -1);
	PRIV_GUARD(in, -1);
	settle_if_copy(in, "copy_file_range from a destination");
	if (!flags && !(fd_get(out) & FD_PASS_WRITE)) {
		bool handled;
		ssize_t r = copy_transfer(out, in, inoff, outoff, len, true, &handled);
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
