/*
 * cp-whole — copies a file by reading all of it into memory, closing it,
 * and writing the buffer out in one call: the pattern of Python's
 * open(d, "wb").write(open(s, "rb").read()) and Node's
 * writeFileSync(d, readFileSync(s)). The source is closed before the
 * destination is even opened; reflink-shim still recognises the copy.
 *
 *   cp-whole SRC DST
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "cp-whole: %s: %s: %s\n", what, path, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cp-whole SRC DST\n");
		return 2;
	}
	int in = open(argv[1], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (in < 0 || fstat(in, &st) != 0)
		return fail("open", argv[1]);
	size_t size = (size_t)st.st_size, got = 0;
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return fail("malloc", argv[1]);
	while (got < size) {
		ssize_t n = read(in, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("read", argv[1]);
		if (n == 0)
			break;  /* the file shrank: copy what is there */
		got += (size_t)n;
	}
	close(in);
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return fail("open", argv[2]);
	for (size_t done = 0; done < got;) {
		ssize_t n = write(out, buf + done, got - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("write", argv[2]);
		done += (size_t)n;
	}
	if (close(out) != 0)
		return fail("close", argv[2]);
	free(buf);
	return 0;
}
