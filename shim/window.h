/*
 * window.h — a copy's source S, and the window of S's bytes that the
 * program's writes are compared with.
 *
 * Verification never reads D (its clone is not in the page cache): it
 * compares with S, through a window of up to WIN_CAP bytes read with pread.
 * That is valid only while S is the file it was at the clone: same device,
 * inode and size, and an unchanged ctime (the kernel moves ctime on every
 * data change). The copy module takes S's identity before the clone and
 * re-checks it after the clone and after every refill (source_unchanged).
 *
 * S is read through the program's fd while it has one; after the program
 * closes it, by name (opened, checked to be the same unchanged file, read
 * and closed again within the refill), so that no fd of ours outlives the
 * program's last fd on S.
 */
#ifndef SHIM_WINDOW_H
#define SHIM_WINDOW_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#define WIN_CAP (1u << 20)      /* bytes of S held for comparison */
#define SCRATCH_CAP (64u << 10) /* program bytes copied in, when not vetted (umem.h) */
#define PATH_CAP 4096           /* PATH_MAX: a closed source's name */

struct source {
	/* S as it was when cloned */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
	int fd;             /* the program's fd we read S through, -1 if none */
	int bypath;         /* fd closed: S is read by name (path) for each refill */
	unsigned lockgen;   /* copy_lock_gen when the program closed S */
	/* WIN_CAP bytes of S, then the scratch, then the path: one mapping,
	 * made once per record and kept (the pool never unmaps). */
	unsigned char *win;
	off_t winoff;
	size_t winlen;      /* 0: the window holds nothing */
	unsigned char *scratch;  /* SCRATCH_CAP bytes: copies of program bytes, FIEMAP */
	char *path;
};

static inline bool same_ts(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Maps the window, scratch and path buffers once. False when out of memory. */
bool source_map(struct source *src);

/* Reads fd's name (through /proc/self/fd) into path (cap bytes). False
 * for a file that has no name any more, or one too long for path. */
bool source_path(int fd, char *path, size_t cap);

/*
 * Opens the regular file (dev, ino) at path for our own reading, if the
 * name still leads to it and no POSIX lock was taken since `lockgen`.
 * Returns the fd, or -1. The caller closes it before its wrapper returns.
 */
int source_open_by_name(const char *path, dev_t dev, ino_t ino, unsigned lockgen);

/* The file sfd refers to is still S as cloned: same identity and size,
 * unchanged ctime. */
bool source_unchanged(const struct source *src, int sfd);

/*
 * Compares the n bytes of iov with S[pos, pos + n), refilling the window
 * from sfd (or by name when sfd < 0) where it does not cover them; the
 * first refill reads `first_read` bytes when non-zero (a cheap probe), else
 * a whole window. True when equal. *refilled tells the caller to re-check S
 * (source_unchanged) before trusting the answer.
 */
bool window_verify(struct source *src, int sfd, off_t pos, const struct iovec *iov, int cnt, size_t n,
		   size_t first_read, bool *refilled);

/* Drops the window's contents (S may be another file from now on). */
static inline void window_forget(struct source *src)
{
	src->winlen = 0;
}

#endif
