/*
 * clone.c — K_FICLONE and the per-filesystem capability cache.
 */
#define _GNU_SOURCE
#include "clone.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "config.h"
#include "fsname.h"
#include "kernel.h"
#include "real.h"
#include "shim.h"

/*
 * A small lock-free cache of device pairs: each slot is written once with a
 * single atomic store of (sdev, ddev, verdict) packed into two words, so a
 * reader sees either an old or a new entry, never a torn one that matters
 * (a torn read can only cost a redundant probe).
 */
#define PAIR_SLOTS 64
struct pair { dev_t sdev, ddev; int verdict; };  /* verdict: 1 can, -1 cannot */
static struct pair pairs[PAIR_SLOTS];
static unsigned pair_next;

static int pair_lookup(dev_t sdev, dev_t ddev)
{
	for (unsigned i = 0; i < PAIR_SLOTS; i++) {
		int v = __atomic_load_n(&pairs[i].verdict, __ATOMIC_ACQUIRE);
		if (v && __atomic_load_n(&pairs[i].sdev, __ATOMIC_RELAXED) == sdev &&
		    __atomic_load_n(&pairs[i].ddev, __ATOMIC_RELAXED) == ddev)
			return v;
	}
	return 0;
}

static void pair_store(dev_t sdev, dev_t ddev, int verdict)
{
	unsigned i = __atomic_fetch_add(&pair_next, 1, __ATOMIC_RELAXED) % PAIR_SLOTS;
	__atomic_store_n(&pairs[i].verdict, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&pairs[i].sdev, sdev, __ATOMIC_RELAXED);
	__atomic_store_n(&pairs[i].ddev, ddev, __ATOMIC_RELAXED);
	__atomic_store_n(&pairs[i].verdict, verdict, __ATOMIC_RELEASE);
}

void clone_forget_pair(dev_t sdev, dev_t ddev)
{
	pair_store(sdev, ddev, -1);
}

static int raw_ioctl(int fd, unsigned long req, void *arg)
{
	return real.ioctl(fd, req, arg);
}

/* Per-device verdict from fstatfs, cached in the same table with sdev == ddev
 * marked by verdict 2/-2 so pair and device entries never collide. */
static bool dev_may_clone(int fd, dev_t dev)
{
	int v = pair_lookup(dev, ~dev);
	if (v)
		return v > 0;
	struct statfs sf;
	int saved = errno;
	int rc = fstatfs(fd, &sf);
	errno = saved;
	if (rc != 0)
		return false;
	bool ok = !fs_type_cannot_clone((long)sf.f_type);
	pair_store(dev, ~dev, ok ? 1 : -1);
	return ok;
}

enum why_not clone_why_not(int dfd, int sfd, long *fstype)
{
	struct statfs d, s;
	int saved = errno;
	bool ok = fstatfs(dfd, &d) == 0 && fstatfs(sfd, &s) == 0;
	errno = saved;
	*fstype = ok ? (long)d.f_type : 0;
	if (ok && d.f_type != s.f_type)
		return WHY_OTHER_FS;
	if (!ok || fs_type_cannot_clone((long)d.f_type))
		return WHY_UNSUPPORTED;
	struct stat ds, ss;
	if (fstat(dfd, &ds) == 0 && fstat(sfd, &ss) == 0 && ds.st_dev != ss.st_dev)
		return WHY_OTHER_FS;  /* a clone-capable type whose clone failed: two mounts */
	return WHY_UNSUPPORTED;
}

bool clone_possible(int dfd, dev_t ddev, int sfd, dev_t sdev)
{
	if (pair_lookup(sdev, ddev) < 0)
		return false;
	return dev_may_clone(dfd, ddev) && dev_may_clone(sfd, sdev);
}

enum clone_class clone_file(int dfd, int sfd, int *err)
{
	int saved = errno;
	int rc = raw_ioctl(dfd, K_FICLONE, (void *)(long)sfd);
	*err = rc ? errno : 0;
	errno = saved;
	if (rc == 0)
		return CLONE_OK;
	switch (*err) {
	case EOPNOTSUPP: case ENOTTY: case ENOSYS: case EXDEV:
		return CLONE_UNSUPPORTED;
	case EINVAL: case EBADF: case EISDIR: case ETXTBSY: case EPERM:
		return CLONE_PAIR;
	default:
		return CLONE_REAL_ERROR;
	}
}


/*
 * Cloning costs per extent (17-36 µs measured on XFS, a 1 GiB source in
 * 262,144 4 KiB extents took 4.5-9.5 s), copying per byte (that file took
 * 2.7 s by read/write from cache): below an average of 32 KiB per extent a
 * copy wins, or comes close enough that the clone is not worth the risk.
 */
#define AUTO_EXTENT_BYTES (32 * 1024)

long clone_extent_limit(off_t size)
{
	if (cfg.max_extents >= 0)
		return cfg.max_extents;
	return (long)(size / AUTO_EXTENT_BYTES) + 1;
}

/*
 * Walks fd's extents over [from, to) with FIEMAP_FLAG_SYNC (XFS shows
 * extents under writeback as unwritten; a buffered write over a shared
 * extent is copied on write only at writeback). True if they cover it with
 * no gap, none has a flag in `bad` and each has every flag in `need`.
 * Counts them in *count, and gives up past `limit` (0: none).
 */
static bool extents_cover(int fd, off_t from, off_t to, unsigned bad, unsigned need, long limit,
			  long *count, void *buf, size_t buflen)
{
	/* The caller's buffer, not our stack: wrappers must fit a 16 KiB
	 * thread stack or an 8 KiB signal stack. */
	struct k_fiemap *fm = buf;
	unsigned batch = (unsigned)((buflen - sizeof(*fm)) / sizeof(struct k_fiemap_extent));
	off_t pos = from;
	int saved = errno;
	bool ok = true;
	*count = 0;
	while (ok && pos < to) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = (uint64_t)pos;
		fm->fm_length = (uint64_t)(to - pos);
		fm->fm_extent_count = batch;
		fm->fm_flags = K_FIEMAP_FLAG_SYNC;
		if (raw_ioctl(fd, K_FS_IOC_FIEMAP, fm) != 0 || fm->fm_mapped_extents == 0) {
			ok = false;
			break;
		}
		for (unsigned i = 0; i < fm->fm_mapped_extents && pos < to; i++) {
			struct k_fiemap_extent *x = &fm->fm_extents[i];
			/* The extent holding pos may start before it; one that
			 * starts after it leaves a hole. */
			if ((off_t)x->fe_logical > pos || (x->fe_flags & bad) || (x->fe_flags & need) != need) {
				ok = false;
				break;
			}
			pos = (off_t)(x->fe_logical + x->fe_length);
			++*count;
			if ((x->fe_flags & K_FIEMAP_EXTENT_LAST) && pos < to)
				ok = false;
		}
		/* Stop counting early: walking 262,144 extents costs 0.7 s. */
		if (limit > 0 && *count > limit)
			ok = false;
	}
	errno = saved;
	return ok;
}

bool clone_source_dense(int sfd, off_t size, long *extents, void *buf, size_t buflen)
{
	/* No hole, no preallocated space that reads as zeros. */
	return extents_cover(sfd, 0, size, K_FIEMAP_EXTENT_UNWRITTEN, 0, clone_extent_limit(size), extents,
			     buf, buflen);
}

bool clone_range_shared(int fd, off_t from, off_t to, void *buf, size_t buflen)
{
	long n;
	return extents_cover(fd, from, to, K_FIEMAP_EXTENT_UNWRITTEN | K_FIEMAP_EXTENT_DELALLOC,
			     K_FIEMAP_EXTENT_SHARED, 0, &n, buf, buflen);
}
