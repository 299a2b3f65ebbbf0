/* Helpers shared by the test programs. */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define die(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(2))

/* FNV-1a: a stable digest of bytes the program observed, for comparing runs. */
static inline uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static inline long long num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 0);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	if (*end)
		die("bad number '%s'", s);
	return v;
}
static inline int xopen(const char *p, int flags)
{
	int fd = open(p, flags, 0644);
	if (fd < 0)
		die("open %s: %s", p, strerror(errno));
	return fd;
}

/* fd's size, -1 if fstat fails. */
static inline off_t fsize(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* A test program's subcommands: `prog CMD ARGS...` runs the one named CMD,
 * which needs at least `args` arguments. */
struct subcmd {
	const char *name;
	int args;
	void (*fn)(char **);
};

static inline int run_subcmd(const struct subcmd *cmds, size_t ncmds, int argc, char **argv)
{
	if (argc < 2)
		die("usage: %s CMD ARGS...", argv[0]);
	for (size_t i = 0; i < ncmds; i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			if (argc - 2 < cmds[i].args)
				die("%s: needs %d arguments", argv[1], cmds[i].args);
			cmds[i].fn(argv + 2);
			return 0;
		}
	die("unknown command %s", argv[1]);
}
#endif
