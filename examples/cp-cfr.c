/*
 * cp-cfr — copies a file with copy_file_range(2), the way GNU cat and
 * Node's copyFileSync (through syscall()) do. Across filesystems the kernel
 * copies the data; under reflink-shim a copy within a reflink filesystem is
 * one FICLONE and the rest of the loop finds nothing left to move.
 *
 *   cp-cfr SRC DST
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cp-cfr SRC DST\n");
		return 2;
	}
	int in = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "cp-cfr: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "cp-cfr: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "cp-cfr: copy_file_range: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
	}
	if (close(out) != 0) {
		fprintf(stderr, "cp-cfr: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	return 0;
}
