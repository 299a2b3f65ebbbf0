/*
 * fsname.h — filesystem types by statfs f_type (shared by the library and
 * the wrapper): their names, and whether the shim clones on them.
 */
#ifndef SHIM_FSNAME_H
#define SHIM_FSNAME_H

/* "xfs", "ext4", ...; "unknown-fs" for a type not in the table. */
const char *fs_type_name(long type);

/*
 * What the shim does on a filesystem type (docs/DESIGN.md, "Filesystems").
 * Safe by default: a clone is attempted only where the shim's proof that
 * D holds what the program wrote (ctime, FIEMAP) is known to hold.
 */
enum fs_clone {
	FS_CLONE,          /* XFS, btrfs, bcachefs, overlayfs: one real attempt per
	                      device pair, whose failure is then remembered */
	FS_CLONE_NEVER,    /* never implements remap_file_range (ext4, tmpfs, fuse...) */
	FS_CLONE_REFUSED,  /* may clone, but the proof does not hold there (network
	                      and cluster filesystems), or a type we do not know */
	FS_CLONE_ZFS,      /* OpenZFS: only a module without the block-cloning
	                      corruption of 2.2.0 and 2.2.1 (clone.c) */
};

enum fs_clone fs_type_clone(long type);

/*
 * Filesystem types whose size thresholds differ (config.h, cfg.min_size):
 * where a clone beats the copy depends on what the copy's writeback and the
 * clone cost there (docs/DESIGN.md, "When the clone is not attempted").
 */
enum fs_class { FS_CLASS_OTHER, FS_CLASS_XFS, FS_CLASS_BTRFS, FS_CLASSES };

enum fs_class fs_type_class(long type);

/* For FS_CLONE_REFUSED and FS_CLONE_ZFS: why the shim does not clone there
 * although the kernel may ("nfs: ctime comes from the server..."); else NULL. */
const char *fs_type_refusal(long type);

#endif
