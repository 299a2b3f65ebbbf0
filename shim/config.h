/*
 * config.h — settings read once from REFLINK_SHIM_* variables, and the
 * decision log.
 */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <sys/types.h>

#include "fsname.h"

struct shim_config {
	int disabled;        /* REFLINK_SHIM_DISABLE=1: interpose nothing */
	/* Sources smaller than these are copied: min_size by the class of
	 * D's filesystem (fsname.h), for copies by read/write and transfers
	 * of part of S, and min_size_floor the smallest of them, for the
	 * gates that do not know the filesystem yet; whole_min_size for one
	 * sendfile or copy_file_range that moves all of S. Their own
	 * defaults, or all REFLINK_SHIM_MIN_SIZE. */
	off_t min_size[FS_CLASSES];
	off_t min_size_floor;
	off_t whole_min_size;
	int share;           /* copies across processes (share.h); REFLINK_SHIM_SHARE=0: none */
	long max_extents;    /* REFLINK_SHIM_MAX_EXTENTS: more fragmented sources are copied;
	                        -1: automatic, see clone_extent_limit() */
	const char *log;     /* REFLINK_SHIM_LOG: file that receives one line per decision */
	const char *stats;   /* REFLINK_SHIM_STATS: file (made by the wrapper) for stats records */
	int pending;         /* read before libc set environ: read again later */
};

extern struct shim_config cfg;

/* Reads the settings (a program named in REFLINK_SHIM_EXCLUDE is disabled); if the environment is not set up yet (we were
 * reached from a library initialised before libc), marks them pending. */
void config_init(void);

/*
 * Appends one line "reflink-shim[pid]: <what> <path-or-fd> <detail>\n" to the
 * log, if any. Async-signal-safe: formats on the stack, opens the file with
 * O_APPEND|O_NOFOLLOW|O_CLOEXEC for each line, writes once, closes.
 */
void shim_log(const char *what, int fd, long long num, const char *detail);

/* Parses "123", "64K", "1M", "2G" (binary units). Returns -1 if invalid. */
long long parse_size(const char *s);

#endif
