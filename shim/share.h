/*
 * share.h — the per-user index of sources other processes read (issue 13).
 *
 * A process that reads a regular file from its start publishes it here;
 * a process whose first write to an empty file begins with the same
 * bytes looks it up, opens the file itself (with its own credentials) and
 * proves it the same unchanged file before anything is cloned. So the
 * index only ever proposes candidates: a stale, torn, forged or corrupt
 * entry costs a failed check, never a wrong byte.
 *
 * The index is a file of SHARE_SETS sets of SHARE_WAYS slots, read and
 * written with pread/pwrite on a descriptor, never mapped: a mapping of a
 * file someone truncates faults SIGBUS in the program. Each slot carries a
 * checksum, so a slot torn by two writers, or half-written when its writer
 * died, reads as empty.
 */
#ifndef SHIM_SHARE_H
#define SHIM_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHARE_KEY_LEN 512   /* bytes of a file's start its key is made of */
#define SHARE_SLOT 512      /* bytes a slot takes in the file */
#define SHARE_WAYS 4
#define SHARE_SETS 256
#define SHARE_BYTES ((off_t)SHARE_SLOT * SHARE_WAYS * SHARE_SETS)
#define SHARE_PATH_CAP (SHARE_SLOT - 7 * 8)  /* a longer name is not published */

struct share_entry {
	uint64_t key;        /* share_key() of the file's first SHARE_KEY_LEN bytes */
	uint64_t dev, ino;
	int64_t size;
	int64_t ctime_sec, ctime_nsec;
	char path[SHARE_PATH_CAP];  /* absolute, NUL-terminated */
	uint64_t sum;        /* share_sum() of everything above */
};

_Static_assert(sizeof(struct share_entry) == SHARE_SLOT, "a slot is one entry");

/* The key of a file whose first SHARE_KEY_LEN bytes are at p; 0 (never
 * published, never looked up) when they are all zeros. */
uint64_t share_key(const unsigned char *p);

/*
 * Opens (creating it when missing) the index of this effective user, at
 * dir/reflink-shim-index-v1-<euid>: read-write, close-on-exec, never
 * following a symlink. Refused (-1) unless it is a regular file owned by
 * the effective user, mode 0600, with one link, and SHARE_BYTES long (an
 * empty one, a creator that died before sizing it, is sized here).
 */
int share_open(const char *dir);

/* Writes e (sum filled in here) into its slot: the set of its key, the way
 * of its inode, so a file published again replaces itself. */
bool share_publish(int ifd, struct share_entry *e);

/*
 * Reads key's set into set[] (SHARE_WAYS entries: 2 KiB, more than a
 * wrapper's stack may hold) and moves to its front the entries whose key
 * matches and whose checksum holds, their paths NUL-terminated. Returns
 * how many (0 when the set cannot be read).
 */
int share_lookup(int ifd, uint64_t key, struct share_entry *set);

#endif
