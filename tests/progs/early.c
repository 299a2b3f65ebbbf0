/*
 * early.so — a library whose constructor copies a file on a new thread, so
 * that the shim is reached from another library's constructor, and from a
 * thread that is not the main one, possibly before its own constructor ran.
 * EARLY_SRC and EARLY_DST name the files.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "common.h"

static void *copy(void *arg)
{
	(void)arg;
	const char *s = getenv("EARLY_SRC"), *d = getenv("EARLY_DST");
	if (!s || !d)
		return NULL;
	int in = open(s, O_RDONLY), out = open(d, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[65536];
	ssize_t r;
	while ((r = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)r) != r)
			abort();
	close(in);
	close(out);
	return NULL;
}

__attribute__((constructor)) static void early(void)
{
	pthread_t t;
	pthread_create(&t, NULL, copy, NULL);
	pthread_join(t, NULL);
}
