/*
 * clone.c — K_FICLONE, which filesystems the shim clones on (fsname.c's
 * table, and for OpenZFS the module's version), and the per-device cache.
 */
#define _GNU_SOURCE
#include "clone.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>

#include "config.h"
#include "fsname.h"
#include "kernel.h"
#include "real.h"
#include "shim.h"
#include "sys.h"

/*
 * A small lock-free cache of device pairs, each slot guarded by a sequence
 * count (odd while written): a reader that saw it move, or odd, treats the
 * slot as empty, so it never takes one key's verdict for another's (a
 * torn read only costs a probe again). A writer that finds the slot busy
 * leaves it: this is a cache. No fences (TSan cannot model them): the
 * writer's field stores are releases, so a reader whose acquire load sees
 * one also sees the odd count that came before it, and its second reading
 * of the count, after those acquires, cannot match the first.
 */
#define PAIR_SLOTS 64
/* verdict: -1 cannot; a device's that can: DEV_CAN | its fs_class << 2,
 * plus DEV_STRICTATIME where every read stamps atime. */
struct pair { unsigned seq; dev_t sdev, ddev; int verdict; };
#define DEV_CAN 1
#define DEV_STRICTATIME 2
static struct pair pairs[PAIR_SLOTS];
static unsigned pair_next;

static int pair_lookup(dev_t sdev, dev_t ddev)
{
	for (unsigned i = 0; i < PAIR_SLOTS; i++) {
		struct pair *p = &pairs[i];
		unsigned seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		int v = __atomic_load_n(&p->verdict, __ATOMIC_ACQUIRE);
		bool match = __atomic_load_n(&p->sdev, __ATOMIC_ACQUIRE) == sdev &&
			     __atomic_load_n(&p->ddev, __ATOMIC_ACQUIRE) == ddev;
		if (v && match && !(seq & 1) && __atomic_load_n(&p->seq, __ATOMIC_RELAXED) == seq)
			return v;
	}
	return 0;
}

static void pair_store(dev_t sdev, dev_t ddev, int verdict)
{
	struct pair *p = &pairs[__atomic_fetch_add(&pair_next, 1, __ATOMIC_RELAXED) % PAIR_SLOTS];
	unsigned seq = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	if ((seq & 1) || !__atomic_compare_exchange_n(&p->seq, &seq, seq + 1, false, __ATOMIC_ACQUIRE,
						       __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&p->verdict, verdict, __ATOMIC_RELEASE);
	__atomic_store_n(&p->sdev, sdev, __ATOMIC_RELEASE);
	__atomic_store_n(&p->ddev, ddev, __ATOMIC_RELEASE);
	__atomic_store_n(&p->seq, seq + 2, __ATOMIC_RELEASE);
}

void clone_forget_pair(dev_t sdev, dev_t ddev)
{
	pair_store(sdev, ddev, -1);
}

static int raw_ioctl(int fd, unsigned long req, void *arg)
{
	return real.ioctl(fd, req, arg);
}

/*
 * Whether an OpenZFS module of version v (/sys/module/zfs/version, n
 * bytes: "2.2.2-1", "2.2.0-rc4", "2.3.0-1ubuntu1", "2.2.99-365_g8f2f6cd2")
 * is one we clone on: 2.2.2 or later. 2.2.0 and 2.2.1 could leave chunks
 * of zeros or stale data in files they cloned (OpenZFS #15526, fixed in
 * 2.2.2); distributions that backported the fix keep the version, which
 * cannot tell us so. Anything we cannot parse is refused.
 */
static bool zfs_version_safe(const char *v, size_t n)
{
	long part[3];
	size_t i = 0;
	for (int k = 0; k < 3; k++) {
		size_t start = i;
		part[k] = 0;
		for (; i < n && v[i] >= '0' && v[i] <= '9' && i - start < 6; i++)
			part[k] = part[k] * 10 + (v[i] - '0');
		if (i == start || (i < n && v[i] >= '0' && v[i] <= '9'))
			return false;
		if (k < 2 && (i >= n || v[i++] != '.'))
			return false;
	}
	if (part[0] != 2)
		return part[0] > 2;
	if (part[1] != 2)
		return part[1] > 2;
	return part[2] >= 2;
}

/* Logs "no-clone" for fd with the parts of the reason joined (when logging). */
static void log_no_clone(int fd, long num, const char *a, const char *b, const char *c)
{
	if (!cfg.log)
		return;
	char detail[160];
	const char *parts[3] = { a, b, c };
	size_t k = 0;
	for (int i = 0; i < 3; i++)
		for (const char *q = parts[i]; *q && k < sizeof(detail) - 1; q++)
			detail[k++] = *q;
	detail[k] = 0;
	shim_log("no-clone", fd, num, detail);
}

/* 0: not read yet; 1: a version we clone on; -1: not (or unreadable). */
static int zfs_verdict;

/*
 * The OpenZFS module's verdict, read once per process (the module cannot
 * change under a mounted dataset). A /sys/module/zfs/version we cannot
 * read (no /sys in a container, a module too old to say) refuses.
 */
static bool zfs_module_safe(int fd)
{
	int v = __atomic_load_n(&zfs_verdict, __ATOMIC_RELAXED);
	if (v)
		return v > 0;
	char version[32];
	long n = -1;
	int saved = errno;
	int vfd = (int)SYS(SYS_openat, AT_FDCWD, "/sys/module/zfs/version", O_RDONLY | O_CLOEXEC);
	if (vfd >= 0) {
		n = SYS(SYS_read, vfd, version, sizeof(version) - 1);
		SYS(SYS_close, vfd);
	}
	errno = saved;
	v = n > 0 && zfs_version_safe(version, (size_t)n) ? 1 : -1;
	__atomic_store_n(&zfs_verdict, v, __ATOMIC_RELAXED);
	if (v < 0 && n > 0) {
		version[n] = 0;
		for (long i = 0; i < n; i++)
			if (version[i] == '\n')
				version[i] = 0;
		log_no_clone(fd, 0, "zfs ", version, ": clones refused (2.2.0 and 2.2.1 could corrupt them)");
	} else if (v < 0) {
		log_no_clone(fd, 0, "zfs: /sys/module/zfs/version unreadable: clones refused", "", "");
	}
	return v > 0;
}

/* Whether the shim clones on this filesystem type at all. */
static bool type_may_clone(int fd, long type)
{
	switch (fs_type_clone(type)) {
	case FS_CLONE:
		return true;
	case FS_CLONE_ZFS:
		return zfs_module_safe(fd);
	default:
		return false;
	}
}

/* Per-device verdict from fstatfs, cached in the same table under the key
 * (dev, ~dev), which no pair of devices has. */
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
	long type = (long)sf.f_type;
	bool ok = type_may_clone(fd, type);
	if (fs_type_clone(type) == FS_CLONE_REFUSED)
		log_no_clone(fd, type, fs_type_name(type), ": ", fs_type_refusal(type));
	int strict = (sf.f_flags & (ST_RELATIME | ST_NOATIME)) ? 0 : DEV_STRICTATIME;
	pair_store(dev, ~dev, !ok ? -1 : DEV_CAN | strict | (int)fs_type_class(type) << 2);
	return ok;
}

bool clone_dev_strictatime(dev_t dev)
{
	/* Forgotten (the table is a ring): assume the worst. */
	int v = pair_lookup(dev, ~dev);
	return v <= 0 || (v & DEV_STRICTATIME);
}

bool atime_stays(const struct stat *st, bool strictatime)
{
	struct timespec now;
	const struct timespec *a = &st->st_atim;
	bool later = (a->tv_sec > st->st_mtim.tv_sec ||
		      (a->tv_sec == st->st_mtim.tv_sec && a->tv_nsec > st->st_mtim.tv_nsec)) &&
		     (a->tv_sec > st->st_ctim.tv_sec ||
		      (a->tv_sec == st->st_ctim.tv_sec && a->tv_nsec > st->st_ctim.tv_nsec));
	/* A minute short of the kernel's day: its clock and ours differ. */
	return later && !strictatime && clock_gettime(CLOCK_REALTIME_COARSE, &now) == 0 &&
	       now.tv_sec - a->tv_sec < 24 * 60 * 60 - 60;
}

int clone_dev_class(dev_t dev)
{
	int v = pair_lookup(dev, ~dev);
	return v > 0 ? v >> 2 : -1;
}

int clone_dev_class_fd(int fd, dev_t dev)
{
	return dev_may_clone(fd, dev) ? clone_dev_class(dev) : -1;
}

/* Cached under the key (~dev, dev), which no pair of devices has either. */
int clone_dev_source_class(int fd, dev_t dev)
{
	int v = pair_lookup(~dev, dev);
	if (!v) {
		struct statfs sf;
		int saved = errno;
		int rc = fstatfs(fd, &sf);
		errno = saved;
		if (rc != 0)
			return -1;
		enum fs_clone c = fs_type_clone((long)sf.f_type);
		v = c == FS_CLONE || c == FS_CLONE_ZFS ? DEV_CAN | (int)fs_type_class((long)sf.f_type) << 2 : -1;
		pair_store(~dev, dev, v);
	}
	return v > 0 ? v >> 2 : -1;
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
	if (!ok || !type_may_clone(dfd, (long)d.f_type))
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
