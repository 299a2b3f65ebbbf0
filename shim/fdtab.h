/*
 * fdtab.h — what the library knows about each file descriptor.
 *
 * One word per fd, read on every intercepted call, so the common case (an
 * fd that is not part of a copy) costs one relaxed load and a compare.
 * Values below FD_PTR_MIN are states; anything else is a pointer to the
 * struct copy the fd writes (FD_DEST) or merely reads (tagged FD_ALIAS).
 *
 * Entries can go stale: glibc's stdio, closefrom(), posix_spawn and raw
 * system calls close fds without passing through our wrappers. Nothing
 * destructive is ever done on the strength of an entry alone: the copy
 * module re-checks (st_dev, st_ino) before acting.
 */
#ifndef SHIM_FDTAB_H
#define SHIM_FDTAB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FD_UNKNOWN = 0,  /* never looked at (or reset by open/close/dup) */
	FD_PLAIN = 1,    /* not a regular file: pass everything through */
	FD_REG = 2,      /* regular file; its first write is still to be judged */
	FD_REG_DONE = 3, /* regular file whose first write was judged: not a copy */
	FD_BUSY = 4,     /* a thread is judging this fd's first write */
	FD_PRIV = 5,     /* one of the library's private fds: closed, to the program */
	FD_PTR_MIN = 4096,
};
#define FD_ALIAS_TAG ((uintptr_t)1)

struct copy;

extern uintptr_t *fdtab;           /* fd -> state or tagged struct copy * */
extern const void **fdhint;        /* fd -> buffer of its last read (source hint) */
extern long long *fdread;          /* fd -> bytes read by read()/readv() since classified */
extern long long *fdsize;          /* fd -> size when classified as a regular file */
extern unsigned fdtab_size;        /* 0 while disabled: every fd is FD_PLAIN */
extern int fdtab_top;              /* no fd above this has ever had an entry */

/* Allocates the table (lazily faulted anonymous memory). */
void fdtab_init(void);

/*
 * The table's size, published (release) after its arrays by fdtab_init,
 * which may run on any thread at its first wrapper call: an acquire load
 * (a plain load on x86) makes the arrays visible before they are used.
 */
static inline unsigned fd_limit(void)
{
	return __atomic_load_n(&fdtab_size, __ATOMIC_ACQUIRE);
}

static inline uintptr_t fd_get(int fd)
{
	if ((unsigned)fd >= fd_limit())
		return FD_PLAIN;
	return __atomic_load_n(&fdtab[fd], __ATOMIC_ACQUIRE);
}

/* Raises fdtab_top to fd (entries above it are known to be zero). */
static inline void fd_note_top(int fd)
{
	int top = __atomic_load_n(&fdtab_top, __ATOMIC_RELAXED);
	while (fd > top && !__atomic_compare_exchange_n(&fdtab_top, &top, fd, 0, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
		;
}

static inline void fd_put(int fd, uintptr_t v)
{
	if ((unsigned)fd < fd_limit()) {
		if (v)
			fd_note_top(fd);
		__atomic_store_n(&fdtab[fd], v, __ATOMIC_RELEASE);
	}
}

static inline int fd_cas(int fd, uintptr_t old, uintptr_t v)
{
	if ((unsigned)fd >= fd_limit())
		return 0;
	if (v)
		fd_note_top(fd);
	return __atomic_compare_exchange_n(&fdtab[fd], &old, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* One of the library's own fds: to the program, a closed one. */
static inline int fd_is_private(int fd) { return fd_get(fd) == FD_PRIV; }

/* In a wrapper: a call on one of our fds fails as on a closed fd. */
#define PRIV_GUARD(fd, ret)                                \
	do {                                               \
		if (__builtin_expect(fd_is_private(fd), 0)) { \
			errno = EBADF;                     \
			return ret;                        \
		}                                          \
	} while (0)

static inline int fd_is_copy(uintptr_t e) { return e >= FD_PTR_MIN; }
static inline struct copy *fd_copy(uintptr_t e) { return (struct copy *)(e & ~FD_ALIAS_TAG); }
static inline int fd_is_alias(uintptr_t e) { return e >= FD_PTR_MIN && (e & FD_ALIAS_TAG); }

static inline void fd_hint(int fd, const void *buf)
{
	if ((unsigned)fd < fd_limit())
		__atomic_store_n(&fdhint[fd], buf, __ATOMIC_RELAXED);
}

/* Counts bytes a sequential read returned, for "was this file read whole". */
static inline void fd_count_read(int fd, long long n)
{
	if ((unsigned)fd < fd_limit())
		__atomic_add_fetch(&fdread[fd], n, __ATOMIC_RELAXED);
}

/* Forgets everything about fd's past (a new file may get its number). */
static inline void fd_reset(int fd)
{
	if ((unsigned)fd < fd_limit()) {
		__atomic_store_n(&fdhint[fd], NULL, __ATOMIC_RELAXED);
		__atomic_store_n(&fdsize[fd], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&fdread[fd], 0, __ATOMIC_RELAXED);
	}
}

static inline void fd_set_size(int fd, long long size)
{
	if ((unsigned)fd < fd_limit()) {
		__atomic_store_n(&fdsize[fd], size, __ATOMIC_RELAXED);
		__atomic_store_n(&fdread[fd], 0, __ATOMIC_RELAXED);
	}
}

/* The fd was read from start to end (at least its classified size). */
static inline int fd_read_whole(int fd, long long min)
{
	if ((unsigned)fd >= fd_limit())
		return 0;
	long long size = __atomic_load_n(&fdsize[fd], __ATOMIC_RELAXED);
	return size > 0 && size >= min && __atomic_load_n(&fdread[fd], __ATOMIC_RELAXED) >= size;
}

static inline const void *fd_get_hint(int fd)
{
	if ((unsigned)fd >= fd_limit())
		return 0;
	return __atomic_load_n(&fdhint[fd], __ATOMIC_RELAXED);
}

#endif
