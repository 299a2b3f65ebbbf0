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

/*
 * A state's two low bits say which calls may bypass the library altogether
 * (the wrappers' fast path is one load and a bit test): reads of a regular
 * file the library has already seen read, writes of one whose first write
 * was judged, everything on an fd that is not a regular file. Bit 2 marks
 * a regular file; then bit 0 means "read at least once" and bit 1 "first
 * write judged: not a copy". Pointers (>= FD_PTR_MIN, 8-aligned) have the
 * low bits clear, so every call on a copy's fd takes the slow path.
 */
#define FD_PASS_READ ((uintptr_t)1)
#define FD_PASS_WRITE ((uintptr_t)2)
#define FD_REG_BIT ((uintptr_t)4)
#define FD_SRC_BIT ((uintptr_t)8)
enum {
	FD_UNKNOWN = 0,      /* never looked at (or reset by open/close/dup) */
	FD_PLAIN = 3,        /* not a regular file: pass everything through */
	FD_REG = 4,          /* regular file, not read yet, first write to be judged */
	FD_REG_READ = 5,     /* ... read at least once (a possible source) */
	FD_REG_DONE = 6,     /* first write judged: not a copy (a regular file, or an fd
	                      * judged with no source in sight, whose type was not asked) */
	FD_REG_DONE_READ = 7,
	/* A regular file some copy verifies against, read through this fd:
	 * FD_REG_BIT | FD_SRC_BIT, plus FD_PASS_WRITE once judged. Its reads
	 * take the slow path, which vets their bytes for in-place comparison
	 * (umem.h). */
	FD_SRC = 12,
	FD_SRC_DONE = 14,
	FD_BUSY = 16,        /* a thread is judging this fd's first write */
	FD_PRIV = 32,        /* one of the library's private fds: closed, to the program */
	FD_PTR_MIN = 4096,
};
#define FD_ALIAS_TAG ((uintptr_t)4)

/* A regular file not part of a copy (any of FD_REG..FD_SRC_DONE). */
static inline int fd_is_reg(uintptr_t e) { return e < FD_BUSY && (e & FD_REG_BIT); }
/* A regular file that was read: a possible source. */
static inline int fd_was_read(uintptr_t e) { return fd_is_reg(e) && (e & (FD_PASS_READ | FD_SRC_BIT)); }
/* Its first write is still to be judged (FD_UNKNOWN: not even classified). */
static inline int fd_unjudged(uintptr_t e) { return e == FD_UNKNOWN || (fd_is_reg(e) && !(e & FD_PASS_WRITE)); }
/* The state after judging e's first write "not a copy". */
static inline uintptr_t fd_judged(uintptr_t e) { return fd_is_reg(e) ? e | FD_PASS_WRITE : FD_REG_DONE; }

struct copy;

/* Declared hidden (not only defined so): the fast paths then address them
 * directly instead of through the GOT. */
#define FDTAB_HIDDEN __attribute__((visibility("hidden")))
extern uintptr_t *fdtab FDTAB_HIDDEN;  /* fd -> state or tagged struct copy * */
extern const void **fdhint;        /* fd -> buffer of its first read (source hint) */
extern long long *fdsize;          /* fd -> size when classified as a regular file */
extern long long *fdflags;         /* fd -> open flags our open saw, tagged (fd_known_flags) */
extern unsigned fd_share_gen;      /* fd_descriptions_shared() calls, from 1 */
extern unsigned fdtab_size FDTAB_HIDDEN;  /* 0 until published, and once off */
extern int fdtab_top;              /* no fd above this has ever had an entry */

/* Allocates the table (lazily faulted anonymous memory). */
void fdtab_init(void);

/*
 * The end of the table's mapping: FDTAB_SPARE bytes of address space the
 * index of sources (share.h) is attached over. Mapped with the table, at
 * start-up, so it is never a range the program held: a program that
 * unmaps a range twice, or maps MAP_FIXED where it unmapped, cannot hit
 * it (a segment attached wherever the kernel chose was overwritten so, and
 * the next publish wrote into the program's data). NULL when not mapped.
 */
#define FDTAB_SPARE ((size_t)640 << 10)
extern void *fdtab_spare;

/* Turns the table on: from here on the wrappers' fast path calls the real
 * functions directly, so init publishes it only once they are resolved. */
void fdtab_publish(void);

/* Turns it off for good (disabled late, or inert): every fd is FD_PLAIN. */
void fdtab_disable(void);

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

/*
 * The wrappers' fast path: whether a call of kind `pass` (FD_PASS_READ or
 * FD_PASS_WRITE) on fd may go straight to libc. False for an fd beyond the
 * table, and for every fd while the table is not published (before the
 * first wrapper call has resolved libc, when disabled, when inert): the
 * slow path handles those.
 */
static inline int fd_passes(int fd, uintptr_t pass)
{
	if ((unsigned)fd >= fd_limit())
		return 0;
	return (__atomic_load_n(&fdtab[fd], __ATOMIC_RELAXED) & pass) != 0;
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

/* Forgets everything about fd's past (a new file may get its number). */
static inline void fd_reset(int fd)
{
	if ((unsigned)fd < fd_limit()) {
		__atomic_store_n(&fdhint[fd], NULL, __ATOMIC_RELAXED);
		__atomic_store_n(&fdsize[fd], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&fdflags[fd], 0, __ATOMIC_RELAXED);
	}
}

/*
 * The open flags of a file the program opened through our open wrappers.
 * Only O_APPEND, O_DIRECT, O_NONBLOCK, O_NOATIME and O_ASYNC can change
 * later (F_SETFL), and only through its open file description: by this
 * process (our fcntl wrapper forgets them) or by another process sharing
 * the description. So they are kept with the generation of
 * fd_descriptions_shared() and trusted only while no description has been
 * shared since (fork, clone, a spawned child, fds sent over a socket: the
 * generation moves before and after the call that makes the child), and
 * no vfork child has ended (its opens store into our table: it bumps the
 * generation at its exec or _exit). -1: not known, ask the kernel.
 */
/* The generation, read before the open: a fork between the kernel's open
 * and our store must leave the flags stale. */
static inline unsigned fd_flags_gen(void)
{
	return __atomic_load_n(&fd_share_gen, __ATOMIC_ACQUIRE);
}

static inline void fd_set_flags(int fd, int flags, unsigned gen)
{
	if ((unsigned)fd < fd_limit())
		__atomic_store_n(&fdflags[fd], (long long)gen << 32 | (unsigned)flags, __ATOMIC_RELAXED);
}

static inline int fd_known_flags(int fd)
{
	if ((unsigned)fd >= fd_limit())
		return -1;
	long long v = __atomic_load_n(&fdflags[fd], __ATOMIC_RELAXED);
	if ((unsigned)(v >> 32) != __atomic_load_n(&fd_share_gen, __ATOMIC_ACQUIRE))
		return -1;
	return (int)(unsigned)v;
}

/* Another process may share every open file description from now on. */
static inline void fd_descriptions_shared(void)
{
	__atomic_add_fetch(&fd_share_gen, 1, __ATOMIC_ACQ_REL);
}

static inline void fd_set_size(int fd, long long size)
{
	if ((unsigned)fd < fd_limit())
		__atomic_store_n(&fdsize[fd], size, __ATOMIC_RELAXED);
}

static inline long long fd_get_size(int fd)
{
	if ((unsigned)fd >= fd_limit())
		return 0;
	return __atomic_load_n(&fdsize[fd], __ATOMIC_RELAXED);
}

static inline const void *fd_get_hint(int fd)
{
	if ((unsigned)fd >= fd_limit())
		return 0;
	return __atomic_load_n(&fdhint[fd], __ATOMIC_RELAXED);
}

#endif
