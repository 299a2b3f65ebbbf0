/*
 * fsname.c — filesystem type names for messages.
 */
#include "fsname.h"

const char *fs_type_name(long type)
{
	switch ((unsigned long)type) {
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0xca451a4e: return "bcachefs";
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x858458f6: return "ramfs";
	case 0x4d44: return "vfat";
	case 0x2011BAB0: return "exfat";
	case 0x5346544e: return "ntfs";
	case 0xF2F52010: return "f2fs";
	case 0x65735546: return "fuse";
	case 0x6969: return "nfs";
	case 0xFF534D42: return "cifs";
	case 0xFE534D42: return "smb2";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	case 0x7461636f: return "ocfs2";
	case 0x9fa0: return "proc";
	case 0x62656572: return "sysfs";
	default: return "unknown-fs";
	}
}
