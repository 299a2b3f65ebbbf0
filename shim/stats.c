/*
 * stats.c — per-process counters for `reflink-shim --stats`.
 *
 * A record is one line, written with a single write() to a file opened
 * O_APPEND, so records of concurrent processes never interleave:
 *   cloned=2 crossed=1 bytes=1073741824 small=0 differed=1 layout=0 other-fs=0 failed=0 unsupported=ext4:1
 */
#define _GNU_SOURCE
#include "stats.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include "config.h"
#include "fsname.h"
#include "gate.h"
#include "shim.h"
#include "copy.h"
#include "sys.h"

static unsigned long cloned, crossed, shared_bytes, why[WHY_COUNT];

/* Unsupported copies per filesystem type: a few slots, then "other". */
#define FS_SLOTS 4
static long fs_type[FS_SLOTS];
static unsigned long fs_count[FS_SLOTS];

void stats_cloned(off_t bytes, bool across)
{
	__atomic_add_fetch(&cloned, 1, __ATOMIC_RELAXED);
	if (across)
		__atomic_add_fetch(&crossed, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&shared_bytes, (unsigned long)bytes, __ATOMIC_RELAXED);
}

void stats_not_cloned(enum why_not w, long fstype)
{
	__atomic_add_fetch(&why[w], 1, __ATOMIC_RELAXED);
	if (w != WHY_UNSUPPORTED)
		return;
	for (int i = 0; i < FS_SLOTS; i++) {
		long t = 0;
		/* claim an empty slot, or find ours */
		if (__atomic_compare_exchange_n(&fs_type[i], &t, fstype, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED) ||
		    t == fstype) {
			__atomic_add_fetch(&fs_count[i], 1, __ATOMIC_RELAXED);
			return;
		}
	}
	/* more filesystem types than slots: counted in why[] only, shown as "other" */
}

static char *put(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_u(char *p, char *end, unsigned long v)
{
	char tmp[24];
	int i = 0;
	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < 23);
	while (i && p < end)
		*p++ = tmp[--i];
	return p;
}

static const char *const why_key[WHY_COUNT] = {
	[WHY_SMALL] = "small", [WHY_DIFFERED] = "differed", [WHY_LAYOUT] = "layout",
	[WHY_OTHER_FS] = "other-fs", [WHY_UNSUPPORTED] = "unsupported-total", [WHY_FAILED] = "failed",
	[WHY_SHARED] = "shared",
};

void stats_forget(void)
{
	__atomic_store_n(&cloned, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&crossed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&shared_bytes, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < WHY_COUNT; i++)
		__atomic_store_n(&why[i], 0, __ATOMIC_RELAXED);
	for (int i = 0; i < FS_SLOTS; i++)
		__atomic_store_n(&fs_count[i], 0, __ATOMIC_RELAXED);
}

void stats_flush(void)
{
	/* A vfork child (or a raw clone) shares or copied our counters without
	 * our fork handler: they are its parent's to report. */
	if (!cfg.stats || copy_inert || (int)SYS(SYS_getpid) != shim_pid)
		return;
	unsigned long c = __atomic_exchange_n(&cloned, 0, __ATOMIC_RELAXED);
	unsigned long x = __atomic_exchange_n(&crossed, 0, __ATOMIC_RELAXED);
	unsigned long b = __atomic_exchange_n(&shared_bytes, 0, __ATOMIC_RELAXED);
	unsigned long w[WHY_COUNT], any = c;
	for (int i = 0; i < WHY_COUNT; i++)
		any |= w[i] = __atomic_exchange_n(&why[i], 0, __ATOMIC_RELAXED);
	if (!any)
		return;
	char line[512], *p = line, *end = line + sizeof(line) - 1;
	p = put(p, end, "cloned=");
	p = put_u(p, end, c);
	p = put(p, end, " crossed=");
	p = put_u(p, end, x);
	p = put(p, end, " bytes=");
	p = put_u(p, end, b);
	for (int i = 0; i < WHY_COUNT; i++) {
		p = put(p, end, " ");
		p = put(p, end, why_key[i]);
		p = put(p, end, "=");
		p = put_u(p, end, w[i]);
	}
	p = put(p, end, " unsupported=");
	unsigned long named = 0;
	for (int i = 0; i < FS_SLOTS; i++) {
		unsigned long n = __atomic_exchange_n(&fs_count[i], 0, __ATOMIC_RELAXED);
		if (!n)
			continue;
		named += n;
		p = put(p, end, fs_type_name(__atomic_load_n(&fs_type[i], __ATOMIC_RELAXED)));
		p = put(p, end, ":");
		p = put_u(p, end, n);
		p = put(p, end, ",");
	}
	if (w[WHY_UNSUPPORTED] > named) {
		p = put(p, end, "other:");
		p = put_u(p, end, w[WHY_UNSUPPORTED] - named);
	}
	*p++ = '\n';
	int saved = errno;
	/* The wrapper created the file: never create one (O_CREAT) ourselves. */
	int fd = (int)SYS(SYS_openat, AT_FDCWD, cfg.stats, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = SYS(SYS_write, fd, line, (size_t)(p - line));
		(void)r;
		SYS(SYS_close, fd);
	}
	errno = saved;
}
