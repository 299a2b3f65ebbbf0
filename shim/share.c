/*
 * share.c — the per-user index of sources other processes read (share.h).
 *
 * Only raw system calls and no allocation: it runs inside wrappers, on
 * small stacks, in processes that may have lowered every limit. No fd:
 * the segment is attached once and read and written as memory.
 */
#define _GNU_SOURCE
#include "share.h"

#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include "sys.h"

/*
 * A 64-bit hash of n bytes at p (n a multiple of 8): FNV-1a's step over
 * 64-bit words in four independent lanes, then a mix. Every first read of
 * a large file hashes 512 bytes: FNV over bytes cost `tar cf` 3,000
 * instructions a file (callgrind), one lane 466. Only ever a proposal:
 * every candidate is compared byte for byte before anything is done on
 * its strength.
 */
#define HASH_PRIME 0x100000001b3ULL

static uint64_t hash_words(uint64_t h, const unsigned char *p, size_t n)
{
	uint64_t l[4] = { h, h ^ 0x9e3779b97f4a7c15ULL, h ^ 0xc2b2ae3d27d4eb4fULL, h ^ 0x165667b19e3779f9ULL };
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		uint64_t w[4];
		memcpy(w, p + i, 32);
		l[0] = (l[0] ^ w[0]) * HASH_PRIME;
		l[1] = (l[1] ^ w[1]) * HASH_PRIME;
		l[2] = (l[2] ^ w[2]) * HASH_PRIME;
		l[3] = (l[3] ^ w[3]) * HASH_PRIME;
	}
	for (; i < n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		l[0] = (l[0] ^ w) * HASH_PRIME;
	}
	h = l[0] ^ (l[1] << 16 | l[1] >> 48) ^ (l[2] << 32 | l[2] >> 32) ^ (l[3] << 48 | l[3] >> 16);
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	return h ^ (h >> 32);
}

#define HASH_BASIS 0xcbf29ce484222325ULL

uint64_t share_key(const unsigned char *p)
{
	/* Disk and ISO images start with zeros: one such file published
	 * would be every zero-filled first write's candidate, cloned whole
	 * and cut back each time. Zeros hash to one value, computed once;
	 * only a start with that hash is scanned. */
	static const unsigned char zeros[SHARE_KEY_LEN];
	static uint64_t zero_key;
	uint64_t k = hash_words(HASH_BASIS, p, SHARE_KEY_LEN);
	uint64_t z = __atomic_load_n(&zero_key, __ATOMIC_RELAXED);
	if (!z) {
		z = hash_words(HASH_BASIS, zeros, SHARE_KEY_LEN);
		__atomic_store_n(&zero_key, z, __ATOMIC_RELAXED);
	}
	if (k == z && memcmp(p, zeros, SHARE_KEY_LEN) == 0)
		return 0;
	return k ? k : 1;  /* 0 marks an empty slot */
}

/* Bytes of e a slot's writer stores and its sum covers: up to the end of
 * the word holding the path's NUL (share_publish zeroes the rest of that
 * word; what lies beyond is an older entry's, covered by nothing). */
static size_t entry_used(const struct share_entry *e)
{
	size_t n = strnlen(e->path, SHARE_PATH_CAP);
	size_t used = offsetof(struct share_entry, path) + ((n + 8) & ~(size_t)7);
	return used < offsetof(struct share_entry, sum) ? used : offsetof(struct share_entry, sum);
}

static uint64_t share_sum(const struct share_entry *e)
{
	return hash_words(HASH_BASIS, (const unsigned char *)e, entry_used(e)) ^ 0x5265666c696e6b31ULL;
}

struct share_index {
	uint64_t magic;
	unsigned char pad[SHARE_SLOT - 8];
	struct share_entry slot[SHARE_SETS][SHARE_WAYS];
};

_Static_assert(sizeof(struct share_index) == SHARE_BYTES, "the segment is the index");

static struct share_index *attached;
static uid_t attached_euid;

/* Gives [at, at + len) back to anonymous memory of ours, atomically: a
 * thread still writing a slot there writes into nothing that matters,
 * and the range is never left for the kernel to hand to the program. */
static void unattach(void *at, size_t len)
{
	SYS(SYS_mmap, at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

struct share_index *share_attach(void *at, size_t room)
{
	struct share_index *ix = __atomic_load_n(&attached, __ATOMIC_ACQUIRE);
	if (ix)
		return ix;
	/* The kernel maps whole pages (up to 64 KiB on aarch64). */
	size_t len = (SHARE_BYTES + 0xffff) & ~(size_t)0xffff;
	if (!at || room < len) {
		errno = ENOMEM;
		return NULL;
	}
	uid_t euid = (uid_t)SYS(SYS_geteuid);
	int key = (int)(SHARE_IPC_KEY ^ (unsigned)euid);
	if (key == IPC_PRIVATE) {
		errno = EINVAL;
		return NULL;
	}
	/* IPC_CREAT's mode is not cut by the umask. An existing segment keeps
	 * its own: another user's that we may not use answers EACCES, one
	 * shorter than ours EINVAL; the rest is checked below. */
	int id = (int)SYS(SYS_shmget, key, SHARE_BYTES, IPC_CREAT | 0600);
	if (id < 0)
		return NULL;
	struct shmid_ds ds;
	if (SYS(SYS_shmctl, id, IPC_STAT, &ds) != 0)
		return NULL;
	if (ds.shm_perm.uid != euid || ds.shm_perm.cuid != euid || (ds.shm_perm.mode & 0777) != 0600 ||
	    ds.shm_segsz != SHARE_BYTES) {
		errno = EPERM;
		return NULL;
	}
	/* Over our own reserved range (SHM_REMAP: replacing it). A failed
	 * attach may have unmapped it: it is made ours again. */
	if (SYS(SYS_shmat, id, at, SHM_REMAP) == -1) {
		int e = errno;
		unattach(at, len);
		errno = e;
		return NULL;
	}
	ix = at;
	/* A new segment is zeroed; whoever comes first claims it. */
	uint64_t zero = 0;
	__atomic_compare_exchange_n(&ix->magic, &zero, SHARE_MAGIC, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&ix->magic, __ATOMIC_ACQUIRE) != SHARE_MAGIC) {
		unattach(at, len);
		errno = EPERM;
		return NULL;
	}
	/* Not in a core dump (it holds other processes' file names), and not
	 * locked by an mlockall(MCL_FUTURE): the program's RLIMIT_MEMLOCK is
	 * its own. */
	SYS(SYS_madvise, at, len, MADV_DONTDUMP);
	SYS(SYS_munlock, at, len);
	/* Another thread, or a signal handler, may have attached meanwhile:
	 * at the same address, so either attachment is the one kept. */
	attached_euid = euid;
	__atomic_store_n(&attached, ix, __ATOMIC_SEQ_CST);
	/* A setuid on another thread since our geteuid found nothing attached
	 * to detach (3 runs of 400, a helper's attack): once stored, either it
	 * sees ours, or we see its new user here. */
	if ((uid_t)SYS(SYS_geteuid) != euid) {
		share_detach_if_other_user(at);
		errno = EPERM;
		return NULL;
	}
	return ix;
}

bool share_detach_if_other_user(void *at)
{
	struct share_index *ix = __atomic_load_n(&attached, __ATOMIC_SEQ_CST);
	if (!ix || (uid_t)SYS(SYS_geteuid) == attached_euid)
		return false;
	__atomic_store_n(&attached, NULL, __ATOMIC_RELEASE);
	unattach(at, (SHARE_BYTES + 0xffff) & ~(size_t)0xffff);
	return true;
}

/*
 * Other processes (and threads) write the slots while we read them: word
 * by word, relaxed atomic loads and stores (plain moves on x86_64 and
 * aarch64), so that a torn slot is the only outcome, caught by its
 * checksum, and ThreadSanitizer sees no data race.
 */
static void words_store(uint64_t *dst, const uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
}

static void words_load(uint64_t *dst, const uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static struct share_entry *set_of(struct share_index *ix, uint64_t key)
{
	return ix->slot[key % SHARE_SETS];
}

bool share_publish(struct share_index *ix, struct share_entry *e)
{
	size_t n = strnlen(e->path, SHARE_PATH_CAP);
	if (!e->key || n == SHARE_PATH_CAP)
		return false;
	memset(e->path + n, 0, ((n + 8) & ~(size_t)7) - n);  /* the rest of entry_used's last word */
	e->sum = share_sum(e);
	unsigned way = (unsigned)((e->ino ^ (e->ino >> 17) ^ e->dev) % SHARE_WAYS);
	struct share_entry *slot = &set_of(ix, e->key)[way];
	words_store((uint64_t *)(void *)slot, (const uint64_t *)(const void *)e, entry_used(e) / 8);
	__atomic_store_n(&slot->sum, e->sum, __ATOMIC_RELAXED);
	return true;
}

bool share_has(const struct share_index *ix, uint64_t key)
{
	const struct share_entry *set = set_of((struct share_index *)ix, key);
	for (int i = 0; i < SHARE_WAYS; i++)
		if (__atomic_load_n(&set[i].key, __ATOMIC_RELAXED) == key)
			return key != 0;
	return false;
}

int share_lookup(const struct share_index *ix, uint64_t key, struct share_entry *set)
{
	if (!key)
		return 0;
	/* A copy first: other processes may be writing the slots. */
	words_load((uint64_t *)(void *)set, (const uint64_t *)(const void *)set_of((struct share_index *)ix, key),
		   sizeof(*set) * SHARE_WAYS / 8);
	int n = 0;
	for (int i = 0; i < SHARE_WAYS; i++) {
		struct share_entry *e = &set[i];
		if (e->key != key || e->sum != share_sum(e) || strnlen(e->path, SHARE_PATH_CAP) == SHARE_PATH_CAP ||
		    e->path[0] != '/')
			continue;
		if (n != i)
			memcpy(&set[n], e, sizeof(*e));
		n++;
	}
	return n;
}
