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
 * The index is one System V shared memory segment per effective user (per
 * IPC namespace): a header, then SHARE_SETS sets of SHARE_WAYS slots. It
 * holds no fd of ours in the program's table (an fd, even for one call,
 * takes a number another thread of the program could see taken), and it
 * cannot be truncated under us (a mapped file can: SIGBUS in the program).
 * Attached once per process; each slot carries a checksum, so a slot torn
 * by two writers, or half-written when its writer died, reads as empty.
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
/* The header's slot, then the sets. */
#define SHARE_BYTES ((size_t)SHARE_SLOT * (1 + SHARE_WAYS * SHARE_SETS))
/*
 * The layout of the index: changed whenever the segment's size or a slot's
 * meaning changes. It is in the key as well as in the magic, so a library
 * of another layout (before and after an upgrade: a segment lasts until
 * reboot) has a segment of its own instead of refusing the other's and
 * sharing nothing. It sits in the key's top bits: two users' keys of two
 * layouts meet only where their uids differ in bit 28 or above.
 */
#define SHARE_LAYOUT 2
#define SHARE_IPC_KEY_OF(layout) (0x52534931u ^ (((unsigned)(layout) - 1) << 28))
/* The segment's key is this XOR the effective uid (layout 1: "RSI1"). */
#define SHARE_IPC_KEY SHARE_IPC_KEY_OF(SHARE_LAYOUT)
/* The first 8 bytes of an index of ours (a segment of another program with
 * our key and size, or one not yet claimed, lacks them). */
#define SHARE_MAGIC_OF(layout) (0x3178656e49535200ULL | (layout))
#define SHARE_MAGIC SHARE_MAGIC_OF(SHARE_LAYOUT)
#define SHARE_PATH_CAP (SHARE_SLOT - 5 * 8)  /* a longer name is not published */

/* What a slot holds: enough to find the file and know it again. Its size
 * and times are not kept: the process that looks it up opens the file
 * and judges it by its own fstat, as any source. */
struct share_entry {
	uint64_t key;        /* share_key() of the file's first SHARE_KEY_LEN bytes */
	uint64_t dev, ino;
	uint64_t fs;         /* fs_class (fsname.h) of its filesystem: a writer
	                        opens no name on another filesystem's device but
	                        for btrfs's subvolumes */
	char path[SHARE_PATH_CAP];  /* absolute, NUL-terminated */
	uint64_t sum;        /* share_sum() of everything above */
};

_Static_assert(sizeof(struct share_entry) == SHARE_SLOT, "a slot is one entry");

/* The key of a file whose first SHARE_KEY_LEN bytes are at p; 0 (never
 * published, never looked up) when they are all zeros. */
uint64_t share_key(const unsigned char *p);

/* The attached index (opaque: it is shared memory another process of the
 * user may be writing). */
struct share_index;

/*
 * Attaches the index of this effective user over [at, at + room), address
 * space of ours (fdtab_spare), creating it when missing; once per process.
 * NULL (errno set, the range ours again) unless the segment is exactly
 * SHARE_BYTES long, was created by and belongs to the effective user, has
 * mode 0600, and carries our header (a zeroed one, new or left by a
 * creator that died before writing it, is claimed). A same-user segment
 * of another program with our key is never written to.
 */
struct share_index *share_attach(void *at, size_t room);

/* After a change of credentials: when the effective user is no longer the
 * one whose index is attached at at, gives the range back to anonymous
 * memory (true). The caller stops sharing: a process must neither tell
 * one user's index of another's files nor look up names another user
 * chose. */
bool share_detach_if_other_user(void *at);

/* Writes e (sum filled in here) into its slot: the set of its key, the way
 * of its inode, so a file published again replaces itself. */
bool share_publish(struct share_index *ix, struct share_entry *e);

/* Whether key's set has an entry with that key (its checksum unchecked):
 * a look that copies nothing. */
bool share_has(const struct share_index *ix, uint64_t key);

/*
 * Copies key's set into set[] (SHARE_WAYS entries: 2 KiB, more than a
 * wrapper's stack may hold) and moves to its front the entries whose key
 * matches and whose checksum holds, their paths NUL-terminated. Returns
 * how many.
 */
int share_lookup(const struct share_index *ix, uint64_t key, struct share_entry *set);

#endif
