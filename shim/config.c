/*
 * config.c — REFLINK_SHIM_* settings and the decision log.
 *
 * The log path names a file, so it is read with secure_getenv (ignored in
 * setuid/setgid processes). Every other knob is harmless and read with
 * getenv.
 */
#define _GNU_SOURCE
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"
#include "shim.h"
#include "sys.h"

struct shim_config cfg = {
	.min_size = 64 * 1024,
	.max_extents = -1,
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

extern char **environ;

void config_init(void)
{
	cfg.pending = environ == NULL;
	if (cfg.pending)
		return;
	const char *v = getenv("REFLINK_SHIM_DISABLE");
	cfg.disabled = v && *v && strcmp(v, "0") != 0;
	long long n = parse_size(getenv("REFLINK_SHIM_MIN_SIZE"));
	if (n >= 0)
		cfg.min_size = n;
	n = parse_size(getenv("REFLINK_SHIM_MAX_EXTENTS"));
	if (n >= 0)
		cfg.max_extents = n;
	cfg.log = secure_getenv("REFLINK_SHIM_LOG");
	if (cfg.log && !*cfg.log)
		cfg.log = NULL;
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
	int lfd = (int)SYS(SYS_openat, AT_FDCWD, cfg.log,
			       O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lfd >= 0) {
		ssize_t r = SYS(SYS_write, lfd, line, (size_t)(p - line));
		(void)r;
		SYS(SYS_close, lfd);
	}
	errno = saved;
}
