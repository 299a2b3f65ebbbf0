/*
 * cp-sendfile — copies a file with sendfile(2), the way busybox cp and
 * Python's shutil.copyfile do. Under reflink-shim the first sendfile
 * becomes one FICLONE and the rest of the loop finds nothing left to move.
 *
 *   cp-sendfile SRC DST
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cp-sendfile SRC DST\n");
		return 2;
	}
	int in = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "cp-sendfile: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "cp-sendfile: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = sendfile(out, in, NULL, 1 << 30);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "cp-sendfile: sendfile: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
	}
	if (close(out) != 0) {
		fprintf(stderr, "cp-sendfile: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	return 0;
}
