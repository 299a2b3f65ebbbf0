/*
 * kernel.h — the few pieces of Linux's user ABI the library uses, defined
 * here so that it builds against glibc or musl without the kernel's
 * headers (musl-gcc does not see /usr/include/linux), and against C
 * libraries older than the kernel features it handles (glibc 2.28, RHEL 8,
 * and 2.31, Debian 11: tests/oldglibc.sh).
 */
#ifndef SHIM_KERNEL_H
#define SHIM_KERNEL_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/*
 * System calls newer than the C library's list of names: glibc defines
 * SYS_x only for the calls it knew of (2.31 stops at Linux 5.4), whatever
 * the kernel headers say. A program built there still makes them, through
 * syscall() or a newer libc's wrapper, and we must recognise them. Numbers
 * from 424 on are the same on every architecture.
 */
#ifndef SYS_openat2
#define SYS_openat2 437 /* Linux 5.6 */
#endif
#ifndef SYS_close_range
#define SYS_close_range 436 /* Linux 5.9 */
#endif

/* linux/fs.h */
struct k_clone_range {
	int64_t src_fd;
	uint64_t src_offset, src_length, dest_offset;
};
#define K_FICLONE _IOW(0x94, 9, int)
#define K_FICLONERANGE _IOW(0x94, 13, struct k_clone_range)

/* linux/fiemap.h */
struct k_fiemap_extent {
	uint64_t fe_logical, fe_physical, fe_length, fe_reserved64[2];
	uint32_t fe_flags, fe_reserved[3];
};
struct k_fiemap {
	uint64_t fm_start, fm_length;
	uint32_t fm_flags, fm_mapped_extents, fm_extent_count, fm_reserved;
	struct k_fiemap_extent fm_extents[];
};
#define K_FS_IOC_FIEMAP _IOWR('f', 11, struct k_fiemap)
/* getdents64's record (linux_dirent64). */
struct k_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define K_FIEMAP_FLAG_SYNC 0x1u
#define K_FIEMAP_EXTENT_LAST 0x1u
#define K_FIEMAP_EXTENT_UNWRITTEN 0x800u
#define K_FIEMAP_EXTENT_DELALLOC 0x4u
#define K_FIEMAP_EXTENT_SHARED 0x2000u

/* linux/kcmp.h */
#define K_KCMP_VM 1

/* ioctl's request parameter: unsigned long in glibc, int in musl. */
#ifdef __GLIBC__
typedef unsigned long ioctl_req_t;
#else
typedef int ioctl_req_t;
#endif

/*
 * Functions we export that some libcs do not declare (musl 1.2.3 has no
 * statx, close_range, closefrom, execveat, preadv2, pwritev2). The
 * prototypes match glibc's.
 */
#include <sys/types.h>
#include <sys/uio.h>
struct statx;
int statx(int, const char *, int, unsigned, struct statx *);
int close_range(unsigned, unsigned, int);
void closefrom(int);
int execveat(int, const char *, char *const[], char *const[], int);
ssize_t preadv2(int, const struct iovec *, int, off_t, int);
ssize_t pwritev2(int, const struct iovec *, int, off_t, int);

/* linux/close_range.h */
#define K_CLOSE_RANGE_CLOEXEC (1u << 2)

/* struct statx: glibc declares it in <sys/stat.h>, musl 1.2.3 does not. */
#ifndef STATX_TYPE
struct statx_timestamp {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t statx_reserved;
};
struct statx {
	uint32_t stx_mask, stx_blksize;
	uint64_t stx_attributes;
	uint32_t stx_nlink, stx_uid, stx_gid;
	uint16_t stx_mode, statx_spare0;
	uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
	struct statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
	uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
	uint64_t statx_spare2[14];
};
#define STATX_INO 0x100u
#define STATX_MTIME 0x40u
#define STATX_CTIME 0x80u
#endif

#endif
