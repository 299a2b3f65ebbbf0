/*
 * fsname.c — what we know about filesystem types: their usual names (for
 * messages) and which can never clone. One table, for the library and the
 * wrapper.
 */
#include "fsname.h"

#include <stddef.h>

static const struct {
	unsigned long magic;
	const char *name;
	bool no_clone;  /* never implements remap_file_range */
} fs_types[] = {
	{ 0x58465342, "xfs", false },
	{ 0x9123683E, "btrfs", false },
	{ 0xca451a4e, "bcachefs", false },
	{ 0x6969, "nfs", false },
	{ 0xFF534D42, "cifs", false },
	{ 0xFE534D42, "smb2", false },
	{ 0x794c7630, "overlayfs", false },
	{ 0x2fc12fc1, "zfs", false },
	{ 0x7461636f, "ocfs2", false },
	{ 0xEF53, "ext4", true },
	{ 0x01021994, "tmpfs", true },
	{ 0x858458f6, "ramfs", true },
	{ 0x4d44, "vfat", true },
	{ 0x2011BAB0, "exfat", true },
	{ 0x5346544e, "ntfs", true },
	{ 0xF2F52010, "f2fs", true },
	{ 0x65735546, "fuse", true },
	{ 0x9fa0, "proc", true },
	{ 0x62656572, "sysfs", true },
};

const char *fs_type_name(long type)
{
	for (size_t i = 0; i < sizeof(fs_types) / sizeof(fs_types[0]); i++)
		if (fs_types[i].magic == (unsigned long)type)
			return fs_types[i].name;
	return "unknown-fs";
}

bool fs_type_cannot_clone(long type)
{
	for (size_t i = 0; i < sizeof(fs_types) / sizeof(fs_types[0]); i++)
		if (fs_types[i].magic == (unsigned long)type)
			return fs_types[i].no_clone;
	return false;
}
