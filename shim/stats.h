/*
 * stats.h — what this process cloned and why other copies were not cloned,
 * for `reflink-shim --stats` (REFLINK_SHIM_STATS=FILE).
 *
 * Counters are process-wide atomics; stats_flush() appends them as one line
 * to FILE and zeroes them, so a record is written once per process image
 * (at exit, _exit, before exec) and never twice for the same copy. The
 * wrapper that created FILE adds the lines up once its command has ended.
 */
#ifndef SHIM_STATS_H
#define SHIM_STATS_H

#include <stdbool.h>
#include <sys/types.h>

/* Why a copy the shim saw was not (wholly) cloned. */
enum why_not {
	WHY_SMALL,        /* source smaller than REFLINK_SHIM_MIN_SIZE */
	WHY_DIFFERED,     /* the program wrote something else than the source */
	WHY_LAYOUT,       /* source has holes, preallocation or many extents */
	WHY_OTHER_FS,     /* source and destination on different filesystems */
	WHY_UNSUPPORTED,  /* this filesystem type cannot clone */
	WHY_FAILED,       /* the clone failed for this pair (see the log) */
	WHY_SHARED,       /* the destination is open on another fd of the process */
	WHY_COUNT
};

/* A destination now holds `bytes` shared with its source, wholly cloned;
 * across: a source another process read (share.h). */
void stats_cloned(off_t bytes, bool across);

/* A copy was seen but not cloned; fstype is statfs's f_type for
 * WHY_UNSUPPORTED, else ignored. */
void stats_not_cloned(enum why_not why, long fstype);

/* In a fork child: the inherited counts are the parent's. */
void stats_forget(void);

/* Appends the counters to REFLINK_SHIM_STATS, if set and non-zero, and
 * zeroes them. Async-signal-safe. */
void stats_flush(void);

#endif
