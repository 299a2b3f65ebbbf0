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
#endif
