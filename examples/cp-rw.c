/*
 * cp-rw — the plainest possible file copier: read() into a buffer, write()
 * it out, until EOF. It knows nothing about reflinks; under reflink-shim
 * its copy becomes one FICLONE.
 *
 *   cp-rw [-b BYTES] SRC DST
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t bs = 128 * 1024;
	int opt;
	while ((opt = getopt(argc, argv, "b:h")) != -1) {
		if (opt == 'b') {
			bs = strtoul(optarg, NULL, 0);
		} else {
			fprintf(stderr, "usage: cp-rw [-b BYTES] SRC DST\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 2 || bs == 0) {
		fprintf(stderr, "usage: cp-rw [-b BYTES] SRC DST\n");
		return 2;
	}
	int in = open(argv[optind], O_RDONLY);
	if (in < 0) {
		fprintf(stderr, "cp-rw: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	int out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		fprintf(stderr, "cp-rw: %s: %s\n", argv[optind + 1], strerror(errno));
		return 1;
	}
	char *buf = malloc(bs);
	if (!buf)
		return 1;
	for (;;) {
		ssize_t n = read(in, buf, bs);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "cp-rw: read: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "cp-rw: write: %s\n", strerror(errno));
				return 1;
			}
			done += w;
		}
	}
	if (close(out) != 0) {
		fprintf(stderr, "cp-rw: close: %s\n", strerror(errno));
		return 1;
	}
	close(in);
	free(buf);
	return 0;
}
