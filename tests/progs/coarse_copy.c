/*
 * coarse_copy — a read/write copy of a source that is being written, inside
 * one timestamp granule (tests/coarse.bats, with tests/progs/coarse.so).
 *
 *   coarse_copy SRC DST EXPECT N [CHUNK]
 *
 * N times (i = 0..N-1): copies SRC to DST.i with read/write loops of CHUNK
 * bytes (default 128 KiB), and writes every byte it writes to DST.i to
 * EXPECT.i too (EXPECT should be on a filesystem DST cannot clone from SRC,
 * tmpfs: that file is what the program wrote, whatever the shim does).
 * Meanwhile this same thread, synchronously, plays another writer of SRC:
 *
 *   1. waits for the kernel's coarse clock (CLOCK_REALTIME_COARSE, which
 *      file timestamps come from) to enter a new granule (COARSE_NS,
 *      default 10 ms, as coarse.so rounds it), then fstat()s SRC (on a
 *      multigrain kernel its next change then gets a fine-grained ctime
 *      unless the coarse clock is ahead of it);
 *   2. rewrites 16 bytes of SRC at 3 MiB: SRC was changed in this granule
 *      (ctime C0, as fstat shows it);
 *   3. copies the first chunk: read, write to DST.i (the write the shim
 *      clones at), write to EXPECT.i;
 *   4. right after that write returns, rewrites 16 bytes of SRC at 2 MiB + 100
 *      (beyond the first chunk and beyond the shim's 1 MiB window), and
 *      fstat()s SRC again (ctime C1);
 *   5. copies the rest to EOF: the reads return the bytes written in 4.
 *
 * On a kernel with coarse timestamps (coarse.so) C1 == C0 when 2..4 ran
 * inside one granule: the second change is invisible in ctime. Without
 * coarse.so, on a kernel with multigrain timestamps, C1 != C0 always; on
 * an older kernel this is the real race.
 *
 * stdout, one line per copy (the same plain and under the shim, for the
 * same SRC: what is written depends only on SRC and i):
 *   i SIZE FNV        bytes written to DST.i and their digest
 * stderr, last line:
 *   coarse_copy: H of N source changes inside one granule (at most U us
 *   from its start)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define RACE_OFF ((off_t)(2 << 20) + 100)
#define TOUCH_OFF ((off_t)(3 << 20))
#define MARK 16

/* The clock the kernel stamps files from (ktime_get_coarse_real_ts64),
 * which lags the fine one by up to a tick. */
static long long coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns when the kernel's coarse clock has entered a new granule: a
 * file changed now is stamped inside it, and the granule has most of its
 * length left. */
static void next_granule(long long g)
{
	long long t0 = coarse_ns() / g;
	while (coarse_ns() / g == t0)
		;
}

static void mark(int wfd, off_t off, int byte)
{
	unsigned char m[MARK];
	memset(m, byte, sizeof(m));
	if (pwrite(wfd, m, sizeof(m), off) != (ssize_t)sizeof(m))
		die("pwrite source: %s", strerror(errno));
}

static struct timespec ctime_of(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat source: %s", strerror(errno));
	return st.st_ctim;
}

static void put(int fd, const void *buf, size_t n, const char *what)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write %s: %s", what, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 6)
		die("usage: coarse_copy SRC DST EXPECT N [CHUNK]");
	const char *src = argv[1], *dst = argv[2], *exp = argv[3];
	int n = atoi(argv[4]);
	size_t chunk = argc > 5 ? (size_t)num(argv[5]) : 128 << 10;
	const char *e = getenv("COARSE_NS");
	long long g = e && atoll(e) > 0 ? atoll(e) : 10000000;
	char *buf = malloc(chunk);
	int wfd = open(src, O_WRONLY);
	if (!buf || wfd < 0)
		die("open %s: %s", src, strerror(errno));
	struct stat st;
	if (fstat(wfd, &st) != 0 || st.st_size < TOUCH_OFF + MARK || (off_t)chunk > RACE_OFF)
		die("%s: need a source of at least %lld bytes and a chunk below %lld", src,
		    (long long)(TOUCH_OFF + MARK), (long long)RACE_OFF);
	int hits = 0;
	long long longest = 0;
	for (int i = 0; i < n; i++) {
		char dpath[4096], epath[4096];
		snprintf(dpath, sizeof(dpath), "%s.%d", dst, i);
		snprintf(epath, sizeof(epath), "%s.%d", exp, i);
		int s = open(src, O_RDONLY);
		int d = open(dpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int x = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (s < 0 || d < 0 || x < 0)
			die("open: %s", strerror(errno));
		next_granule(g);
		long long t0 = mono_ns();
		ctime_of(wfd);
		mark(wfd, TOUCH_OFF, 'a' + i % 26);
		struct timespec c0 = ctime_of(wfd);
		uint64_t h = FNV_INIT;
		long long total = 0;
		for (int k = 0;; k++) {
			ssize_t r = read(s, buf, chunk);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read %s: %s", src, strerror(errno));
			if (r == 0)
				break;
			put(d, buf, (size_t)r, dpath);
			if (k == 0) {
				mark(wfd, RACE_OFF, 'A' + i % 26);
				struct timespec c1 = ctime_of(wfd);
				hits += c1.tv_sec == c0.tv_sec && c1.tv_nsec == c0.tv_nsec;
				if (mono_ns() - t0 > longest)
					longest = mono_ns() - t0;
			}
			put(x, buf, (size_t)r, epath);
			h = fnv(buf, (size_t)r, h);
			total += r;
		}
		if (close(d) != 0 || close(x) != 0 || close(s) != 0)
			die("close: %s", strerror(errno));
		printf("%d %lld %016llx\n", i, total, (unsigned long long)h);
	}
	fflush(stdout);
	fprintf(stderr, "coarse_copy: %d of %d source changes inside one granule (at most %lld us from its start)\n",
		hits, n, longest / 1000);
	return 0;
}
