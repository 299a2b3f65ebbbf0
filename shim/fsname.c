/*
 * fsname.c — what we know about filesystem types: their usual names (for
 * messages) and whether the shim clones on them. One table, for the library
 * and the wrapper.
 */
#include "fsname.h"

#include <stddef.h>

#define NETWORK "ctime comes from the server's clock and the client caches it (a change can go unseen)"

static const struct {
	unsigned long magic;
	const char *name;
	enum fs_clone clone;
	const char *refusal;  /* FS_CLONE_REFUSED, FS_CLONE_ZFS: why not */
} fs_types[] = {
	{ 0x58465342, "xfs", FS_CLONE, NULL },
	{ 0x9123683E, "btrfs", FS_CLONE, NULL },
	{ 0xca451a4e, "bcachefs", FS_CLONE, NULL },
	{ 0x794c7630, "overlayfs", FS_CLONE, NULL },
	{ 0x2fc12fc1, "zfs", FS_CLONE_ZFS,
	  "no FIEMAP: a source cannot be shown free of holes (and 2.2.0, 2.2.1 could corrupt clones)" },
	{ 0x6969, "nfs", FS_CLONE_REFUSED, NETWORK },
	{ 0xFF534D42, "cifs", FS_CLONE_REFUSED, NETWORK },
	{ 0xFE534D42, "smb2", FS_CLONE_REFUSED, NETWORK },
	{ 0x7461636f, "ocfs2", FS_CLONE_REFUSED, "ctime comes from other nodes' clocks" },
	{ 0xEF53, "ext4", FS_CLONE_NEVER, NULL },
	{ 0x01021994, "tmpfs", FS_CLONE_NEVER, NULL },
	{ 0x858458f6, "ramfs", FS_CLONE_NEVER, NULL },
	{ 0x4d44, "vfat", FS_CLONE_NEVER, NULL },
	{ 0x2011BAB0, "exfat", FS_CLONE_NEVER, NULL },
	{ 0x5346544e, "ntfs", FS_CLONE_NEVER, NULL },
	{ 0xF2F52010, "f2fs", FS_CLONE_NEVER, NULL },
	{ 0x65735546, "fuse", FS_CLONE_NEVER, NULL },
	{ 0x9fa0, "proc", FS_CLONE_NEVER, NULL },
	{ 0x62656572, "sysfs", FS_CLONE_NEVER, NULL },
};

static int lookup(long type)
{
	for (size_t i = 0; i < sizeof(fs_types) / sizeof(fs_types[0]); i++)
		if (fs_types[i].magic == (unsigned long)type)
			return (int)i;
	return -1;
}

const char *fs_type_name(long type)
{
	int i = lookup(type);
	return i >= 0 ? fs_types[i].name : "unknown-fs";
}

enum fs_clone fs_type_clone(long type)
{
	int i = lookup(type);
	return i >= 0 ? fs_types[i].clone : FS_CLONE_REFUSED;
}

enum fs_class fs_type_class(long type)
{
	switch ((unsigned long)type) {
	case 0x58465342:
		return FS_CLASS_XFS;
	case 0x9123683E:
		return FS_CLASS_BTRFS;
	default:
		return FS_CLASS_OTHER;
	}
}

const char *fs_type_refusal(long type)
{
	int i = lookup(type);
	if (i < 0)
		return "a filesystem type reflink-shim does not know";
	return fs_types[i].refusal;
}
