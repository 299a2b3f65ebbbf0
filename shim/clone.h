/*
 * clone.h — FICLONE, what its errors mean, and what we remember about them.
 *
 * Errors fall in three classes (see docs/DESIGN.md, "Clone errors"):
 *   unsupported  EOPNOTSUPP/ENOTTY/ENOSYS: this filesystem cannot clone;
 *                EXDEV: these two files are on different filesystems.
 *                Remembered per (source dev, destination dev) pair.
 *   pair         EINVAL/EBADF/EISDIR/ETXTBSY/EPERM: this pair cannot.
 *   real         EIO/ENOSPC/EDQUOT/EROFS/ENOMEM/EFBIG/EINTR/...: the
 *                program's own write will meet it if it is still there.
 * In every case the caller falls back to doing what the program asked.
 */
#ifndef SHIM_CLONE_H
#define SHIM_CLONE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "stats.h"

enum clone_class { CLONE_OK, CLONE_UNSUPPORTED, CLONE_PAIR, CLONE_REAL_ERROR };

/*
 * Whether a clone from sfd into dfd is worth attempting: false for
 * filesystem types that cannot clone (fstatfs, cached per device) and for
 * device pairs a clone already failed on (clone_forget_pair).
 */
bool clone_possible(int dfd, dev_t ddev, int sfd, dev_t sdev);

/* Whether every read on this device (one clone_possible said yes to)
 * updates atime: mounted strictatime, as statfs said then. */
bool clone_dev_strictatime(dev_t dev);

/* Whether a read of the file (stat st) leaves its atime as it is, on a
 * filesystem mounted relatime or noatime (strictatime false): an atime
 * later than mtime and ctime and less than a day old. */
bool atime_stays(const struct stat *st, bool strictatime);

/* The fs_class (fsname.h) of a device clone_possible said yes to, from
 * the cache: no system call. -1 when not known (never asked, or
 * forgotten: the table is a ring). */
int clone_dev_class(dev_t dev);

/* The fs_class of fd's filesystem (on device dev) when the shim clones
 * there, else -1: clone_possible's per-device verdict, asked with one
 * fstatfs the first time. */
int clone_dev_class_fd(int fd, dev_t dev);

/* Whether a file on fd's filesystem (device dev) may ever be a clone's
 * source: its fs_class, or -1. One fstatfs per device, cached; no fd, no
 * log line (a reader asks it, at a read: ZFS's module is judged only by
 * a writer). */
int clone_dev_source_class(int fd, dev_t dev);

/* FICLONE sfd into dfd; returns the class and stores errno in *err. */
enum clone_class clone_file(int dfd, int sfd, int *err);

/* Why no clone from sfd into dfd is possible (after clone_possible said
 * so, or a clone failed as unsupported): WHY_OTHER_FS or WHY_UNSUPPORTED,
 * with the destination's statfs f_type in *fstype. Costs two fstatfs. */
enum why_not clone_why_not(int dfd, int sfd, long *fstype);

/* Remembers that (sdev, ddev) cannot clone. */
void clone_forget_pair(dev_t sdev, dev_t ddev);

/*
 * Checks that [0, size) of sfd is fully backed by written extents (no hole,
 * no unwritten preallocation): a clone then reproduces exactly the
 * allocation a dense copy would make. Stores the extent count in *extents.
 * Returns false when the layout is not dense or cannot be read, or when it
 * has more than clone_extent_limit(size) extents (counting stops there).
 */
bool clone_source_dense(int sfd, off_t size, long *extents, void *buf, size_t buflen);

/*
 * Whether [from, to) of fd lies wholly in extents that are still shared
 * (flushed first): nothing was written there since it was cloned. buf is
 * scratch space for the FIEMAP batch.
 */
bool clone_range_shared(int fd, off_t from, off_t to, void *buf, size_t buflen);

/* Most extents a source of this size may have and still be cloned (0: no
 * limit): REFLINK_SHIM_MAX_EXTENTS, else one per 32 KiB. */
long clone_extent_limit(off_t size);

#endif
