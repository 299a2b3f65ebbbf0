/*
 * copy.c — the copy state machine.
 *
 * A destination D is armed at its first write when that write starts at
 * offset 0 of an empty regular file and its bytes equal the bytes at the
 * same offsets of a source S the program has been reading (or, for
 * sendfile/copy_file_range, that the kernel was asked to copy from S).
 * Arming clones the whole of S into D with one FICLONE. From then on:
 *
 *   hi     how much of D the program has written: [0, hi) equals what it
 *          wrote; D's real content beyond hi is the rest of S, which the
 *          program has not written (yet). Everything the program observes
 *          (fstat, lseek, reads, stat by path, a second fd) is cut at hi.
 *   accept a write at hi whose bytes equal D's bytes there: move the file
 *          offset, count it, touch no data.
 *   settle anything else: cut D back to hi (ftruncate), stop tracking, and
 *          let the call through. After a settle the copy is an ordinary
 *          file the program has written hi bytes into.
 *
 * Verification never reads D (its clone is not in the page cache): it
 * compares with S through a window of S's bytes (window.c), valid only while
 * S has not changed since the clone. S's ctime is taken before the clone
 * and re-checked after the clone and after every refill of the window;
 * the kernel updates ctime on every data change (multigrain timestamps
 * make two changes distinguishable), so an unchanged ctime proves the
 * window holds what D holds. See docs/DESIGN.md.
 */
#define _GNU_SOURCE
#include "copy.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clone.h"
#include "config.h"
#include "fdtab.h"
#include "fsname.h"
#include "gate.h"
#include "init.h"
#include "kernel.h"
#include "real.h"
#include "share.h"
#include "shim.h"
#include "stats.h"
#include "sys.h"
#include "umem.h"
#include "window.h"

#define PROBE_LEN 4096       /* first comparison before reading a whole window */
#define MAX_CANDIDATES 8

struct copy {
	pthread_mutex_t lock;
	struct copy *next_free;
	struct copy *next_all;
	int active;          /* D may hold more than hi bytes */
	int ndest, nalias;   /* program fds that write D / read D separately */
	int owner;           /* pid that armed it */
	int dpriv;           /* private dup of D, so we can settle after D is gone */
	dev_t ddev;
	ino_t dino;
	struct timespec dctime;
	struct timespec dmtime;  /* D's mtime after the clone */
	off_t hi;
	int touched;         /* writes accepted after the arming one */
	int across;          /* S came from the index: another process read it */
	struct timespec wts; /* when the last accepted write would have stamped D */
	long blksize;        /* D's filesystem block size, once copy_file_range asked */
	struct source src;   /* S as cloned, and the window of its bytes */
};

int copies_active;
int priv_fd_base = 768;
unsigned copy_lock_gen;
int copy_inert;

/* ---- record pool: type-stable memory, so a racing reader never faults ---- */

#define CHUNK 64
static struct copy *pool_free;
static struct copy *pool_all;
static int pool_lock;

static void pool_acquire(void)
{
	while (__atomic_exchange_n(&pool_lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void pool_release(void)
{
	__atomic_store_n(&pool_lock, 0, __ATOMIC_RELEASE);
}

static struct copy *copy_alloc(void)
{
	pool_acquire();
	if (!pool_free) {
		struct copy *chunk = mmap(NULL, CHUNK * sizeof(struct copy), PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk == MAP_FAILED) {
			pool_release();
			return NULL;
		}
		for (int i = 0; i < CHUNK; i++) {
			pthread_mutex_init(&chunk[i].lock, NULL);
			/* Never fd 0: a fork child closes every record's dpriv. */
			chunk[i].dpriv = chunk[i].src.fd = -1;
			chunk[i].next_free = pool_free;
			pool_free = &chunk[i];
			chunk[i].next_all = pool_all;
			__atomic_store_n(&pool_all, &chunk[i], __ATOMIC_RELEASE);
		}
	}
	struct copy *c = pool_free;
	pool_free = c->next_free;
	pool_release();
	if (!source_map(&c->src)) {
		pool_acquire();
		c->next_free = pool_free;
		pool_free = c;
		pool_release();
		return NULL;
	}
	/* FOR_EACH_COPY reads `active` without the lock to skip idle records. */
	__atomic_store_n(&c->active, 0, __ATOMIC_RELAXED);
	c->ndest = c->nalias = c->touched = c->across = 0;
	c->dpriv = c->src.fd = -1;
	c->src.bypath = 0;
	c->hi = c->src.size = 0;
	window_forget(&c->src);
	return c;
}

static void copy_free(struct copy *c)
{
	pool_acquire();
	c->next_free = pool_free;
	pool_free = c;
	pool_release();
}

#define FOR_EACH_COPY(c) \
	for (struct copy *c = __atomic_load_n(&pool_all, __ATOMIC_ACQUIRE); c; c = c->next_all)

/*
 * A copy armed by this process and not settled: the only kind anything
 * acts on. A fork child inherits copies of its parent's records (and
 * settles none of them: they are the parent's); a vfork child shares them.
 */
static bool live(const struct copy *c)
{
	return c->active && c->owner == shim_pid;
}

/*
 * Whether the running process is the one the records belong to: not a
 * vfork child sharing our memory, nor a child made without the fork
 * handlers (_Fork, raw clone). A system call: never on a fast path.
 */
static bool pid_is_ours(void)
{
	return (int)SYS(SYS_getpid) == shim_pid;
}

/* ---- small helpers over the real calls ---- */

static off_t xlseek(int fd, off_t off, int whence)
{
	return real.lseek(fd, off, whence);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > (size_t)SHIM_MAX_RW - n)
			return SHIM_MAX_RW;
		n += iov[i].iov_len;
	}
	return n;
}

static int privs_open;  /* private fds currently held */

/*
 * A private dup of fd, numbered from priv_fd_base up (out of the way of the
 * lowest-free numbers the program gets) and marked FD_PRIV: every wrapped
 * call on it answers EBADF, as on a closed fd. Held only while a copy is
 * armed.
 */
/*
 * Serialises taking a private number with the program giving one up
 * (dup2/dup3 onto it, close_range over it): without it, a dup2 on another
 * thread could land on our number between its allocation and FD_PRIV, or
 * between FD_UNKNOWN and our close. Held only inside the gate (signals
 * blocked), so no handler can wait on it; taken under a record's lock
 * (dup_private, close_private), and no record's lock is taken under it.
 */
static int priv_lock;

static void priv_acquire(void)
{
	while (__atomic_exchange_n(&priv_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void priv_release(void)
{
	__atomic_store_n(&priv_lock, 0, __ATOMIC_RELEASE);
}

static int dup_private(int fd)
{
	priv_acquire();
	int p = real.fcntl(fd, F_DUPFD_CLOEXEC, priv_fd_base);
	if (p >= 0) {
		__atomic_add_fetch(&privs_open, 1, __ATOMIC_RELAXED);
		fd_reset(p);
		fd_put(p, FD_PRIV);
	}
	priv_release();
	return p;
}

/* Under priv_lock (taken under the record's lock, as dup_private is): a
 * dup2 onto the number between our table update and our close would have
 * its fd closed by us (fdrace dup2race: EBADF on the program's fd, 1 run in
 * 40 under load). */
static void close_private(int fd)
{
	priv_acquire();
	fd_put(fd, FD_UNKNOWN);
	SYS(SYS_close, fd);
	__atomic_sub_fetch(&privs_open, 1, __ATOMIC_RELAXED);
	priv_release();
}

/*
 * Whether the program's fd still refers to D (else the fd was closed and
 * reused behind our back) and nothing we did not see changed D since the
 * clone (its ctime moves on any change).
 */
enum dest_state { DEST_OK, DEST_REUSED, DEST_CHANGED };

static enum dest_state dest_check(struct copy *c, int fd)
{
	struct stat st;
	if (real_fstat(fd, &st) != 0 || st.st_dev != c->ddev || st.st_ino != c->dino)
		return DEST_REUSED;
	return same_ts(st.st_ctim, c->dctime) ? DEST_OK : DEST_CHANGED;
}

/* ---- settling ---- */

/* Settles c if process `pid` owns it. */
static void settle_owned(struct copy *c, const char *why, int pid)
{
	if (!c->active || c->owner != pid)
		return;
	__atomic_store_n(&c->active, 0, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&copies_active, 1, __ATOMIC_RELAXED);
	window_forget(&c->src);
	if (c->hi >= c->src.size)
		stats_cloned(c->src.size, c->across);
	else
		stats_not_cloned(WHY_DIFFERED, 0);
	if (c->dpriv < 0)
		return;
	struct stat st;
	if (real_fstat(c->dpriv, &st) != 0 || st.st_dev != c->ddev || st.st_ino != c->dino)
		return;
	int saved = errno;
	off_t keep = c->hi;
	bool others = !same_ts(st.st_ctim, c->dctime);
	bool punched = false;
	/* [hi, end) is what the clone put there and nobody else wrote if it is
	 * still shared with S; past S's end everything is someone else's. */
	off_t end = st.st_size < c->src.size ? st.st_size : c->src.size;
	/* A truncation inside S's range zeroes the rest of its last block,
	 * which unshares that block: only whole blocks below it are looked at. */
	off_t chk = end;
	if (st.st_size < c->src.size && st.st_blksize > 0)
		chk -= chk % st.st_blksize;
	bool tail_shared = others && (chk <= c->hi ||
				      clone_range_shared(c->dpriv, c->hi, chk, c->src.scratch, SCRATCH_CAP));
	if (tail_shared && st.st_size != c->src.size) {
		/* Someone resized D (truncate) or wrote only past S's end: what
		 * the program never wrote below that is a hole to it; their size
		 * stays. */
		/* To S's end, past a new EOF too: a hole, as a plain truncate
		 * leaves it (XFS keeps copy-on-write blocks around the EOF block
		 * it zeroed). */
		off_t pend = c->src.size;
		if (end <= c->hi || real.fallocate(c->dpriv, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						    c->hi, pend - c->hi) == 0) {
			keep = st.st_size > keep ? st.st_size : keep;
			punched = end > c->hi;
		}
	} else if (others && !tail_shared) {
		/* Someone wrote inside [hi, S's end): their bytes and S's share
		 * the blocks copied on write, and cannot be told apart
		 * (DESIGN.md). Keep what precedes the shared file offset, where
		 * writes through D's own description went. */
		off_t cur = xlseek(c->dpriv, 0, SEEK_CUR);
		if (cur > keep)
			keep = cur;
		if (keep != c->hi)
			shim_log("settle-ambiguous", c->dpriv, (long long)keep, "D written past hi by someone else");
	}
	/* D's mtime: the program's last write's, unless someone else set it
	 * (touch -d, a write): any change to D before our last accepted write
	 * would have settled the copy then, so theirs came later and our
	 * truncation must not overwrite it. ctime cannot be set: it becomes
	 * now (DESIGN.md). */
	struct timespec mt = same_ts(st.st_mtim, c->dmtime) ? c->wts : st.st_mtim;
	if (st.st_size > keep) {
		real.ftruncate(c->dpriv, keep);
		shim_log("settle-truncate", c->dpriv, (long long)keep, why);
	} else {
		shim_log("settle", c->dpriv, (long long)keep, why);
	}
	if (st.st_size > keep || punched || (c->touched && !same_ts(st.st_mtim, mt))) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, mt };
		real.futimens(c->dpriv, ts);
	}
	errno = saved;
}

static void settle_locked(struct copy *c, const char *why)
{
	/* A child that shares our memory (vfork) or was not announced
	 * (_Fork, raw clone) must not act on its parent's copies. */
	settle_owned(c, why, (int)SYS(SYS_getpid));
}

/* c is live and D is as we left it. A D changed behind our back, or an fd
 * no longer on D, settles the copy first: from then on the kernel answers. */
static bool live_unchanged(struct copy *c, int fd)
{
	if (!live(c))
		return false;
	if (dest_check(c, fd) == DEST_OK)
		return true;
	settle_locked(c, "destination changed behind our back");
	return false;
}

static void close_privates_locked(struct copy *c)
{
	if (c->dpriv >= 0)
		close_private(c->dpriv);
	c->dpriv = -1;
}

/* Drops one program fd's reference; frees the record with the last one. */
static void detach_locked(struct copy *c, bool alias, const char *why)
{
	if (alias)
		c->nalias--;
	else
		c->ndest--;
	if (c->ndest == 0) {
		settle_locked(c, why);
		close_privates_locked(c);
	}
}

static void release_if_unused(struct copy *c)
{
	if (c->ndest == 0 && c->nalias == 0)
		copy_free(c);
}

/*
 * Locks the copy fd refers to, if fd still refers to it. Returns NULL when
 * the entry changed under us (the caller re-reads it).
 */
static struct copy *lock_entry(int fd, uintptr_t ent)
{
	struct copy *c = fd_copy(ent);
	pthread_mutex_lock(&c->lock);
	if (fd_get(fd) != ent) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	return c;
}

/*
 * The frame every operation on copies runs in: errno saved (our own calls
 * must leave no trace in it) and the gate entered (gate.h: signals
 * blocked, no cancellation, fork waits for us). frame_leave undoes both.
 */
struct frame {
	struct gate_ctx g;
	int err;
};

static void frame_enter(struct frame *f)
{
	f->err = errno;
	gate_enter(&f->g);
}

static void frame_leave(struct frame *f)
{
	gate_leave(&f->g);
	errno = f->err;
}

/* Enters the frame and locks the copy fd's entry `ent` points to; NULL when
 * the entry changed meanwhile (the frame is entered either way). */
static struct copy *frame_lock(struct frame *f, int fd, uintptr_t ent)
{
	frame_enter(f);
	return lock_entry(fd, ent);
}

/* Unlocks c, if frame_lock gave one, and leaves the frame. */
static void frame_unlock(struct frame *f, struct copy *c)
{
	if (c)
		pthread_mutex_unlock(&c->lock);
	frame_leave(f);
}

static void forget_fd(int fd, uintptr_t ent, const char *why)
{
	struct copy *c = fd_copy(ent);
	pthread_mutex_lock(&c->lock);
	if (!fd_cas(fd, ent, FD_UNKNOWN)) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	detach_locked(c, fd_is_alias(ent), why);
	bool unused = c->ndest == 0 && c->nalias == 0;
	pthread_mutex_unlock(&c->lock);
	if (unused)
		release_if_unused(c);
}

/* ---- a source the program read whole and closed ---- */

/*
 * Python's open(d,'wb').write(open(s,'rb').read()) and Node's
 * writeFileSync(d, readFileSync(s)) read S in one call and close it before
 * the first write to D. When an fd that was read whole (and is large enough
 * to be worth a clone) is closed, we remember S's name and identity here:
 * no fd, so nothing the program closed stays open (its locks, leases, an
 * unlinked file's space, a mount). The next first write that is judged may
 * open S again by that name, proving it is the same file (open_by_name),
 * compare and clone, and closes it before returning.
 *
 * One slot, guarded by a try-lock: a signal handler that closes or writes
 * while the slot is taken simply does without it (a lost clone at worst).
 */
static struct {
	int lock;
	int full;
	const void *hint;    /* buffer of the program's last read of S */
	dev_t dev;
	ino_t ino;
	int fs;              /* fs_class of S's filesystem */
	unsigned lockgen;    /* copy_lock_gen at the close */
	char path[PATH_CAP];
} stash;

static bool stash_trylock(void)
{
	return !__atomic_exchange_n(&stash.lock, 1, __ATOMIC_ACQUIRE);
}

static void stash_unlock(void)
{
	__atomic_store_n(&stash.lock, 0, __ATOMIC_RELEASE);
}

/* fd, read whole, is being closed by the program: remember what it was. */
static void stash_remember(int fd)
{
	struct stat st;
	if (!stash_trylock())
		return;
	__atomic_store_n(&stash.full, 0, __ATOMIC_RELAXED);
	int fs;
	/* A file where no clone can come from is nobody's source. */
	if (real_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (fs = clone_dev_source_class(fd, st.st_dev)) >= 0 &&
	    source_path(fd, stash.path, PATH_CAP)) {
		stash.hint = fd_get_hint(fd);
		stash.dev = st.st_dev;
		stash.ino = st.st_ino;
		stash.fs = fs;
		stash.lockgen = __atomic_load_n(&copy_lock_gen, __ATOMIC_ACQUIRE);
		__atomic_store_n(&stash.full, 1, __ATOMIC_RELAXED);
	}
	stash_unlock();
}

/*
 * Empties the slot; when it held a source, copies its name into c->src.path
 * (where a copy cloned from it keeps it) and its identity into *rec.
 */
struct stashed {
	const void *hint;
	dev_t dev;
	ino_t ino;
	int fs;
	unsigned lockgen;
};

static bool stash_take(struct copy *c, struct stashed *rec)
{
	if (!__atomic_load_n(&stash.full, __ATOMIC_RELAXED) || !stash_trylock())
		return false;
	bool got = __atomic_load_n(&stash.full, __ATOMIC_RELAXED);
	if (got) {
		size_t n = strnlen(stash.path, PATH_CAP - 1);
		memcpy(c->src.path, stash.path, n);
		c->src.path[n] = 0;
		rec->hint = stash.hint;
		rec->dev = stash.dev;
		rec->ino = stash.ino;
		rec->fs = stash.fs;
		rec->lockgen = stash.lockgen;
		__atomic_store_n(&stash.full, 0, __ATOMIC_RELAXED);
	}
	stash_unlock();
	return got;
}

/* ---- sources other processes read (share.h) ---- */

/*
 * 1: this process neither publishes nor consumes (REFLINK_SHIM_SHARE unset or 0, a
 * privileged process, an index refused); 0: not decided yet; -1: on.
 */
static int share_state;
/* This process read from a pipe or a socket: its writes may carry another
 * process's file. Only such a process looks in the index, so a copier of
 * small files by read/write pays nothing for it. */
static int stream_fed;

static bool share_on(void)
{
	int v = __atomic_load_n(&share_state, __ATOMIC_RELAXED);
	if (v == 0) {
		v = !cfg.share || shim_is_secure() ? 1 : -1;
		__atomic_store_n(&share_state, v, __ATOMIC_RELAXED);
	}
	return v < 0;
}

/* The index, attached at this process's first use of it; NULL, and
 * sharing off for this process, when it is refused. */
static struct share_index *share_index(void)
{
	ERRNO_SAVE;  /* a first write's errno is the program's */
	struct share_index *ix = share_attach(fdtab_spare, FDTAB_SPARE);
	if (!ix) {
		__atomic_store_n(&share_state, 1, __ATOMIC_RELAXED);
		shim_log("no-share", -1, errno, "the index of sources cannot be attached or is not ours: no copy crosses a process");
	}
	ERRNO_RESTORE;
	return ix;
}

void copy_creds_changed(void)
{
	if (share_detach_if_other_user(fdtab_spare)) {
		__atomic_store_n(&share_state, 1, __ATOMIC_RELAXED);
		shim_log("no-share", -1, 0, "the effective user changed: no copy crosses a process");
	}
}

/* A thread's first read of a regular file from its start, pending until
 * the read returns its bytes (copy_read_end). */
static __thread struct {
	const void *buf;
	int fd;
	off_t off;
	bool known;         /* dev and ino from the fstat that classified fd */
	dev_t dev;
	ino_t ino;
} publishing __attribute__((tls_model("initial-exec")));


/*
 * Publishes the regular file (dev, ino) on fd, read from its start, whose
 * first SHARE_KEY_LEN bytes are at first (vetted), or, with first NULL,
 * read here. No fd of ours and no gate: a signal handler publishing
 * meanwhile at most tears a slot, which then reads as empty.
 */
static void share_publish_fd(int fd, dev_t dev, ino_t ino, const unsigned char *first)
{
	struct share_entry e;
	/* A file on a filesystem that never clones is nobody's source. */
	int fs = clone_dev_source_class(fd, dev);
	if (fs < 0)
		return;
	if (!first) {
		/* The program's transfer reads S too: the same atime. */
		if (real.pread(fd, &e, SHARE_KEY_LEN, 0) != SHARE_KEY_LEN)
			return;
		first = (const unsigned char *)&e;
	}
	e.key = share_key(first);
	if (!e.key || !source_path(fd, e.path, sizeof(e.path)))
		return;
	e.dev = dev;
	e.ino = ino;
	e.fs = (uint64_t)fs;
	struct share_index *ix = share_index();
	if (ix)
		share_publish(ix, &e);
}

void copy_read_end(const void *buf, ssize_t r)
{
	if (!buf || publishing.buf != buf)
		return;
	publishing.buf = NULL;
	int fd = publishing.fd;
	if (r < SHARE_KEY_LEN || !umem_is_vetted(buf, SHARE_KEY_LEN))
		return;
	ERRNO_SAVE;
	struct stat st;
	/* From its start: a read() is, when it left the offset at r. */
	if (publishing.off == 0 || (publishing.off == -1 && xlseek(fd, 0, SEEK_CUR) == (off_t)r)) {
		if (publishing.known)
			share_publish_fd(fd, publishing.dev, publishing.ino, buf);
		else if (real_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= cfg.min_size_floor)
			share_publish_fd(fd, st.st_dev, st.st_ino, buf);
	}
	ERRNO_RESTORE;
}

/* ---- arming ---- */

/* Waits out another thread's judgment of fd's first write. */
static uintptr_t wait_not_busy(int fd)
{
	uintptr_t e;
	while ((e = fd_get(fd)) == FD_BUSY)
		sched_yield();
	return e;
}

struct dest_info {
	struct stat st;
	off_t pos;
};

/*
 * Whether RLIMIT_FSIZE is unlimited: asked once, and again only after our
 * setrlimit/prlimit wrappers saw it set (the only way this process's limit
 * changes but another process's prlimit on us, which DESIGN.md lists).
 * The answer is kept with the generation it was asked in, so an answer
 * asked while a thread set the limit is never used.
 */
static unsigned long fsize_gen;
static unsigned long fsize_answer;  /* generation << 2 | 1 unlimited, 2 limited */

static bool fsize_unlimited(void)
{
	unsigned long gen = __atomic_load_n(&fsize_gen, __ATOMIC_ACQUIRE);
	unsigned long a = __atomic_load_n(&fsize_answer, __ATOMIC_ACQUIRE);
	if ((a & 3) && a >> 2 == gen)
		return (a & 3) == 1;
	struct rlimit rl;
	bool unlimited = getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY;
	__atomic_store_n(&fsize_answer, gen << 2 | (unlimited ? 1 : 2), __ATOMIC_RELEASE);
	return unlimited;
}

void copy_fsize_changed(void)
{
	__atomic_add_fetch(&fsize_gen, 1, __ATOMIC_ACQ_REL);
}

/* fd's open flags: as our open wrapper saw them, while nothing can have
 * changed them since (fdtab.h), else the kernel's. */
static int open_flags(int fd)
{
	int fl = fd_known_flags(fd);
	return fl >= 0 ? fl : real.fcntl(fd, F_GETFL);
}

/* D qualifies: empty regular file, writable, not appending, at offset 0. */
static uintptr_t judge_dest(int fd, off_t off, struct dest_info *d)
{
	if (real_fstat(fd, &d->st) != 0 || !S_ISREG(d->st.st_mode))
		return FD_PLAIN;
	if (d->st.st_size != 0)
		return FD_REG_DONE;
	int fl = open_flags(fd);
	/* O_DIRECT: the kernel checks each write's alignment (EINVAL), which
	 * a write we accept would skip. */
	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY || (fl & (O_APPEND | O_SYNC | O_DSYNC | O_DIRECT)))
		return FD_REG_DONE;
	d->pos = off >= 0 ? off : xlseek(fd, 0, SEEK_CUR);
	if (d->pos != 0)
		return FD_REG_DONE;
	/* A clone bypasses RLIMIT_FSIZE (no SIGXFSZ): keep those programs plain. */
	if (!fsize_unlimited())
		return FD_REG_DONE;
	return 0;
}

/*
 * The proof that S is unchanged compares ctimes. Without multigrain
 * timestamps (Linux before 6.13, or a filesystem without them) ctime has
 * the coarse clock's granularity: a change within the tick of the ctime we
 * saw would leave it as it was. So a ctime is trusted only once it is
 * older than the coarse clock's current tick (any later change then gets a
 * later ctime); a source changed within the current tick is waited out,
 * a few ticks at most, and looked at again. *st is refreshed.
 */
static bool ctime_settled(int s, struct stat *st)
{
	struct timespec res = { 0, 0 };
	for (int i = 0; i < 8; i++) {
		struct timespec now;
		if (clock_gettime(CLOCK_REALTIME_COARSE, &now) != 0)
			return false;
		if (st->st_ctim.tv_sec < now.tv_sec ||
		    (st->st_ctim.tv_sec == now.tv_sec && st->st_ctim.tv_nsec < now.tv_nsec))
			return true;
		if (!res.tv_nsec && (SYS(SYS_clock_getres, CLOCK_REALTIME_COARSE, &res) != 0 || !res.tv_nsec))
			res.tv_nsec = 4000000;
		SYS(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &res, NULL);
		if (real_fstat(s, st) != 0)
			return false;
	}
	return false;
}

/* Whether one transfer of len bytes from S's start moves all of its size
 * bytes (0: a write, which never does): the kernel moves at most
 * SHIM_MAX_RW in one call. */
static bool moves_all(long long size, size_t len)
{
	return (long long)(len < (size_t)SHIM_MAX_RW ? len : (size_t)SHIM_MAX_RW) >= size;
}

/*
 * The size from which a source of `size` bytes is cloned, for a transfer
 * of `len` bytes from its start (0: a write), into a filesystem of class
 * cls (-1: not known yet; then the smallest of all, and the judgement that
 * knows it decides). One call that moves all of S is cloned and finished
 * in that call: no verification, no fd listing, so its clone pays off from
 * a smaller size (cfg.whole_min_size).
 */
static long long min_size_for(long long size, size_t len, int cls)
{
	if (moves_all(size, len))
		return cfg.whole_min_size;
	return cls < 0 ? cfg.min_size_floor : cfg.min_size[cls];
}

/* Whether S qualifies as a clone source for a first write of n bytes. */
enum source_verdict { SRC_NO, SRC_SMALL, SRC_NO_CLONE, SRC_OK };

/* *st: S's stat, taken here unless `fresh` (taken in this same call).
 * whole: a transfer of that many bytes from S's start (0 for a write):
 * one that moves all of S has a threshold of its own (min_size_for). */
static enum source_verdict judge_source(int fd, const struct dest_info *d, int s, size_t n, struct stat *st,
					bool fresh, size_t whole)
{
	if ((!fresh && real_fstat(s, st) != 0) || !S_ISREG(st->st_mode))
		return SRC_NO;
	if (st->st_size < (off_t)n || st->st_size == 0)
		return SRC_NO;
	if (st->st_dev == d->st.st_dev && st->st_ino == d->st.st_ino)
		return SRC_NO;
	if (st->st_size < min_size_for(st->st_size, whole, -1))
		return SRC_SMALL;
	/* S open write-only or O_PATH: the clone fails (EBADF) and the
	 * program's own call meets the error. */
	if (!clone_possible(fd, d->st.st_dev, s, st->st_dev))
		return SRC_NO_CLONE;
	/* D's filesystem: its writeback is what a clone saves. */
	if (st->st_size < min_size_for(st->st_size, whole, clone_dev_class(d->st.st_dev)))
		return SRC_SMALL;
	return SRC_OK;
}

/*
 * Whether to tell a copy that will not be cloned from any other write.
 * Only for --stats and the log: it costs a read of S's first page, which
 * nothing else needs (and which a FUSE server, say, would see).
 */
static bool reporting(void)
{
	return cfg.stats || cfg.log;
}

/* A copy from s into fd was seen and will not be cloned. */
static void not_cloned(int fd, int s, enum why_not why)
{
	static const char *const text[WHY_COUNT] = {
		[WHY_SMALL] = "source smaller than REFLINK_SHIM_MIN_SIZE",
		[WHY_DIFFERED] = "data differs from the source",
		[WHY_LAYOUT] = "source has holes, preallocation or too many extents",
		[WHY_OTHER_FS] = "source on another filesystem",
		[WHY_UNSUPPORTED] = "filesystem cannot clone",
		[WHY_FAILED] = "the clone failed",
		[WHY_SHARED] = "the destination is open on another descriptor",
	};
	if (!reporting())
		return;
	long fstype = 0;
	if (why == WHY_OTHER_FS || why == WHY_UNSUPPORTED)
		why = clone_why_not(fd, s, &fstype);
	stats_not_cloned(why, fstype);
	if (!cfg.log)
		return;
	char detail[96];
	const char *parts[3] = { why == WHY_UNSUPPORTED ? fs_type_name(fstype) : "",
				 why == WHY_UNSUPPORTED ? ": " : "", text[why] };
	size_t k = 0;
	for (int i = 0; i < 3; i++)
		for (const char *q = parts[i]; *q && k < sizeof(detail) - 1; q++)
			detail[k++] = *q;
	detail[k] = 0;
	shim_log("not-cloned", fd, s, detail);
}

/* S's layout allows a clone that a dense copy cannot tell from itself. */
static bool source_layout_ok(struct copy *c, int s, off_t size)
{
	long extents;
	if (clone_source_dense(s, size, &extents, c->src.scratch, SCRATCH_CAP))
		return true;
	shim_log("skip-layout", s, extents, "source has holes, preallocation or too many extents");
	return false;
}

/*
 * Empties D again after a clone of S (`size` bytes) failed or was undone,
 * before the program's own call runs. Only a D no longer than S: one longer
 * tells of someone else, a thread's or another process's write past S's
 * end since D was judged empty, which the program's call would have left
 * alone (and a failed FICLONE on XFS or btrfs changes nothing: only
 * OpenZFS documents partial data). True if cut.
 */
static bool empty_again(int out, off_t size)
{
	struct stat st;
	if (real_fstat(out, &st) != 0 || st.st_size == 0 || st.st_size > size)
		return false;
	real.ftruncate(out, 0);
	return true;
}

/* A clone of s into empty fd failed (class k, errno err): D empty again,
 * a filesystem that cannot clone remembered, logged and counted. */
static void clone_failed(int fd, int s, enum clone_class k, int err, const struct stat *sst, dev_t ddev)
{
	if (empty_again(fd, sst->st_size))
		shim_log("clone-undone", fd, 0, "a failed clone left data");
	if (k == CLONE_UNSUPPORTED)
		clone_forget_pair(sst->st_dev, ddev);
	shim_log("clone-failed", fd, err, k == CLONE_UNSUPPORTED ? "unsupported" :
		 k == CLONE_PAIR ? "this pair" : "error; the program's call decides");
	not_cloned(fd, s, k == CLONE_UNSUPPORTED ? WHY_UNSUPPORTED : WHY_FAILED);
}

/*
 * Clones S into D and fills in c. `sst` is S's stat taken before anything
 * was compared; the clone is kept only if S is unchanged after it.
 */
static bool do_clone(struct copy *c, int fd, const struct dest_info *d, int s, const struct stat *sst)
{
	/* Locked from before our fd exists until the caller has accepted the
	 * write: a thread giving up fd numbers (release_privates) must not
	 * settle a copy whose first write is not counted yet. */
	pthread_mutex_lock(&c->lock);
	c->src.dev = sst->st_dev;
	c->src.ino = sst->st_ino;
	c->src.size = sst->st_size;
	c->src.ctime = sst->st_ctim;
	c->dpriv = dup_private(fd);
	if (c->dpriv < 0) {
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	int err;
	enum clone_class k = clone_file(fd, s, &err);
	if (k != CLONE_OK) {
		close_privates_locked(c);
		pthread_mutex_unlock(&c->lock);
		clone_failed(fd, s, k, err, sst, d->st.st_dev);
		return false;
	}
	struct stat dst;
	if (!source_unchanged(&c->src, s) || real_fstat(fd, &dst) != 0 || dst.st_size != c->src.size) {
		/* S changed while we compared or cloned: D must be empty again. */
		real.ftruncate(fd, 0);
		shim_log("clone-undone", fd, 0, "source changed during the clone");
		close_privates_locked(c);
		pthread_mutex_unlock(&c->lock);
		stats_not_cloned(WHY_DIFFERED, 0);
		return false;
	}
	c->ddev = dst.st_dev;
	c->dino = dst.st_ino;
	c->dctime = dst.st_ctim;
	c->dmtime = dst.st_mtim;
	c->owner = shim_pid;
	c->hi = 0;
	__atomic_store_n(&c->active, 1, __ATOMIC_RELAXED);
	c->ndest = 1;
	__atomic_add_fetch(&copies_active, 1, __ATOMIC_RELAXED);
	shim_log("clone", fd, (long long)c->src.size, NULL);
	return true;
}

/*
 * Whether another fd of this process refers to D's file (from the kernel's
 * list, /proc/thread-self/fd: stdio and inherited fds never pass our wrappers).
 * Writes through it may bypass us (a warning on stderr from libc's own
 * write in `prog S > D 2>&1`), so D is not cloned. Costs three system
 * calls and an fstat per fd not known to be something else than a regular
 * file, at the first write of a copy only. When the list cannot be read,
 * the answer is yes.
 */
static bool other_fd_on(int fd, dev_t dev, ino_t ino)
{
	/* thread-self: the table this thread's fds are in. */
	int dir = (int)SYS(SYS_openat, AT_FDCWD, "/proc/thread-self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return true;
	char buf[512] __attribute__((aligned(8)));
	bool found = false;
	long n;
	while (!found && (n = SYS(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long at = 0; at < n && !found;) {
			struct k_dirent64 *de = (struct k_dirent64 *)(void *)(buf + at);
			at += de->d_reclen;
			int k = 0;
			const char *p = de->d_name;
			if (*p < '0' || *p > '9')
				continue;
			while (*p >= '0' && *p <= '9')
				k = k * 10 + (*p++ - '0');
			uintptr_t e = fd_get(k);
			if (k == fd || k == dir || e == FD_PLAIN || e == FD_PRIV)
				continue;
			/* The raw call: these are the program's fds, opened on any
			 * thread, and TSan's fstat interceptor takes a look at one
			 * opened on another thread for a race on it (make
			 * check-tsan failed so, by chance, in 8 threads copying). */
			struct stat st;
			if (SYS(SYS_fstat, k, &st) != 0)
				continue;
			found = st.st_dev == dev && st.st_ino == ino;
			/* Not a regular file (a pipe, a terminal, a directory): so
			 * the next copy's listing skips it, as the fast path does. */
			if (!S_ISREG(st.st_mode) && (e == FD_UNKNOWN || e == FD_REG_DONE))
				fd_cas(k, e, FD_PLAIN);
		}
	}
	SYS(SYS_close, dir);
	return found || n < 0;
}

/* S's reads now take the slow path, which vets their bytes: the writes
 * that follow are compared in place (umem.h). */
static void mark_source(int s)
{
	uintptr_t e = fd_get(s);
	if (fd_is_reg(e))
		fd_cas(s, e, (e & ~FD_PASS_READ) | FD_SRC_BIT);
}

/* Regular-file fds the program has read, best guesses first: those whose
 * first read was into buf (*first of them). */
static int candidates(int fd, const void *buf, int *out, int *first)
{
	int n = 0;
	*first = 0;
	int hw = __atomic_load_n(&fdtab_top, __ATOMIC_RELAXED);
	for (int pass = 0; pass < 2 && n < MAX_CANDIDATES; pass++) {
		for (int s = hw; s >= 0 && n < MAX_CANDIDATES; s--) {
			if (s == fd)
				continue;
			uintptr_t e = fd_get(s);
			const void *h = fd_get_hint(s);
			if (!(fd_was_read(e) || (fd_is_copy(e) && h)))
				continue;
			if ((pass == 0) != (h == buf))
				continue;
			out[n++] = s;
		}
		if (pass == 0)
			*first = n;
	}
	return n;
}

/*
 * Whether a first write of n bytes could carry a file another process
 * published: a process fed by a pipe or a socket (tar x, dd, rsync's
 * receiver), with at least a key's worth of bytes (tar x's first write of
 * a file is anything from 512 bytes to 10 KiB). The caller asks only when
 * the process holds no regular file it read: a process that reads its
 * sources itself (cpio -p, fed its list by a pipe) copies in-process, and
 * its small files must not pay for a look. No system call (but
 * share_on's, once).
 */
static bool share_may(size_t n)
{
	/* Our open and close of S would drop POSIX locks this process holds
	 * on it: none may have been taken. */
	return n >= SHARE_KEY_LEN && __atomic_load_n(&stream_fed, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&copy_lock_gen, __ATOMIC_ACQUIRE) && share_on();
}

/*
 * Whether the index lists a file starting with the SHARE_KEY_LEN bytes at
 * buf (the first write's first buffer; one shorter than that may be, and
 * goes to the full look). One process_vm_readv, no gate: a process fed
 * small files by a pipe (tar x) pays only this for each (it paid four
 * more, the gate's two and judge_dest's fstat and lseek, when the index
 * was looked in only after them). Out of line: its 512 bytes of stack
 * are not the caller's.
 */
static __attribute__((noinline)) bool share_listed(const void *buf, size_t len)
{
	if (len < SHARE_KEY_LEN)
		return true;
	/* Always a copy, never the bytes in place, even when vetted: this runs
	 * at a first write of any process fed by a pipe, and a buffer in a
	 * MAP_SHARED mapping of a file truncated since its read would fault
	 * (SIGBUS) where the kernel says EFAULT (a helper's attack). */
	unsigned char first[SHARE_KEY_LEN];
	if (!umem_read(first, buf, SHARE_KEY_LEN))
		return false;  /* the kernel will say EFAULT */
	uint64_t key = share_key(first);
	struct share_index *ix = key ? share_index() : NULL;
	return ix && share_has(ix, key);
}

/*
 * Whether this process image may hold a POSIX lock it did not take through
 * us: one its earlier image took before an exec (POSIX locks survive exec,
 * copy_lock_gen counts only ours). Opening and closing a file another
 * process read would drop such a lock on it (a helper's attack: a lock
 * taken, then dd exec'd, read as unlocked by another process once dd's
 * copy crossed). Read from /proc/locks once per image, at its first look
 * that found a candidate; unreadable counts as "may". In the frame.
 */
static int locks_known;  /* 0: not read yet; 1: none; -1: some, or cannot tell */

/* Whether one line of /proc/locks ("1: POSIX  ADVISORY  WRITE <pid> ...";
 * a waiter's has "->" after the number) is a POSIX lock held by pid. */
static bool lock_line_ours(const char *s, int pid)
{
	char field[5][12];
	int n = 0;
	while (*s && n < 5) {
		while (*s == ' ')
			s++;
		size_t k = 0;
		while (*s && *s != ' ') {
			if (k < sizeof(field[0]) - 1)
				field[n][k++] = *s;
			s++;
		}
		field[n++][k] = 0;
	}
	if (n < 5 || strcmp(field[1], "POSIX") != 0)
		return false;
	long v = 0;
	for (const char *p = field[4]; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return v == pid;
}

static __attribute__((noinline)) bool locks_inherited(void)
{
	int k = __atomic_load_n(&locks_known, __ATOMIC_RELAXED);
	if (k)
		return k < 0;
	/* /proc/locks names pids as the pid namespace /proc was mounted for
	 * sees them, which need not be ours (unshare -p without
	 * --mount-proc): look for the pid /proc/self names. */
	char self[16];
	long n = SYS(SYS_readlinkat, AT_FDCWD, "/proc/self", self, sizeof(self) - 1);
	int pid = 0;
	for (long i = 0; i < n && self[i] >= '0' && self[i] <= '9'; i++)
		pid = pid * 10 + (self[i] - '0');
	int fd = pid > 0 ? (int)SYS(SYS_openat, AT_FDCWD, "/proc/locks", O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
	bool some = fd < 0;
	char buf[256], line[96];
	size_t len = 0;
	long r;
	while (!some && (r = SYS(SYS_read, fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			some = true;
			break;
		}
		for (long i = 0; i < r && !some; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = 0;
			len = 0;
			some = lock_line_ours(line, pid);
		}
	}
	if (fd >= 0)
		SYS(SYS_close, fd);
	__atomic_store_n(&locks_known, some ? -1 : 1, __ATOMIC_RELAXED);
	return some;
}

/* Room for the names of the index's candidates, behind the one a copy
 * keeps in c->src.path (PATH_CAP). */
#define SHARE_NAMES_AT (PATH_CAP - SHARE_WAYS * SHARE_PATH_CAP)
_Static_assert(SHARE_NAMES_AT >= SHARE_PATH_CAP, "the names fit behind the copy's own");

/*
 * Whether a source known by name (the stash's, the index's), on device
 * sdev of fs_class sfs, may be looked at for a destination fd on device
 * ddev: only on D's own device, or between btrfs subvolumes (each its own
 * st_dev, one filesystem). A name elsewhere is never walked: the walk
 * alone can block, signals held, on a FUSE server that stopped, or wake a
 * network filesystem, for a source that could not be cloned. *dclass
 * caches D's class (-2: not asked yet).
 */
static bool same_fs(int fd, dev_t ddev, dev_t sdev, long long sfs, int *dclass)
{
	if (sdev == ddev)
		return true;
	if (sfs != FS_CLASS_BTRFS)
		return false;
	if (*dclass == -2)
		*dclass = clone_dev_class_fd(fd, ddev);
	return *dclass == FS_CLASS_BTRFS;
}

/*
 * The index's candidates for a first write to fd (on device ddev) starting
 * with the bytes at iov (n >= SHARE_KEY_LEN): their names into
 * c->src.path + SHARE_NAMES_AT, SHARE_PATH_CAP bytes apart, their
 * identities into dev[] and ino[]. Returns how many. In the frame.
 */
static int share_candidates(struct copy *c, int fd, dev_t ddev, int *dclass, const struct iovec *iov, int cnt,
			    dev_t *dev, ino_t *ino)
{
	unsigned char *first = c->src.scratch;
	size_t got = 0;
	for (int i = 0; i < cnt && got < SHARE_KEY_LEN; i++) {
		size_t k = iov[i].iov_len < SHARE_KEY_LEN - got ? iov[i].iov_len : SHARE_KEY_LEN - got;
		if (k && !umem_read(first + got, iov[i].iov_base, k))
			return 0;  /* the program's write meets EFAULT */
		got += k;
	}
	if (got < SHARE_KEY_LEN)
		return 0;
	uint64_t key = share_key(first);
	struct share_index *ix = key ? share_index() : NULL;
	if (!ix)
		return 0;
	struct share_entry *set = (struct share_entry *)(void *)c->src.scratch;
	int n = share_lookup(ix, key, set), m = 0;
	for (int i = 0; i < n; i++) {
		if (!same_fs(fd, ddev, (dev_t)set[i].dev, (long long)set[i].fs, dclass))
			continue;
		memcpy(c->src.path + SHARE_NAMES_AT + m * SHARE_PATH_CAP, set[i].path, SHARE_PATH_CAP);
		dev[m] = (dev_t)set[i].dev;
		ino[m] = (ino_t)set[i].ino;
		m++;
	}
	return m;
}

/*
 * First write to fd (an unjudged entry, claimed as FD_BUSY by the
 * caller): decides whether it starts a copy. Returns the new entry.
 */
static uintptr_t arm_write(int fd, const struct iovec *iov, int cnt, off_t off, size_t n, bool *accepted)
{
	struct dest_info d;
	uintptr_t verdict = judge_dest(fd, off, &d);
	if (verdict)
		return verdict;
	const void *buf = cnt ? iov[0].iov_base : NULL;
	struct copy *c = copy_alloc();
	if (!c)
		return FD_REG_DONE;
	/* A source read whole and closed is tried right after the open fds
	 * first read into the buffer this write is from (a loop reusing one
	 * buffer, treecopy: the file it reads now, not the last one it
	 * closed), when it was read into that buffer too, else last; it is
	 * opened by name only when its turn comes, and closed before we
	 * return. */
	enum { STASHED = -2, SHARED = -3 };  /* SHARED - i: the index's candidate i */
	struct stashed rec = { 0 };
	int dclass = -2;
	bool have_stash = stash_take(c, &rec) && same_fs(fd, d.st.st_dev, rec.dev, rec.fs, &dclass);
	dev_t sdev[SHARE_WAYS];
	ino_t sino[SHARE_WAYS];
	int ns = 0;
	unsigned lockgen = __atomic_load_n(&copy_lock_gen, __ATOMIC_ACQUIRE);
	int stashed = -1;
	int live[MAX_CANDIDATES], first;
	int nl = candidates(fd, buf, live, &first);
	int cand[MAX_CANDIDATES + 1 + SHARE_WAYS];
	int nc = 0;
	for (int i = 0; i < first; i++)
		cand[nc++] = live[i];
	if (have_stash && rec.hint == buf)
		cand[nc++] = STASHED;
	for (int i = first; i < nl; i++)
		cand[nc++] = live[i];
	if (have_stash && rec.hint != buf)
		cand[nc++] = STASHED;
	/* Last, what other processes read: a process fed by a pipe. */
	if (nl == 0 && !have_stash && share_may(n) && !locks_inherited())
		ns = share_candidates(c, fd, d.st.st_dev, &dclass, iov, cnt, sdev, sino);
	for (int i = 0; i < ns; i++)
		cand[nc++] = SHARED - i;
	/* The best reason a copy was seen but not cloned, for stats and log. */
	enum why_not why = WHY_COUNT;
	int why_src = -1;
	for (int i = 0; i < nc; i++) {
		int s = cand[i];
		if (s <= SHARED) {
			/* Its name where a copy keeps its source's, in place of
			 * the stash's (tried before it, if any). */
			int k = SHARED - s;
			memcpy(c->src.path, c->src.path + SHARE_NAMES_AT + k * SHARE_PATH_CAP, SHARE_PATH_CAP);
			rec.dev = sdev[k];
			rec.ino = sino[k];
			rec.lockgen = lockgen;
			if (stashed >= 0)
				SYS(SYS_close, stashed);
			stashed = -1;
			s = STASHED;
		}
		if (s == STASHED && (s = stashed = source_open_by_name(c->src.path, rec.dev, rec.ino, rec.lockgen)) < 0)
			continue;
		struct stat sst;
		enum source_verdict sv = judge_source(fd, &d, s, n, &sst, false, 0);
		if (sv == SRC_NO || (sv != SRC_OK && !reporting()))
			continue;
		if (sv == SRC_OK && !ctime_settled(s, &sst))
			continue;
		c->src.size = sst.st_size;
		window_forget(&c->src);
		bool refilled = false;
		/* A cheap look at the first page before the layout check (which
		 * flushes S) and before reading a whole window. */
		if (!window_verify(&c->src, s, 0, iov, cnt, n < PROBE_LEN ? n : PROBE_LEN, PROBE_LEN, &refilled))
			continue;
		if (sv != SRC_OK) {
			if (why == WHY_COUNT) {
				why = sv == SRC_SMALL ? WHY_SMALL : WHY_UNSUPPORTED;
				why_src = s;
			}
			continue;
		}
		if (!source_layout_ok(c, s, sst.st_size)) {
			why = WHY_LAYOUT;
			why_src = s;
			continue;
		}
		window_forget(&c->src);
		if (!window_verify(&c->src, s, 0, iov, cnt, n, 0, &refilled)) {
			why = WHY_DIFFERED;
			why_src = s;
			continue;
		}
		if (other_fd_on(fd, d.st.st_dev, d.st.st_ino)) {
			why = WHY_SHARED;
			why_src = s;
			break;
		}
		if (!do_clone(c, fd, &d, s, &sst)) {
			why = WHY_COUNT;  /* counted by do_clone */
			break;
		}
		if (s == stashed) {
			/* From now on S is read by name, for each window. */
			c->src.bypath = 1;
			c->src.lockgen = rec.lockgen;
			c->across = cand[i] <= SHARED;
			if (c->across)
				shim_log("clone-across", fd, (long long)sst.st_size, c->src.path);
		} else {
			c->src.fd = s;
			mark_source(s);
		}
		if (stashed >= 0)
			SYS(SYS_close, stashed);
		*accepted = true;
		return (uintptr_t)c;
	}
	if (why != WHY_COUNT)
		not_cloned(fd, why_src, why);
	if (stashed >= 0)
		SYS(SYS_close, stashed);
	copy_free(c);
	return FD_REG_DONE;
}

/* Accepts n bytes written at hi: moves the file offset like the write would. */
static ssize_t accept_write(struct copy *c, int fd, off_t off, size_t n, bool *handled)
{
	if (off < 0) {
		off_t r = xlseek(fd, (off_t)n, SEEK_CUR);
		if (r != c->hi + (off_t)n) {
			/* The offset was not where we left it: undo, and let the
			 * write go through at the real offset. */
			if (r >= (off_t)n)
				xlseek(fd, r - (off_t)n, SEEK_SET);
			settle_locked(c, "offset moved behind our back");
			return 0;
		}
	}
	c->hi += (off_t)n;
	clock_gettime(CLOCK_REALTIME, &c->wts);
	*handled = true;
	return (ssize_t)n;
}

/*
 * With c locked, after the write or transfer that armed it through fd:
 * when that one call wrote the whole of S, D holds exactly
 * what the program wrote, stamped by the clone as the write would have
 * stamped it, and nothing is left to cut or hide. So the copy ends here
 * instead of at close: our dup of D is closed and fd becomes an ordinary
 * judged file, whose later calls and close take the fast path. (A copy
 * completed by a later write cannot end early: D's ctime must read as that
 * write's until close, and only the kernel sets ctime.) Not while the
 * process may hold POSIX locks: closing our dup of D would drop them.
 * True when c is done with: the caller unlocks and frees it.
 */
static bool finish_if_complete(struct copy *c, int fd)
{
	/* At its arming call a copy has exactly this one fd (another fd on D
	 * would have kept it from arming, and a dup made now waits for our
	 * lock), and nothing was accepted after the clone. */
	if (c->hi != c->src.size || __atomic_load_n(&copy_lock_gen, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&c->active, 0, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&copies_active, 1, __ATOMIC_RELAXED);
	window_forget(&c->src);
	stats_cloned(c->src.size, c->across);
	shim_log("complete", fd, (long long)c->hi, NULL);
	close_privates_locked(c);
	c->ndest = 0;
	fd_put(fd, FD_REG_DONE);
	return true;
}

/*
 * Whether any fd could be the source of a copy: a regular file this process
 * read that was at least cfg.min_size_floor long when first read, a descriptor of a
 * copy, or the stash. No system call, no lock and no gate, so the first
 * write of a small file costs next to nothing (measured: the full judgement
 * cost 8 system calls, 10 µs per 1-byte file). A source that grew since its
 * first read is missed: a lost clone, never a wrong byte.
 */
static bool may_have_source(int fd, const void *buf, size_t len, size_t n, bool *small_copy)
{
	if (__atomic_load_n(&stash.full, __ATOMIC_RELAXED))
		return true;
	bool read_any = false;
	long long min = cfg.min_size_floor > 0 ? cfg.min_size_floor : 1;
	for (int s = __atomic_load_n(&fdtab_top, __ATOMIC_RELAXED); s >= 0; s--) {
		uintptr_t e = fd_get(s);
		if (s == fd)
			continue;
		if (fd_is_copy(e)) {
			if (fd_get_hint(s))
				return true;
			continue;
		}
		if (!fd_was_read(e))
			continue;
		read_any = true;
		long long size = fd_get_size(s);
		if (size >= min)
			return true;
		/* Writing the buffer a small file was first read into: a copy,
		 * for the statistics (unverified: nothing is done on its strength). */
		if (size > 0 && fd_get_hint(s) == buf)
			*small_copy = true;
	}
	return !read_any && share_may(n) && share_listed(buf, len);
}

/* First write with no possible source: classify fd and leave it alone. */
static void judge_without_source(int fd, uintptr_t ent, bool small_copy)
{
	if (small_copy) {
		stats_not_cloned(WHY_SMALL, 0);
		shim_log("not-cloned", fd, 0, "source smaller than REFLINK_SHIM_MIN_SIZE");
	}
	/* FD_UNKNOWN becomes FD_REG_DONE without asking what it is: its
	 * writes pass from now on either way, and a pipe or terminal taken
	 * for a regular file costs at most one slow first read and an fstat
	 * if it is ever judged as a source, where a system call here would be
	 * paid by every small file written (cpio, treecopy). */
	fd_cas(fd, ent, fd_judged(ent));
}

ssize_t copy_write(int fd, uintptr_t ent, const struct iovec *iov, int cnt, off_t off, bool *handled)
{
	*handled = false;
	size_t n = iov_total(iov, cnt);
	if (n == 0)
		return 0;
	bool small_copy = false;
	if (fd_unjudged(ent) &&
	    !may_have_source(fd, cnt ? iov[0].iov_base : NULL, cnt ? iov[0].iov_len : 0, n, &small_copy)) {
		judge_without_source(fd, ent, small_copy);
		return 0;
	}
	/* write() is a cancellation point even when we answer it: a pending
	 * deferred cancel acts here, as it would on entering the kernel. */
	pthread_testcancel();
	struct frame f;
	frame_enter(&f);
	ssize_t ret = 0;
	enum dest_state ds;
retry:
	if (fd_unjudged(ent)) {
		if (!fd_cas(fd, ent, FD_BUSY)) {
			ent = wait_not_busy(fd);
			goto retry;
		}
		bool accepted = false;
		uintptr_t v = arm_write(fd, iov, cnt, off, n, &accepted);
		if (accepted) {
			struct copy *c = fd_copy(v);  /* locked by do_clone */
			fd_put(fd, v);
			ret = accept_write(c, fd, off, n, handled);
			bool done = *handled && finish_if_complete(c, fd);
			pthread_mutex_unlock(&c->lock);
			if (done)
				copy_free(c);
		} else {
			fd_put(fd, v == FD_PLAIN ? v : fd_judged(ent));
		}
	} else if (ent == FD_BUSY) {
		ent = wait_not_busy(fd);
		goto retry;
	} else if (fd_is_copy(ent)) {
		struct copy *c = lock_entry(fd, ent);
		if (!c) {
			ent = fd_get(fd);
			goto retry;
		}
		if (!live(c)) {
			/* settled: an ordinary file now */
		} else if (fd_is_alias(ent)) {
			settle_locked(c, "write through a second descriptor");
		} else if ((ds = dest_check(c, fd)) == DEST_REUSED) {
			pthread_mutex_unlock(&c->lock);
			forget_fd(fd, ent, "descriptor reused behind our back");
			goto out;
		} else if (ds == DEST_CHANGED) {
			settle_locked(c, "destination changed behind our back");
		} else {
			off_t pos = off >= 0 ? off : c->hi;
			bool refilled = false;
			if (pos != c->hi || c->hi + (off_t)n > c->src.size ||
			    !window_verify(&c->src, c->src.fd, pos, iov, cnt, n, 0, &refilled) ||
			    (refilled && c->src.fd >= 0 && !source_unchanged(&c->src, c->src.fd))) {
				settle_locked(c, pos != c->hi ? "write elsewhere" : "data differs");
			} else {
				c->touched = 1;
				ret = accept_write(c, fd, off, n, handled);
			}
		}
		pthread_mutex_unlock(&c->lock);
	}
out:
	frame_leave(&f);
	return ret;
}

void copy_write_unseen(int fd, uintptr_t ent)
{
	if (fd_is_copy(ent))
		copy_settle_fd(fd, "a write we do not look at");
	else if (fd_unjudged(ent))
		judge_without_source(fd, ent, false);
}

/* ---- sendfile / copy_file_range ---- */

/*
 * The program's offset pointers are read and written without faulting
 * (umem.h): a bad one makes the call fall through to the kernel, which
 * answers EFAULT. *pos is the offset (the pointer's, or the fd's).
 */
static bool pos_of(int fd, const off_t *offp, off_t *pos)
{
	if (offp)
		return umem_read(pos, offp, sizeof(*pos));
	*pos = xlseek(fd, 0, SEEK_CUR);
	return *pos >= 0;
}

/*
 * Moves one offset as a transfer of n bytes would have: the pointer's (read
 * as expect - n) or the fd's. True when it ended at expect. An fd offset
 * that did not (it was not where we assumed, or someone else moved it) is
 * moved back by n, so a false answer leaves it as it was.
 */
static bool advance(int fd, off_t *offp, off_t n, off_t expect)
{
	if (offp)
		return umem_write(offp, &expect, sizeof(expect));
	off_t r = xlseek(fd, n, SEEK_CUR);
	if (r >= 0 && r != expect)
		xlseek(fd, -n, SEEK_CUR);
	return r == expect;
}

/* Undoes an advance that succeeded. */
static void retreat(int fd, off_t *offp, off_t n, off_t expect)
{
	off_t was = expect - n;
	if (offp)
		umem_write(offp, &was, sizeof(was));
	else
		xlseek(fd, -n, SEEK_CUR);
}

/*
 * Both offsets of a transfer moved by n to expect; false with neither
 * moved, so that the program's own call starts where it would have.
 */
static bool advance_both(int in, off_t *inoff, int out, off_t *outoff, off_t n, off_t expect)
{
	if (!advance(in, inoff, n, expect))
		return false;
	if (advance(out, outoff, n, expect))
		return true;
	retreat(in, inoff, n, expect);
	return false;
}

/* Whether an offset pointer (if any) can be written back. */
static bool pos_writable(off_t *offp, off_t pos)
{
	return !offp || umem_write(offp, &pos, sizeof(pos));
}

/*
 * How much one sendfile or copy_file_range call moves at hi. The kernel's
 * copy_file_range clones where it can (REMAP_FILE_CAN_SHORTEN): from a
 * block-aligned offset, a length that neither reaches S's end nor is whole
 * blocks is cut to whole blocks (100,000 bytes: 98,304 with 4 KiB blocks);
 * less than a block, or from an unaligned offset, it copies all of it.
 */
static size_t transfer_len(struct copy *c, int out, size_t len, bool cfr)
{
	off_t left = c->src.size - c->hi;
	size_t n = len < (size_t)SHIM_MAX_RW ? len : (size_t)SHIM_MAX_RW;
	if ((off_t)n >= left)
		return (size_t)left;
	if (cfr && !c->blksize) {
		struct statfs sf;
		c->blksize = fstatfs(out, &sf) == 0 && sf.f_bsize > 0 ? (long)sf.f_bsize : -1;
	}
	if (cfr && c->blksize > 0 && c->hi % c->blksize == 0 && n >= (size_t)c->blksize)
		n -= n % (size_t)c->blksize;
	return n;
}

/*
 * A clone reads nothing, so S's atime stays as it was; the kernel's own
 * transfer would have stamped it as any read does. One byte read through
 * the program's fd lets the kernel decide (mount options, O_NOATIME),
 * skipped where it would decide not to: under relatime (or noatime) an
 * atime already later than mtime and ctime and less than a day old stays.
 */
static void stamp_read(int in, const struct stat *st)
{
	if (atime_stays(st, clone_dev_strictatime(st->st_dev)))
		return;
	char b;
	int saved = errno;
	real.pread(in, &b, 1, 0);
	errno = saved;
}

/*
 * A first transfer that moves the whole of S (from its start, into empty D
 * at 0) in this one call: cloned, offsets moved as the call would have
 * moved them, and nothing kept, no record and no dup, because the copy is
 * complete when the call returns. Nothing the program does later can make
 * D differ from what the kernel's transfer would have left, so neither the
 * other-fd listing nor a dup is needed. False (D empty, offsets as they
 * were) when the program's own call must run.
 */
static bool clone_whole(int out, int in, dev_t ddev, const struct stat *sst, off_t *inoff, off_t *outoff,
			bool cfr)
{
	int err;
	enum clone_class k = clone_file(out, in, &err);
	if (k != CLONE_OK) {
		clone_failed(out, in, k, err, sst, ddev);
		return false;
	}
	off_t n = sst->st_size;
	struct stat now;
	/* S's layout was read before the clone: unchanged since (no hole
	 * punched, no size change), the clone holds what the kernel's
	 * transfer would have written, at any moment it might have run. */
	bool same = real_fstat(in, &now) == 0 && now.st_dev == sst->st_dev && now.st_ino == sst->st_ino &&
		    now.st_size == n && same_ts(now.st_ctim, sst->st_ctim);
	/* The offsets move only after the clone, as the kernel moves them
	 * after the data: a process sharing D's description never sees an
	 * offset past D's data (moved first, and back after a failed clone,
	 * its write at that offset was lost: the attack on dce5e41). */
	if (!same || !advance_both(in, inoff, out, outoff, n, n)) {
		/* A change, or an offset someone else moved meanwhile (a
		 * description shared with another process): undone, and the
		 * program's call runs from the offsets it was given. */
		empty_again(out, n);
		shim_log("clone-undone", out, 0, same ? "offsets moved during the clone" : "source changed during the clone");
		stats_not_cloned(WHY_DIFFERED, 0);
		return false;
	}
	/* The kernel's copy_file_range clones too, and reads nothing. */
	if (!cfr)
		stamp_read(in, sst);
	stats_cloned(n, false);
	shim_log("clone", out, (long long)n, NULL);
	return true;
}

/*
 * The first transfer into an unjudged `out` (claimed FD_BUSY by the
 * caller; sst is in's stat if `fresh`): clones S when the call copies S
 * from its start into empty D.
 * Returns out's new entry, or FD_BUSY when it has stored it already (an
 * armed copy, which another thread may detach as soon as it is unlocked);
 * *ret and *handled as copy_transfer's.
 */
static uintptr_t first_transfer(uintptr_t ent, int out, int in, off_t *inoff, off_t *outoff, size_t len,
				bool cfr, struct stat *sst, bool fresh, ssize_t *ret, bool *handled)
{
	struct dest_info d = { 0 };
	off_t inpos, outpos = -1;
	if (!pos_of(in, inoff, &inpos) || (outoff && !umem_read(&outpos, outoff, sizeof(outpos))) ||
	    !pos_writable(inoff, inpos) || !pos_writable(outoff, outpos))
		return ent;  /* a bad pointer: the kernel will say EFAULT */
	uintptr_t v = judge_dest(out, outpos, &d);
	if (v) {
		/* S's start into a pipe or a socket (busybox tar c, sendfile):
		 * other processes may write its bytes to a file. */
		if (v == FD_PLAIN && inpos == 0 && (S_ISFIFO(d.st.st_mode) || S_ISSOCK(d.st.st_mode)) && share_on() &&
		    (fresh || real_fstat(in, sst) == 0) && S_ISREG(sst->st_mode) && sst->st_size >= cfg.min_size_floor)
			share_publish_fd(in, sst->st_dev, sst->st_ino, NULL);
		return v == FD_PLAIN ? v : fd_judged(ent);
	}
	/* From S's start, the kernel itself moves S's data: a copy. */
	enum source_verdict sv = inpos == 0 ? judge_source(out, &d, in, 0, sst, fresh, len) : SRC_NO;
	if (sv == SRC_OK && !ctime_settled(in, sst))
		sv = SRC_NO;
	/* sendfile from an O_DIRECT source returns S's whole blocks first and
	 * its tail at the next call (measured on XFS): not one count a clone
	 * could give. (copy_file_range clones it all the same.) */
	if (sv == SRC_OK && !cfr && (open_flags(in) & O_DIRECT))
		sv = SRC_NO;
	if (sv == SRC_SMALL || sv == SRC_NO_CLONE)
		not_cloned(out, in, sv == SRC_SMALL ? WHY_SMALL : WHY_UNSUPPORTED);
	struct copy *c = sv == SRC_OK ? copy_alloc() : NULL;
	if (!c)
		return fd_judged(ent);
	/* The record lends its scratch buffer to FIEMAP, whichever way. */
	bool whole = moves_all(sst->st_size, len);
	if (!source_layout_ok(c, in, sst->st_size)) {
		not_cloned(out, in, WHY_LAYOUT);
	} else if (whole) {
		if (clone_whole(out, in, d.st.st_dev, sst, inoff, outoff, cfr)) {
			*ret = (ssize_t)sst->st_size;
			*handled = true;
		}
	} else if (other_fd_on(out, d.st.st_dev, d.st.st_ino)) {
		not_cloned(out, in, WHY_SHARED);
	} else if (do_clone(c, out, &d, in, sst)) {
		/* Later calls bring the rest: armed, c locked by do_clone. */
		c->src.fd = in;
		size_t n = transfer_len(c, out, len, cfr);
		fd_put(out, (uintptr_t)c);
		if (advance_both(in, inoff, out, outoff, (off_t)n, (off_t)n)) {
			c->hi = (off_t)n;
			clock_gettime(CLOCK_REALTIME, &c->wts);
			if (!cfr)
				stamp_read(in, sst);
			*ret = (ssize_t)n;
			*handled = true;
		} else {
			settle_locked(c, "offsets moved during the clone");
		}
		pthread_mutex_unlock(&c->lock);
		return FD_BUSY;
	}
	copy_free(c);
	return fd_judged(ent);
}

/*
 * Whether a first transfer of len bytes from `in` may be a copy worth
 * judging: S a regular file at least min_size_for() long (any size for
 * --stats and the log, which count small copies). Asked before the gate,
 * from in's entry when it knows (one fstat per fd at most), so that a
 * transfer of a small file, or from a pipe or a socket, costs at most that.
 * The size is the one seen when in was first classified: a source that
 * grew since is missed (a lost clone, never a wrong byte). D's filesystem
 * is not known here: for a transfer of part of S the smallest threshold of
 * all applies, and judge_source decides.
 */
static bool transfer_may_clone(int in, size_t len, struct stat *st, bool *fresh)
{
	uintptr_t e = fd_get(in);
	long long size = fd_is_reg(e) ? fd_get_size(in) : 0;
	if (e == FD_PLAIN)
		return false;
	if (size == 0 && (e == FD_UNKNOWN || fd_is_reg(e))) {
		int saved = errno;
		int rc = real_fstat(in, st);
		errno = saved;
		if (rc != 0)
			return false;  /* the program's call meets the error */
		if (!S_ISREG(st->st_mode)) {
			fd_cas(in, e, FD_PLAIN);
			return false;
		}
		fd_set_size(in, st->st_size);
		fd_cas(in, FD_UNKNOWN, FD_REG);
		size = st->st_size;
		*fresh = true;
	} else if (!fd_is_reg(e)) {
		return true;  /* being judged, or a copy's: the full path decides */
	}
	long long min = min_size_for(size, len, -1);
	return size >= (min > 0 ? min : 1) || (size > 0 && reporting());
}

/*
 * A transfer from `in` to the program's standard output, which was written
 * before (busybox tar c: a header, then
 * each file by sendfile): S's start into a pipeline, published for the
 * process at its other end. Only standard output: a server's sendfile to
 * its sockets pays nothing. Classifies in as transfer_may_clone does.
 */
void copy_transfer_to_stdout(int in, off_t *inoff)
{
	if (fd_get(in) != FD_UNKNOWN || !share_on())
		return;
	ERRNO_SAVE;
	struct stat st;
	off_t pos;
	if (real_fstat(in, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			fd_cas(in, FD_UNKNOWN, FD_PLAIN);
		} else {
			fd_set_size(in, st.st_size);
			fd_cas(in, FD_UNKNOWN, FD_REG);
			if (st.st_size >= cfg.min_size_floor && pos_of(in, inoff, &pos) && pos == 0)
				share_publish_fd(in, st.st_dev, st.st_ino, NULL);
		}
	}
	ERRNO_RESTORE;
}

ssize_t copy_transfer(int out, int in, off_t *inoff, off_t *outoff, size_t len, bool cfr, bool *handled)
{
	*handled = false;
	/* sendfile refuses a count beyond SSIZE_MAX (EINVAL): the kernel says so. */
	if (len == 0 || (!cfr && len > (size_t)SSIZE_MAX))
		return 0;
	uintptr_t ent = wait_not_busy(out);
	struct stat sst = { 0 };
	bool fresh = false;
	if ((ent & FD_PASS_WRITE) || (fd_unjudged(ent) && !transfer_may_clone(in, len, &sst, &fresh)))
		return 0;
	struct frame f;
	frame_enter(&f);
	ssize_t ret = 0;
	if (fd_unjudged(ent)) {
		uintptr_t v;
		if (fd_cas(out, ent, FD_BUSY) &&
		    (v = first_transfer(ent, out, in, inoff, outoff, len, cfr, &sst, fresh, &ret, handled)) != FD_BUSY)
			fd_put(out, v);
	} else if (fd_is_copy(ent)) {
		struct copy *c = lock_entry(out, ent);
		if (!c)
			goto out;
		if (live(c)) {
			struct stat st;
			off_t inpos, outpos = c->hi;
			if (!pos_of(in, inoff, &inpos) || (outoff && !umem_read(&outpos, outoff, sizeof(outpos))) ||
			    !pos_writable(inoff, inpos) || !pos_writable(outoff, outpos)) {
				settle_locked(c, "bad offset pointer");
			} else if (fd_is_alias(ent) || dest_check(c, out) != DEST_OK || real_fstat(in, &st) != 0 ||
			    st.st_dev != c->src.dev || st.st_ino != c->src.ino || !source_unchanged(&c->src, in) ||
			    inpos != c->hi || outpos != c->hi) {
				settle_locked(c, "transfer differs");
			} else {
				size_t n = transfer_len(c, out, len, cfr);
				off_t h = c->hi;
				if (n == 0) {
					*handled = true;  /* at EOF: 0, nothing moves */
				} else if (advance_both(in, inoff, out, outoff, (off_t)n, h + (off_t)n)) {
					c->hi += (off_t)n;
					c->touched = 1;
					clock_gettime(CLOCK_REALTIME, &c->wts);
					ret = (ssize_t)n;
					*handled = true;
				} else {
					settle_locked(c, "offsets moved behind our back");
				}
			}
		}
		pthread_mutex_unlock(&c->lock);
	}
out:
	frame_leave(&f);
	return ret;
}

/* ---- reads, seeks, stats of a destination ---- */

/* A regular file's first read (or a source's read): from now on a possible
 * source, and its reads take the fast path unless it is a copy's source. */
static void note_read(int fd, uintptr_t ent, const void *buf, off_t off, bool *vet)
{
	publishing.buf = NULL;
	publishing.known = false;
	if (ent == FD_UNKNOWN || (ent == FD_REG_DONE && cfg.share)) {
		/* FD_REG_DONE: judged at a write without its type asked (a socket
		 * written first, then read: rsync's); asked only when sharing, for
		 * stream_fed. */
		struct stat st;
		if (real_fstat(fd, &st) != 0)
			return;
		publishing.dev = st.st_dev;
		publishing.ino = st.st_ino;
		publishing.known = true;
		if (!S_ISREG(st.st_mode)) {
			if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
				__atomic_store_n(&stream_fed, 1, __ATOMIC_RELAXED);
			fd_cas(fd, ent, FD_PLAIN);
			return;
		}
		fd_set_size(fd, st.st_size);
		if (!fd_cas(fd, ent, ent == FD_UNKNOWN ? FD_REG_READ : FD_REG_DONE_READ))
			return;
	} else if (!fd_is_reg(ent)) {
		return;  /* FD_BUSY: judged by another thread just now */
	} else if (!(ent & FD_SRC_BIT) && !fd_cas(fd, ent, ent | FD_PASS_READ)) {
		return;
	}
	if (buf) {
		fd_hint(fd, buf);
		/* A first read from the start (pread at 0, or a read whose
		 * offset copy_read_end checks) of a file worth a clone: other
		 * processes may be sent its bytes. */
		if (off >= -1 && off <= 0 && fd_get_size(fd) >= cfg.min_size_floor && share_on()) {
			publishing.fd = fd;
			publishing.off = off;
			publishing.buf = buf;
		}
	}
	*vet = true;
}

size_t copy_read_begin(int fd, uintptr_t ent, size_t n, off_t off, const void *buf, bool *vet)
{
	*vet = false;
	if (!fd_is_copy(ent)) {
		ERRNO_SAVE;
		note_read(fd, ent, buf, off, vet);
		ERRNO_RESTORE;
		return n;
	}
	if (buf)
		fd_hint(fd, buf);
	struct frame f;
	struct copy *c = frame_lock(&f, fd, ent);
	if (c && live_unchanged(c, fd)) {
		off_t pos = off >= 0 ? off : xlseek(fd, 0, SEEK_CUR);
		if (pos >= c->hi)
			n = 0;
		else if ((off_t)n > c->hi - pos)
			n = (size_t)(c->hi - pos);
	}
	frame_unlock(&f, c);
	return n;
}

off_t copy_lseek(int fd, uintptr_t ent, off_t off, int whence, bool *handled)
{
	*handled = false;
	if (!fd_is_copy(ent) || whence == SEEK_SET || whence == SEEK_CUR)
		return 0;
	off_t ret = 0;
	int err = 0;
	struct frame f;
	struct copy *c = frame_lock(&f, fd, ent);
	/* Once D was changed by someone else, the kernel answers. */
	if (c && live_unchanged(c, fd)) {
		*handled = true;
		/* [0, hi) is dense (the source had no holes), EOF is at hi.
		 * Errors as the kernel's: an offset that overflows or ends
		 * negative is EINVAL. */
		if (whence == SEEK_END) {
			if ((off > 0 && c->hi > INT64_MAX - off) || c->hi + off < 0)
				err = EINVAL;
			else
				ret = xlseek(fd, c->hi + off, SEEK_SET);
		} else if (whence == SEEK_DATA || whence == SEEK_HOLE) {
			if (off >= c->hi) {
				err = ENXIO;
			} else if (off >= 0) {
				ret = xlseek(fd, whence == SEEK_DATA ? off : c->hi, SEEK_SET);
			} else {
				/* What a negative offset means is the filesystem's
				 * (XFS: ENXIO; btrfs: from 0, though its SEEK_DATA
				 * also says ENXIO once the data is written back):
				 * ask it where the first hole is, and answer from
				 * [0, hi). */
				ret = xlseek(fd, off, SEEK_HOLE);
				if (ret < 0)
					err = errno;
				else
					ret = xlseek(fd, whence == SEEK_DATA ? 0 : c->hi, SEEK_SET);
			}
		} else {
			*handled = false;
		}
	}
	frame_unlock(&f, c);
	if (err) {
		errno = err;
		ret = -1;
	}
	return ret;
}

/* With c locked: whether c is the live copy into (dev, ino); if so, what a
 * stat of D needs: hi, the last accepted write's time, and D's mtime and
 * ctime after the clone. */
static bool written_of(struct copy *c, dev_t dev, ino_t ino, off_t *hi, struct timespec ts[3])
{
	if (!live(c) || c->ddev != dev || c->dino != ino)
		return false;
	*hi = c->hi;
	ts[0] = c->wts, ts[1] = c->dmtime, ts[2] = c->dctime;
	return true;
}

/* The fd's own copy first, then (a stat by path, a second fd) any. */
static bool written_size(int fd, dev_t dev, ino_t ino, off_t *hi, struct timespec ts[3])
{
	bool found = false;
	struct frame f;
	frame_enter(&f);
	uintptr_t ent = fd >= 0 ? fd_get(fd) : FD_UNKNOWN;
	if (fd_is_copy(ent)) {
		struct copy *c = lock_entry(fd, ent);
		if (c) {
			found = written_of(c, dev, ino, hi, ts);
			pthread_mutex_unlock(&c->lock);
		}
	}
	if (!found && __atomic_load_n(&copies_active, __ATOMIC_RELAXED)) {
		FOR_EACH_COPY(c) {
			if (!__atomic_load_n(&c->active, __ATOMIC_RELAXED))
				continue;
			pthread_mutex_lock(&c->lock);
			found = written_of(c, dev, ino, hi, ts);
			pthread_mutex_unlock(&c->lock);
			if (found)
				break;
		}
	}
	frame_leave(&f);
	return found;
}

/* Settles every copy of this process into the file (dev, ino); with
 * refresh, stats D as it then is into *refresh. */
static void settle_file(dev_t dev, ino_t ino, const char *why, struct stat *refresh)
{
	struct frame f;
	frame_enter(&f);
	FOR_EACH_COPY(c) {
		if (!__atomic_load_n(&c->active, __ATOMIC_RELAXED))
			continue;
		pthread_mutex_lock(&c->lock);
		if (c->active && c->ddev == dev && c->dino == ino) {
			int dp = c->dpriv;
			settle_locked(c, why);
			if (refresh && dp >= 0)
				real_fstat(dp, refresh);
		}
		pthread_mutex_unlock(&c->lock);
	}
	frame_leave(&f);
}

/*
 * What a stat of D shows mid-copy: the size written so far; and the last
 * accepted write's time as mtime and ctime (the clone stamped D at the
 * first write), except where someone else changed D since (any change
 * before our last accepted write would have settled the copy): their
 * ctime, and their mtime if they set it.
 */
static void fix_times(struct timespec *mt, struct timespec *ct, const struct timespec ts[3])
{
	if (same_ts(*ct, ts[2]))
		*ct = ts[0];
	if (same_ts(*mt, ts[1]))
		*mt = ts[0];
}

void copy_fix_stat(int fd, struct stat *st)
{
	ERRNO_SAVE;
	off_t hi;
	struct timespec ts[3];
	if (S_ISREG(st->st_mode) && written_size(fd, st->st_dev, st->st_ino, &hi, ts)) {
		if (!same_ts(st->st_ctim, ts[2])) {
			/* Changed by someone else: settled, and seen as it is. */
			settle_file(st->st_dev, st->st_ino, "destination changed behind our back", st);
		} else {
			if (st->st_size > hi) {
				st->st_size = hi;
				blkcnt_t b = (hi + 511) / 512;
				if (st->st_blocks > b)
					st->st_blocks = b;
			}
			fix_times(&st->st_mtim, &st->st_ctim, ts);
		}
	}
	ERRNO_RESTORE;
}

void copy_fix_statx(int fd, struct statx *stx)
{
	ERRNO_SAVE;
	off_t hi;
	struct timespec ts[3];
	dev_t dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	if ((stx->stx_mask & STATX_INO) && S_ISREG(stx->stx_mode) &&
	    written_size(fd, dev, stx->stx_ino, &hi, ts)) {
		if ((off_t)stx->stx_size > hi) {
			stx->stx_size = (uint64_t)hi;
			uint64_t b = ((uint64_t)hi + 511) / 512;
			if (stx->stx_blocks > b)
				stx->stx_blocks = b;
		}
		struct timespec ct0 = { stx->stx_ctime.tv_sec, stx->stx_ctime.tv_nsec };
		if ((stx->stx_mask & STATX_CTIME) && !same_ts(ct0, ts[2])) {
			struct stat st;
			settle_file(dev, stx->stx_ino, "destination changed behind our back", &st);
			stx->stx_size = (uint64_t)st.st_size;
			stx->stx_blocks = (uint64_t)st.st_blocks;
			stx->stx_mtime.tv_sec = st.st_mtim.tv_sec;
			stx->stx_mtime.tv_nsec = (uint32_t)st.st_mtim.tv_nsec;
			stx->stx_ctime.tv_sec = st.st_ctim.tv_sec;
			stx->stx_ctime.tv_nsec = (uint32_t)st.st_ctim.tv_nsec;
		} else if ((stx->stx_mask & (STATX_MTIME | STATX_CTIME)) == (STATX_MTIME | STATX_CTIME)) {
			struct timespec mt = { stx->stx_mtime.tv_sec, stx->stx_mtime.tv_nsec };
			struct timespec ct = { stx->stx_ctime.tv_sec, stx->stx_ctime.tv_nsec };
			fix_times(&mt, &ct, ts);
			stx->stx_mtime.tv_sec = mt.tv_sec;
			stx->stx_mtime.tv_nsec = (uint32_t)mt.tv_nsec;
			stx->stx_ctime.tv_sec = ct.tv_sec;
			stx->stx_ctime.tv_nsec = (uint32_t)ct.tv_nsec;
		}
	}
	ERRNO_RESTORE;
}

/* ---- settle triggers ---- */

void copy_settle_fd(int fd, const char *why)
{
	uintptr_t ent = fd_get(fd);
	if (!fd_is_copy(ent))
		return;
	struct frame f;
	struct copy *c = frame_lock(&f, fd, ent);
	if (c)
		settle_locked(c, why);
	frame_unlock(&f, c);
}

void copy_settle_path(int dirfd, const char *path, int flags, const char *why)
{
	if (!__atomic_load_n(&copies_active, __ATOMIC_RELAXED) || !path)
		return;
	ERRNO_SAVE;
	struct stat st;
	if (real.fstatat(dirfd, path, &st, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) == 0)
		settle_file(st.st_dev, st.st_ino, why, NULL);
	ERRNO_RESTORE;
}

void copy_settle_all(const char *why)
{
	if (!__atomic_load_n(&copies_active, __ATOMIC_RELAXED) || !pid_is_ours())
		return;
	FOR_EACH_COPY(c) {
		if (!__atomic_load_n(&c->active, __ATOMIC_RELAXED))
			continue;
		pthread_mutex_lock(&c->lock);
		settle_locked(c, why);
		pthread_mutex_unlock(&c->lock);
	}
}

void copy_settle_before_exec(void)
{
	if (!__atomic_load_n(&copies_active, __ATOMIC_RELAXED))
		return;
	int pid = (int)SYS(SYS_getpid);
	if (pid == shim_pid) {
		copy_settle_all("exec");
		return;
	}
	/*
	 * A vfork child (same memory, K_KCMP_VM) execs while its parent waits:
	 * the program it runs must see D as written, so settle for the parent,
	 * as if it had settled before vfork. A child with memory of its own
	 * (_Fork, raw clone) holds copies of the records: it must not act.
	 */
	if ((int)SYS(SYS_getppid) != shim_pid || SYS(SYS_kcmp, pid, shim_pid, K_KCMP_VM, 0, 0) != 0)
		return;
	FOR_EACH_COPY(c) {
		if (!__atomic_load_n(&c->active, __ATOMIC_RELAXED))
			continue;
		pthread_mutex_lock(&c->lock);
		settle_owned(c, "exec in a vfork child", shim_pid);
		pthread_mutex_unlock(&c->lock);
	}
}

void copy_go_inert(const char *why)
{
	if (copy_inert)
		return;
	if (!fd_limit()) {  /* nothing tracked yet: keep it that way */
		fdtab_disable();
		return;
	}
	sigset_t saved;
	gate_close(&saved);
	if (!copy_inert && pid_is_ours()) {
		FOR_EACH_COPY(c) {
			pthread_mutex_lock(&c->lock);
			settle_locked(c, why);
			if (c->owner == shim_pid)
				close_privates_locked(c);
			pthread_mutex_unlock(&c->lock);
		}
		__atomic_store_n(&stash.full, 0, __ATOMIC_RELAXED);
		stats_flush();
		fdtab_disable();
		__atomic_store_n(&copy_inert, 1, __ATOMIC_RELEASE);
	}
	gate_open(&saved);
}

void copy_after_fork_child(void)
{
	FOR_EACH_COPY(c) {
		pthread_mutex_init(&c->lock, NULL);
		/* The parent's private fds are not ours to keep open. */
		close_privates_locked(c);
	}
	pool_lock = 0;
	stash.lock = 0;
	stash.full = 0;
}

/* ---- fd lifecycle ---- */

/* The program is about to lose fd `fd`: forget it. A copy that verifies
 * against it goes on reading S by name (no fd of ours stays open on S). */
static void drop_fd(int fd, const char *why)
{
	uintptr_t ent = wait_not_busy(fd);
	if (fd_is_copy(ent))
		forget_fd(fd, ent, why);
	else if (ent != FD_UNKNOWN)
		fd_cas(fd, ent, FD_UNKNOWN);
	fd_reset(fd);
	if (!__atomic_load_n(&copies_active, __ATOMIC_RELAXED))
		return;
	FOR_EACH_COPY(c) {
		if (!__atomic_load_n(&c->active, __ATOMIC_RELAXED))
			continue;
		pthread_mutex_lock(&c->lock);
		if (c->active && c->src.fd == fd) {
			c->src.fd = -1;
			c->src.bypath = source_path(fd, c->src.path, PATH_CAP);
			c->src.lockgen = __atomic_load_n(&copy_lock_gen, __ATOMIC_ACQUIRE);
			if (!c->src.bypath)
				settle_locked(c, "source closed");
		}
		pthread_mutex_unlock(&c->lock);
	}
}

void copy_fd_closing(int fd)
{
	if ((unsigned)fd >= fd_limit())
		return;
	uintptr_t ent = fd_get(fd);
	/* A file read to its end (its offset at least the size it had when
	 * first read: one lseek, only for files worth a clone) is remembered by
	 * name and identity only: a readlink and an fstat more, no lock, no fd.
	 * A vfork child's close lands here too; what it remembers is only ever
	 * a candidate, checked before use. */
	/* (Not a copy's source: a file once copied is seldom written again
	 * from a read of it closed first, and every file of a tree copier
	 * would pay the three calls.) */
	long long size = fd_was_read(ent) && !(ent & FD_SRC_BIT) ? fd_get_size(fd) : 0;
	if (size > 0 && size >= cfg.min_size_floor) {
		int saved = errno;
		if (SYS(SYS_lseek, fd, 0, SEEK_CUR) >= size)
			stash_remember(fd);
		errno = saved;
	}
	if (!fd_is_copy(ent) && !__atomic_load_n(&copies_active, __ATOMIC_RELAXED)) {
		if (ent != FD_UNKNOWN)
			fd_cas(fd, ent, FD_UNKNOWN);
		fd_reset(fd);
		return;
	}
	struct frame f;
	frame_enter(&f);
	/* A vfork child shares our memory: its closes are not the parent's. */
	if (pid_is_ours())
		drop_fd(fd, "close");
	frame_leave(&f);
}

void copy_fd_opened(int fd, int flags)
{
	if ((unsigned)fd >= fd_limit())
		return;
	uintptr_t ent = fd_get(fd);
	bool active = __atomic_load_n(&copies_active, __ATOMIC_RELAXED);
	if (!fd_is_copy(ent) && !active) {
		fd_put(fd, FD_UNKNOWN);
		fd_reset(fd);
		return;
	}
	struct frame f;
	frame_enter(&f);
	/* In a vfork child (which shares our memory) leave the parent's table be. */
	if (pid_is_ours()) {
		if (fd_is_copy(ent))
			forget_fd(fd, ent, "descriptor reused behind our back");
		fd_put(fd, FD_UNKNOWN);
		fd_reset(fd);
		struct stat st;
		if (active && real_fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			FOR_EACH_COPY(c) {
				if (!__atomic_load_n(&c->active, __ATOMIC_RELAXED))
					continue;
				pthread_mutex_lock(&c->lock);
				if (c->active && c->ddev == st.st_dev && c->dino == st.st_ino) {
					if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
						settle_locked(c, "opened again for writing");
					} else {
						c->nalias++;
						fd_put(fd, (uintptr_t)c | FD_ALIAS_TAG);
					}
				}
				pthread_mutex_unlock(&c->lock);
			}
		}
	}
	frame_leave(&f);
}

void copy_fd_duped(int oldfd, int newfd)
{
	if ((unsigned)newfd >= fd_limit() || oldfd == newfd)
		return;
	struct frame f;
	frame_enter(&f);
	if (pid_is_ours() || !__atomic_load_n(&copies_active, __ATOMIC_RELAXED)) {
		drop_fd(newfd, "replaced by dup");
		uintptr_t ent = wait_not_busy(oldfd);
		if (fd_is_copy(ent)) {
			struct copy *c = lock_entry(oldfd, ent);
			if (c) {
				if (fd_is_alias(ent))
					c->nalias++;
				else
					c->ndest++;
				fd_put(newfd, ent);
				pthread_mutex_unlock(&c->lock);
			}
		} else if (ent == FD_PLAIN || fd_is_reg(ent)) {
			fd_put(newfd, ent);
			fd_hint(newfd, fd_get_hint(oldfd));
			fd_set_size(newfd, fd_get_size(oldfd));
		}
	}
	frame_leave(&f);
}

/* ---- our private fds ---- */

/*
 * The only private fds are the dups of armed destinations (c->dpriv). The
 * program must see their numbers as free: a call on one answers EBADF
 * (FD_PRIV in the table), and when the program asks for a number we hold
 * we give it up, settling that copy first.
 */

/* Settles and closes every private fd numbered first..last. Closing a dup
 * of D drops the process's POSIX locks on D; see DESIGN.md. */
static void release_privates(unsigned first, unsigned last, const char *why)
{
	/* A vfork child shares our records: its fd games are not its parent's. */
	if (!__atomic_load_n(&privs_open, __ATOMIC_RELAXED) || !pid_is_ours())
		return;
	struct frame f;
	frame_enter(&f);
	FOR_EACH_COPY(c) {
		pthread_mutex_lock(&c->lock);
		if (c->dpriv >= 0 && (unsigned)c->dpriv >= first && (unsigned)c->dpriv <= last &&
		    c->owner == shim_pid) {
			settle_locked(c, why);
			close_privates_locked(c);
		}
		pthread_mutex_unlock(&c->lock);
	}
	frame_leave(&f);
}

/* Whether one of our fds is numbered first..last (a table scan, no lock). */
static bool privates_in(unsigned first, unsigned last)
{
	int top = __atomic_load_n(&fdtab_top, __ATOMIC_RELAXED);
	if (first < (unsigned)priv_fd_base)
		first = (unsigned)priv_fd_base;
	for (unsigned fd = first; fd <= last && (int)fd <= top && fd < fd_limit(); fd++)
		if (fd_get((int)fd) == FD_PRIV)
			return true;
	return false;
}

/*
 * Gives up our fds numbered first..last, then holds priv_lock (inside the
 * gate) so that none is taken again before the caller's call is made. The
 * lock is never held while settling: settling takes a record's lock, and
 * do_clone takes priv_lock under one.
 */
static void claim_numbers(struct gate_ctx *g, unsigned first, unsigned last, const char *why)
{
	gate_enter(g);
	priv_acquire();
	/* Another thread may arm a copy on a freed number before we lock
	 * again; release_privates frees every one it finds each time. */
	while (privates_in(first, last)) {
		priv_release();
		release_privates(first, last, why);
		priv_acquire();
		if (!pid_is_ours())
			break;  /* a vfork child cannot release its parent's */
	}
}

static int unclaim_numbers(struct gate_ctx *g, int r)
{
	int saved = errno;
	priv_release();
	gate_leave(g);
	errno = saved;
	return r;
}

int copy_dup_onto(int fd, int fd2, int flags, bool three)
{
	if (fd2 < priv_fd_base || fd == fd2 || !fd_limit())
		return three ? real.dup3(fd, fd2, flags) : real.dup2(fd, fd2);
	struct gate_ctx g;
	claim_numbers(&g, (unsigned)fd2, (unsigned)fd2, "private fd wanted by the program");
	return unclaim_numbers(&g, three ? real.dup3(fd, fd2, flags) : real.dup2(fd, fd2));
}

static int do_close_range(unsigned first, unsigned last, int flags, bool from)
{
	if (!from)
		return real.close_range(first, last, flags);
	real.closefrom((int)first);
	return 0;
}

int copy_close_range(unsigned first, unsigned last, int flags, bool from)
{
	if ((flags & K_CLOSE_RANGE_CLOEXEC) || !fd_limit())
		return do_close_range(first, last, flags, from);
	copy_fds_closing_range(first, last);
	if (last < (unsigned)priv_fd_base)
		return do_close_range(first, last, flags, from);
	/* The kernel would close ours too, behind our back. */
	struct gate_ctx g;
	claim_numbers(&g, first, last, "private fd in a closed range");
	return unclaim_numbers(&g, do_close_range(first, last, flags, from));
}

void copy_fds_wanted_from(int base)
{
	if (__atomic_load_n(&privs_open, __ATOMIC_RELAXED))
		release_privates(base < 0 ? 0 : (unsigned)base, ~0u, "fd numbers wanted by the program");
}

bool copy_fds_exhausted(void)
{
	/* Only without POSIX locks in this process: closing our dup of D would
	 * drop any the program holds on D, and an EMFILE is the lesser harm. */
	if (!__atomic_load_n(&privs_open, __ATOMIC_RELAXED) || __atomic_load_n(&copy_lock_gen, __ATOMIC_RELAXED))
		return false;
	release_privates(0, ~0u, "fd table full");
	return true;
}

void copy_fds_closing_range(unsigned first, unsigned last)
{
	int top = __atomic_load_n(&fdtab_top, __ATOMIC_RELAXED);
	if (!fd_limit() || !pid_is_ours())
		return;  /* inert, or a vfork child (posix_spawn's close_range) */
	ERRNO_SAVE;
	for (unsigned fd = first; fd <= last && (int)fd <= top && fd < fd_limit(); fd++) {
		uintptr_t e = fd_get((int)fd);
		if (e != FD_PRIV && (e != FD_UNKNOWN || fd_get_hint((int)fd)))
			copy_fd_closing((int)fd);
	}
	ERRNO_RESTORE;
}

void copy_note_posix_lock(void)
{
	__atomic_add_fetch(&copy_lock_gen, 1, __ATOMIC_ACQ_REL);
}

void copy_fd_truncated(int fd, off_t len)
{
	uintptr_t e = fd_get(fd);
	if (len == 0 && fd_is_reg(e))
		fd_cas(fd, e, e & ~FD_PASS_WRITE);
}
