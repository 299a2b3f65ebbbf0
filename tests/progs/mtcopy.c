/*
 * mtcopy — N threads copying N files at once with read/write loops.
 *
 *   mtcopy N CHUNK SRC DSTPREFIX      copies SRC to DSTPREFIX.0 .. .N-1
 *
 * Each thread opens its own fds, so the threads' copies interleave in the
 * shim. Exits non-zero if any copy is not identical to SRC.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "common.h"

static const char *src, *prefix;
static size_t chunk;

static void *worker(void *arg)
{
	long i = (long)arg;
	char dst[4096];
	snprintf(dst, sizeof dst, "%s.%ld", prefix, i);
	int s = open(src, O_RDONLY), d = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (s < 0 || d < 0)
		die("open: %s", strerror(errno));
	char *buf = malloc(chunk), *back = malloc(chunk);
	ssize_t r;
	off_t pos = 0;
	while ((r = read(s, buf, chunk)) > 0) {
		if (write(d, buf, (size_t)r) != r)
			die("write: %s", strerror(errno));
		/* read it back through D mid-copy: must be what was written */
		if (pread(d, back, (size_t)r, pos) != r || memcmp(buf, back, (size_t)r))
			die("thread %ld: read back differs at %lld", i, (long long)pos);
		pos += r;
	}
	close(s);
	close(d);
	free(buf);
	free(back);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: mtcopy N CHUNK SRC DSTPREFIX");
	long n = (long)num(argv[1]);
	chunk = (size_t)num(argv[2]);
	src = argv[3];
	prefix = argv[4];
	pthread_t t[256];
	for (long i = 0; i < n && i < 256; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (long i = 0; i < n && i < 256; i++)
		pthread_join(t[i], NULL);
	return 0;
}
