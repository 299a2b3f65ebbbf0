/*
 * share.c — the per-user index of sources other processes read (share.h).
 *
 * Only raw system calls and no allocation: it runs inside wrappers, on
 * small stacks, in processes that may have lowered every limit.
 */
#define _GNU_SOURCE
#include "share.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "sys.h"

/* FNV-1a, 64 bits: cheap, and only ever a proposal (every candidate is
 * compared byte for byte before anything is done on its strength). */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

uint64_t share_key(const unsigned char *p)
{
	/* Disk and ISO images start with zeros: one such file published
	 * would be every zero-filled first write's candidate, cloned whole
	 * and cut back each time. */
	size_t i = 0;
	while (i < SHARE_KEY_LEN && !p[i])
		i++;
	if (i == SHARE_KEY_LEN)
		return 0;
	uint64_t k = fnv(FNV_BASIS, p, SHARE_KEY_LEN);
	return k ? k : 1;  /* 0 marks an empty slot */
}

/* Everything before the sum, the path up to its NUL only (the bytes after
 * it are whatever the writer's buffer held). */
static uint64_t share_sum(const struct share_entry *e)
{
	size_t n = strnlen(e->path, SHARE_PATH_CAP);
	uint64_t h = fnv(FNV_BASIS, (const unsigned char *)e, offsetof(struct share_entry, path));
	h = fnv(h, (const unsigned char *)e->path, n);
	return h ^ 0x5265666c696e6b31ULL;  /* an all-zero slot does not sum to 0 */
}

/* "reflink-shim-index-v1-<euid>" after dir and a slash; false if too long. */
static bool index_path(const char *dir, char *out, size_t cap)
{
	static const char base[] = "/reflink-shim-index-v1-";
	size_t d = strlen(dir);
	if (d == 0 || dir[0] != '/' || d + sizeof(base) + 12 > cap)
		return false;
	memcpy(out, dir, d);
	memcpy(out + d, base, sizeof(base) - 1);
	size_t k = d + sizeof(base) - 1;
	char digits[12];
	int n = 0;
	unsigned long u = (unsigned long)SYS(SYS_geteuid);
	do
		digits[n++] = (char)('0' + u % 10);
	while ((u /= 10) && n < 11);
	while (n)
		out[k++] = digits[--n];
	out[k] = 0;
	return true;
}

int share_open(const char *dir)
{
	char path[256];
	if (!index_path(dir, path, sizeof(path)))
		return -1;
	int fd = (int)SYS(SYS_openat, AT_FDCWD, path,
			  O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0)
		return -1;
	struct stat st;
	bool ok = SYS(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == (uid_t)SYS(SYS_geteuid) &&
		  (st.st_mode & 07777) == 0600 && st.st_nlink == 1;
	/* Sized by its creator right after the open; one that died first left
	 * it empty, and the next process sizes it. */
	if (ok && st.st_size == 0)
		ok = SYS(SYS_ftruncate, fd, SHARE_BYTES) == 0;
	else if (ok)
		ok = st.st_size == SHARE_BYTES;
	if (!ok) {
		SYS(SYS_close, fd);
		return -1;
	}
	return fd;
}

static off_t set_offset(uint64_t key)
{
	return (off_t)(key % SHARE_SETS) * SHARE_WAYS * SHARE_SLOT;
}

bool share_publish(int ifd, struct share_entry *e)
{
	if (!e->key || strnlen(e->path, SHARE_PATH_CAP) == SHARE_PATH_CAP)
		return false;
	e->sum = share_sum(e);
	unsigned way = (unsigned)((e->ino ^ (e->ino >> 17) ^ e->dev) % SHARE_WAYS);
	off_t at = set_offset(e->key) + (off_t)way * SHARE_SLOT;
	return SYS(SYS_pwrite64, ifd, e, sizeof(*e), at) == (long)sizeof(*e);
}

int share_lookup(int ifd, uint64_t key, struct share_entry *set)
{
	size_t len = sizeof(*set) * SHARE_WAYS;
	if (!key || SYS(SYS_pread64, ifd, set, len, set_offset(key)) != (long)len)
		return 0;
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
