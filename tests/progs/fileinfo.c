/*
 * fileinfo — the kernel's view of a file, for assertions that do not trust
 * the shim: never run it under LD_PRELOAD.
 *
 *   fileinfo map FILE      size and data ranges (SEEK_DATA/SEEK_HOLE), so
 *                          two files' holes can be compared
 *   fileinfo shared FILE   bytes in extents flagged FIEMAP_EXTENT_SHARED,
 *                          and the file size: "SHARED SIZE"
 *   fileinfo extents FILE  number of extents
 *   fileinfo newspace FILE...  data bytes (within each size) in extents
 *                          not flagged shared, summed: the space copies took
 *   fileinfo within A B    exit 0 when every data range of A lies inside a
 *                          data range of B (A allocates nothing B leaves a hole)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static unsigned long long unshared;  /* data bytes in extents not flagged shared */

static void fiemap_walk(int fd, off_t size, unsigned long long *shared, long *count)
{
	enum { N = 256 };
	struct fiemap *fm = calloc(1, sizeof(*fm) + N * sizeof(struct fiemap_extent));
	unsigned long long start = 0;
	*shared = 0;
	*count = 0;
	for (;;) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			die("FIEMAP: %s", strerror(errno));
		if (fm->fm_mapped_extents == 0)
			break;
		int last = 0;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *x = &fm->fm_extents[i];
			unsigned long long end = x->fe_logical + x->fe_length;
			if (end > (unsigned long long)size)
				end = (unsigned long long)size;
			if (x->fe_flags & FIEMAP_EXTENT_SHARED && end > x->fe_logical)
				*shared += end - x->fe_logical;
			else if (end > x->fe_logical)
				unshared += end - x->fe_logical;
			(*count)++;
			start = x->fe_logical + x->fe_length;
			if (x->fe_flags & FIEMAP_EXTENT_LAST)
				last = 1;
		}
		if (last)
			break;
	}
	free(fm);
}

/* Data ranges of fd, via SEEK_DATA/SEEK_HOLE, into r[] (pairs); returns count. */
static int data_ranges(int fd, off_t *r, int max)
{
	int n = 0;
	off_t pos = 0;
	while (n < max) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		r[2 * n] = d;
		r[2 * n + 1] = h;
		n++;
		pos = h;
	}
	return n;
}

static int within(const char *a, const char *b)
{
	enum { MAX = 4096 };
	static off_t ra[2 * MAX], rb[2 * MAX];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	if (fa < 0 || fb < 0)
		die("open: %s", strerror(errno));
	int na = data_ranges(fa, ra, MAX), nb = data_ranges(fb, rb, MAX);
	for (int i = 0; i < na; i++) {
		int ok = 0;
		for (int j = 0; j < nb && !ok; j++)
			ok = ra[2 * i] >= rb[2 * j] && ra[2 * i + 1] <= rb[2 * j + 1];
		if (!ok) {
			printf("%s: data %lld-%lld is a hole in %s\n", a, (long long)ra[2 * i],
			       (long long)ra[2 * i + 1], b);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "within"))
		return within(argv[2], argv[3]);
	if (argc >= 2 && !strcmp(argv[1], "newspace")) {
		for (int i = 2; i < argc; i++) {
			int fd = open(argv[i], O_RDONLY);
			struct stat st;
			if (fd < 0 || fstat(fd, &st) != 0)
				die("%s: %s", argv[i], strerror(errno));
			unsigned long long shared;
			long count;
			if (st.st_size > 0)
				fiemap_walk(fd, st.st_size, &shared, &count);
			close(fd);
		}
		printf("%llu\n", unshared);
		return 0;
	}
	if (argc != 3)
		die("usage: fileinfo map|shared|extents FILE | newspace FILE... | within A B");
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		die("%s: %s", argv[2], strerror(errno));
	struct stat st;
	fstat(fd, &st);
	if (!strcmp(argv[1], "map")) {
		printf("size=%lld", (long long)st.st_size);
		off_t pos = 0;
		for (;;) {
			off_t d = lseek(fd, pos, SEEK_DATA);
			if (d < 0)
				break;
			off_t h = lseek(fd, d, SEEK_HOLE);
			printf(" data=%lld-%lld", (long long)d, (long long)h);
			pos = h;
		}
		printf("\n");
	} else if (!strcmp(argv[1], "shared")) {
		unsigned long long shared;
		long count;
		fiemap_walk(fd, st.st_size, &shared, &count);
		printf("%llu %lld\n", shared, (long long)st.st_size);
	} else if (!strcmp(argv[1], "extents")) {
		unsigned long long shared;
		long count;
		fiemap_walk(fd, st.st_size, &shared, &count);
		printf("%ld\n", count);
	} else {
		die("unknown mode %s", argv[1]);
	}
	return 0;
}
