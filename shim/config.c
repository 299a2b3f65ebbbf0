/*
 * config.c — REFLINK_SHIM_* settings and the decision log.
 *
 * The settings are read as a process starts (if one is set: init.c), so
 * the environment is scanned once, by hand, and libc is asked only for
 * what is set. The log and stats paths name files, so they are read with
 * secure_getenv (ignored in setuid/setgid processes). Every other knob is
 * harmless.
 */
#define _GNU_SOURCE
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "elfsym.h"
#include "init.h"
#include "shim.h"
#include "sys.h"

/* Measured with the writeback counted (make bench, scale tables;
 * docs/DESIGN.md "When the clone is not attempted"). A copy by read/write
 * pays the verification and the fd listing: its clone beats the copy from
 * 64 KiB on btrfs, and on XFS, whose writeback of a small file is cheaper,
 * from 128 KiB. A single call that moves all of S pays neither: its clone
 * wins from about 16 KiB on both (below, run to run noise of +-15% either
 * way; btrfs keeps files of up to 2 KiB inline, where copying is cheaper
 * still). Other filesystems get btrfs's figures. */
#define RW_XFS (128 * 1024)
#define RW_BTRFS (64 * 1024)
#define RW_OTHER (64 * 1024)
_Static_assert(FS_CLASSES == 3, "a new class needs its threshold here and a place in the floor");

struct shim_config cfg = {
	.min_size = { [FS_CLASS_OTHER] = RW_OTHER, [FS_CLASS_XFS] = RW_XFS, [FS_CLASS_BTRFS] = RW_BTRFS },
	.min_size_floor = RW_XFS < RW_BTRFS ? (RW_XFS < RW_OTHER ? RW_XFS : RW_OTHER)
					    : (RW_BTRFS < RW_OTHER ? RW_BTRFS : RW_OTHER),
	.whole_min_size = 16 * 1024,
	.max_extents = -1,
	.share = 1,
};

long long parse_size(const char *s)
{
	if (!s || !*s)
		return -1;
	long long v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (1LL << 50))
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (p == s)
		return -1;
	switch (*p) {
	case 'k': case 'K': v <<= 10; p++; break;
	case 'm': case 'M': v <<= 20; p++; break;
	case 'g': case 'G': v <<= 30; p++; break;
	default: break;
	}
	if (*p == 'i' && p[1] == 'B')
		p += 2;
	else if (*p == 'B')
		p++;
	return *p ? -1 : v;
}

static const char *base_name(const char *p)
{
	const char *b = p;
	for (; *p; p++)
		if (*p == '/')
			b = p + 1;
	return b;
}

/* list names this program: by argv[0] or by its executable's file name */
static bool excluded(const char *list)
{
	if (!list || !*list)
		return false;
	char exe[256];
	/* readlinkat: arm64 (asm-generic) has no readlink system call */
	ssize_t n = SYS(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	char *const *argv0 = elfsym_default("program_invocation_short_name");
	const char *names[2] = { argv0 ? *argv0 : NULL, base_name(exe) };
	for (const char *p = list; *p;) {
		size_t len = 0;
		while (p[len] && p[len] != ':' && p[len] != ',' && p[len] != ' ')
			len++;
		for (int i = 0; i < 2; i++)
			if (len && names[i] && strlen(names[i]) == len && !memcmp(names[i], p, len))
				return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

/* The environment: the one our constructor was given, else libc's. */
static char **environment(void)
{
	if (init_envp)
		return init_envp;
	char **const *env = elfsym_default("__environ");
	return env ? *env : NULL;
}

/* s past prefix, or NULL if s does not start with it. */
static const char *after(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (*s != *prefix)
			return NULL;
	return s;
}

void config_init(void)
{
	char **env = environment();
	cfg.pending = env == NULL;
	if (cfg.pending)
		return;
	/* The first occurrence of each counts, as with getenv. */
	const char *disable = NULL, *min_size = NULL, *max_extents = NULL, *exclude = NULL, *share = NULL, *v;
	bool log = false, stats = false;
	for (; *env; env++) {
		const char *s = **env == 'R' ? after(*env, "REFLINK_SHIM_") : NULL;
		if (!s)
			continue;
		if ((v = after(s, "DISABLE=")))
			disable = disable ? disable : v;
		else if ((v = after(s, "MIN_SIZE=")))
			min_size = min_size ? min_size : v;
		else if ((v = after(s, "MAX_EXTENTS=")))
			max_extents = max_extents ? max_extents : v;
		else if ((v = after(s, "SHARE=")))
			share = share ? share : v;
		else if ((v = after(s, "EXCLUDE=")))
			exclude = exclude ? exclude : v;
		else if (after(s, "LOG="))
			log = true;
		else if (after(s, "STATS="))
			stats = true;
	}
	cfg.disabled = disable && *disable && !(disable[0] == '0' && !disable[1]);
	cfg.share = !(share && share[0] == '0' && !share[1]);
	long long n = parse_size(min_size);
	if (n >= 0) {
		for (int i = 0; i < FS_CLASSES; i++)
			cfg.min_size[i] = n;
		cfg.min_size_floor = cfg.whole_min_size = n;
	}
	n = parse_size(max_extents);
	if (n >= 0)
		cfg.max_extents = n;
	cfg.log = log ? secure_getenv("REFLINK_SHIM_LOG") : NULL;
	if (cfg.log && !*cfg.log)
		cfg.log = NULL;
	cfg.stats = stats ? secure_getenv("REFLINK_SHIM_STATS") : NULL;
	if (cfg.stats && !*cfg.stats)
		cfg.stats = NULL;
	if (!cfg.disabled && excluded(exclude))
		cfg.disabled = 1;
}

static char *put_str(char *p, char *end, const char *s)
{
	while (s && *s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_num(char *p, char *end, long long v)
{
	char tmp[24];
	int i = 0;
	unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
	do
		tmp[i++] = (char)('0' + u % 10);
	while ((u /= 10) && i < 23);
	if (v < 0 && p < end)
		*p++ = '-';
	while (i && p < end)
		*p++ = tmp[--i];
	return p;
}

void shim_log(const char *what, int fd, long long num, const char *detail)
{
	if (!cfg.log)
		return;
	int saved = errno;
	char line[512], *p = line, *end = line + sizeof(line) - 1;
	p = put_str(p, end, "reflink-shim[");
	p = put_num(p, end, SYS(SYS_getpid));
	p = put_str(p, end, "]: ");
	p = put_str(p, end, what);
	p = put_str(p, end, " fd=");
	p = put_num(p, end, fd);
	p = put_str(p, end, " ");
	p = put_num(p, end, num);
	if (detail) {
		p = put_str(p, end, " ");
		p = put_str(p, end, detail);
	}
	*p++ = '\n';
	/* No symlinks (a log in a shared directory must not be redirected),
	 * except the kernel's own: /dev/stderr, /proc/PID/fd/2 (--verbose). */
	int nofollow = strncmp(cfg.log, "/proc/", 6) && strncmp(cfg.log, "/dev/", 5) ? O_NOFOLLOW : 0;
	int lfd = (int)SYS(SYS_openat, AT_FDCWD, cfg.log,
			       O_WRONLY | O_APPEND | O_CREAT | nofollow | O_CLOEXEC, 0600);
	if (lfd >= 0) {
		ssize_t r = SYS(SYS_write, lfd, line, (size_t)(p - line));
		(void)r;
		SYS(SYS_close, lfd);
	}
	errno = saved;
}
