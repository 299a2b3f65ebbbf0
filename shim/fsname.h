/*
 * fsname.h — filesystem types by statfs f_type (shared by the library and
 * the wrapper).
 */
#ifndef SHIM_FSNAME_H
#define SHIM_FSNAME_H

#include <stdbool.h>

/* "xfs", "ext4", ...; "unknown-fs" for a type not in the table. */
const char *fs_type_name(long type);

/*
 * Filesystems that never implement remap_file_range (ext4, tmpfs, vfat,
 * fuse, ...). Anything else (XFS, btrfs, bcachefs, but also NFS, CIFS,
 * OCFS2, overlayfs over those) is worth one real attempt, whose failure is
 * then remembered.
 */
bool fs_type_cannot_clone(long type);

#endif
