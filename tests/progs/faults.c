/*
 * faults.so — fault injection for the shim's own calls. Preloaded after the
 * shim (LD_PRELOAD=libreflink-shim.so:faults.so), it is what the shim
 * resolves as the "real" ioctl and pread, so it can make them fail:
 *
 *   FAULT_CLONE=EIO|ENOSPC|...   FICLONE/FICLONERANGE fail with that errno
 *                                (the kernel is not called)
 *   FAULT_PREAD=short|eio|eof|eintr
 *                                every pread returns half, fails with EIO,
 *                                returns 0, or fails with EINTR every other call
 *   FAULT_PREAD_AFTER=N          ... but only from the (N+1)th pread on
 *   FAULT_CLONE_PARTIAL=EIO|...  FICLONE/FICLONERANGE first leave the
 *                                destination partly written, then fail with
 *                                that errno (OpenZFS documents that a failed
 *                                clone may do this): bytes of 0xAA written
 *                                at the destination offset (0 for FICLONE),
 *                                which extends its size
 *   FAULT_CLONE_PARTIAL_LEN=N|src  ... that many bytes (default 65536), or
 *                                as many as the source has
 *   FAULT_CLONE_PARTIAL_AT=N     ... at offset N of D for FICLONE: past S's
 *                                end, it stands for another writer's bytes
 *                                landing just before a clone that then fails
 *   FAULT_FSTYPE=MAGIC           fstatfs and statfs report f_type MAGIC
 *                                (e.g. 0x2fc12fc1, ZFS) for files on XFS:
 *                                the test XFS gets another type's decisions
 *
 * The test programs copy with read/write, so every pread is the shim's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common.h"

static int errno_of(const char *name)
{
	static const struct { const char *n; int e; } t[] = {
		{ "EOPNOTSUPP", EOPNOTSUPP }, { "EXDEV", EXDEV }, { "EINVAL", EINVAL },
		{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EINTR", EINTR }, { "ETXTBSY", ETXTBSY },
		{ "EPERM", EPERM }, { "EBADF", EBADF }, { "EDQUOT", EDQUOT }, { "ENOMEM", ENOMEM },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcmp(name, t[i].n))
			return t[i].e;
	die("faults.so: unknown errno %s", name);
}

/*
 * What a clone that failed half-way leaves: 0xAA bytes in the destination
 * from `at` on. Through libc's own pwrite and statx (RTLD_NEXT): the names
 * pwrite and statx bind to the shim's wrappers, and the shim is in the
 * middle of judging this destination's first write. (statx, not fstat:
 * glibc before 2.33 has no fstat to look up.)
 */
static void scribble(int dfd, int sfd, off_t at)
{
	static ssize_t (*next_pwrite)(int, const void *, size_t, off_t);
	static int (*next_statx)(int, const char *, int, unsigned, struct statx *);
	if (!next_pwrite)
		next_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	if (!next_statx)
		next_statx = (int (*)(int, const char *, int, unsigned, struct statx *))dlsym(RTLD_NEXT, "statx");
	const char *l = getenv("FAULT_CLONE_PARTIAL_LEN");
	long long len = 65536;
	struct statx sx;
	if (l && !strcmp(l, "src"))
		len = next_statx(sfd, "", AT_EMPTY_PATH, STATX_SIZE, &sx) == 0 ? (long long)sx.stx_size : 0;
	else if (l)
		len = num(l);
	static unsigned char junk[65536];
	memset(junk, 0xAA, sizeof(junk));
	for (long long done = 0; done < len;) {
		size_t n = len - done < (long long)sizeof(junk) ? (size_t)(len - done) : sizeof(junk);
		ssize_t w = next_pwrite(dfd, junk, n, at + done);
		if (w <= 0)
			break;
		done += w;
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	const char *p = getenv("FAULT_CLONE_PARTIAL");
	if (p && (req == FICLONE || req == FICLONERANGE)) {
		int e = errno_of(p);
		if (req == FICLONE)
			scribble(fd, (int)(long)arg, getenv("FAULT_CLONE_PARTIAL_AT") ? num(getenv("FAULT_CLONE_PARTIAL_AT")) : 0);
		else
			scribble(fd, (int)((struct file_clone_range *)arg)->src_fd,
				 (off_t)((struct file_clone_range *)arg)->dest_offset);
		errno = e;
		return -1;
	}
	const char *f = getenv("FAULT_CLONE");
	if (f && (req == FICLONE || req == FICLONERANGE)) {
		errno = errno_of(f);
		return -1;
	}
	static int (*next)(int, unsigned long, ...);
	if (!next)
		next = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return next(fd, req, arg);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	static ssize_t (*next)(int, void *, size_t, off_t);
	static int calls;
	if (!next)
		next = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
	const char *f = getenv("FAULT_PREAD");
	static int seen;
	const char *after = getenv("FAULT_PREAD_AFTER");
	if (after && __atomic_fetch_add(&seen, 1, __ATOMIC_RELAXED) < atoi(after))
		f = NULL;
	if (f && !strcmp(f, "eio")) {
		errno = EIO;
		return -1;
	}
	if (f && !strcmp(f, "eof"))
		return 0;
	if (f && !strcmp(f, "eintr") && (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) & 1)) {
		errno = EINTR;
		return -1;
	}
	if (f && !strcmp(f, "short") && n > 1)
		n /= 2;
	return next(fd, buf, n, off);
}
__attribute__((alias("pread"))) ssize_t pread64(int, void *, size_t, off_t);

#define XFS_MAGIC 0x58465342

static int fake_type(int rc, struct statfs *sf)
{
	const char *t = getenv("FAULT_FSTYPE");
	if (rc == 0 && t && sf->f_type == XFS_MAGIC)
		sf->f_type = (__fsword_t)strtoul(t, NULL, 0);
	return rc;
}

int fstatfs(int fd, struct statfs *sf)
{
	static int (*next)(int, struct statfs *);
	if (!next)
		next = (int (*)(int, struct statfs *))dlsym(RTLD_NEXT, "fstatfs");
	return fake_type(next(fd, sf), sf);
}

int statfs(const char *path, struct statfs *sf)
{
	static int (*next)(const char *, struct statfs *);
	if (!next)
		next = (int (*)(const char *, struct statfs *))dlsym(RTLD_NEXT, "statfs");
	return fake_type(next(path, sf), sf);
}
