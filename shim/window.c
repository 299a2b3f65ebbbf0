/*
 * window.c — a copy's source S and the window of its bytes (window.h).
 *
 * Everything here runs inside the copy module's gate, with the copy's
 * record locked: no locking of its own. Program memory is only ever read
 * through umem.h, so a bad pointer in a write costs a failed comparison
 * (and the program's own write then meets EFAULT), never a fault here.
 */
#define _GNU_SOURCE
#include "window.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clone.h"
#include "copy.h"
#include "real.h"
#include "sys.h"
#include "umem.h"

#define MAP_LEN (WIN_CAP + SCRATCH_CAP + PATH_CAP)

bool source_map(struct source *src)
{
	if (src->win)
		return true;
	void *w = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		return false;
	src->win = w;
	src->scratch = src->win + WIN_CAP;
	src->path = (char *)src->scratch + SCRATCH_CAP;
	return true;
}

/* "/proc/thread-self/fd/N" into link: /proc/self is the thread group
 * leader's, whose fd N is another file where this thread has an fd table
 * of its own (a helper's attack opened it, and our close of it dropped
 * the thread's POSIX lock). */
static void fd_link(int fd, char link[40])
{
	static const char dir[] = "/proc/thread-self/fd/";
	char digits[12];
	int k = 0, i = sizeof(dir) - 1;
	memcpy(link, dir, sizeof(dir) - 1);
	unsigned u = (unsigned)fd;
	do
		digits[k++] = (char)('0' + u % 10);
	while ((u /= 10) && k < 11);
	while (k)
		link[i++] = digits[--k];
	link[i] = 0;
}

/* Reads the link /proc/thread-self/fd/N: no fd, no allocation. */
bool source_path(int fd, char *path, size_t cap)
{
	char link[40];
	fd_link(fd, link);
	long n = SYS(SYS_readlinkat, AT_FDCWD, link, path, cap - 1);
	/* cap - 1 bytes may be a longer name cut short */
	if (n <= 0 || (size_t)n >= cap - 1 || path[0] != '/')
		return false;
	path[n] = 0;
	static const char deleted[] = " (deleted)";
	size_t d = sizeof(deleted) - 1;
	return !((size_t)n >= d && memcmp(path + n - d, deleted, d) == 0);
}

/*
 * Closing our fd would drop the process's POSIX locks on the file; the
 * program's own close of S dropped every one it had, so none can exist
 * unless one was taken since `lockgen`: then we do not open S at all.
 */
int source_open_by_name(const char *path, dev_t dev, ino_t ino, unsigned lockgen)
{
	struct stat st;
	if (__atomic_load_n(&copy_lock_gen, __ATOMIC_ACQUIRE) != lockgen)
		return -1;
	/* Look before opening, at what we will open: the name may now lead to
	 * a FIFO or a device, whose open has effects of its own (a writer
	 * blocked opening the FIFO goes on), and a look at the name and an
	 * open of it are two walks another process can rename between. An
	 * O_PATH fd opens nothing (and its close drops no lock); the file it
	 * holds is opened through /proc, never the name again. */
	int pfd = (int)SYS(SYS_openat, AT_FDCWD, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -1;
	int fd = -1;
	if (real_fstat(pfd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != dev || st.st_ino != ino)
		goto out;
	char link[40];
	fd_link(pfd, link);
	/* Our reads must not stamp S's atime: the program's own (or another
	 * process's, which may have used O_NOATIME too) were all it had.
	 * O_NOATIME needs S's owner or CAP_FOWNER; without it, S is read only
	 * where the mount's relatime rule leaves its atime as it is. */
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	fd = (int)SYS(SYS_openat, AT_FDCWD, link, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM) {
		struct statfs sf;
		if (SYS(SYS_fstatfs, pfd, &sf) != 0 || !atime_stays(&st, !(sf.f_flags & (ST_RELATIME | ST_NOATIME))))
			goto out;
		fd = (int)SYS(SYS_openat, AT_FDCWD, link, flags);
	}
	if (fd >= 0 && (real_fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino)) {
		SYS(SYS_close, fd);
		fd = -1;
	}
out:
	SYS(SYS_close, pfd);
	return fd;
}

bool source_unchanged(const struct source *src, int sfd)
{
	struct stat st;
	return sfd >= 0 && real_fstat(sfd, &st) == 0 && st.st_dev == src->dev && st.st_ino == src->ino &&
	       st.st_size == src->size && same_ts(st.st_ctim, src->ctime);
}

/* Reads up to WIN_CAP (or `want`) bytes of S at `at` into the window. With
 * sfd < 0, S is opened by name, checked unchanged and closed again. */
static ssize_t refill(struct source *src, int sfd, off_t at, size_t want)
{
	size_t cap = want < WIN_CAP ? want : WIN_CAP;
	if (src->size - at < (off_t)cap)
		cap = (size_t)(src->size - at);
	size_t got = 0;
	src->winlen = 0;
	int s = sfd;
	if (s < 0 && (!src->bypath || (s = source_open_by_name(src->path, src->dev, src->ino, src->lockgen)) < 0))
		return -1;
	while (got < cap) {
		ssize_t r = real.pread(s, src->win + got, cap - got, at + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (sfd < 0) {
		bool unchanged = source_unchanged(src, s);
		SYS(SYS_close, s);
		if (!unchanged)
			return -1;
	}
	src->winoff = at;
	src->winlen = got;
	return (ssize_t)got;
}

/*
 * Compares k program bytes at p with k bytes of the window at w: in place
 * when the kernel has just vetted them, else through copies that cannot
 * fault. False when they differ or cannot all be read (the program's own
 * write then meets EFAULT or a short count, as without us).
 */
static bool same_bytes(struct source *src, const unsigned char *p, const unsigned char *w, size_t k)
{
	/* A program buffer freed and mapped again as our window would compare
	 * equal to itself, where the kernel says EFAULT. */
	uintptr_t lo = (uintptr_t)p, wlo = (uintptr_t)src->win, whi = wlo + MAP_LEN;
	if (lo < whi && lo + k > wlo)
		return false;
	if (umem_is_vetted(p, k))
		return memcmp(p, w, k) == 0;
	while (k) {
		size_t m = k < SCRATCH_CAP ? k : SCRATCH_CAP;
		if (!umem_read(src->scratch, p, m) || memcmp(src->scratch, w, m) != 0)
			return false;
		p += m;
		w += m;
		k -= m;
	}
	return true;
}

bool window_verify(struct source *src, int sfd, off_t pos, const struct iovec *iov, int cnt, size_t n,
		   size_t first_read, bool *refilled)
{
	size_t done = 0, ioff = 0;
	int i = 0;
	while (done < n) {
		while (i < cnt && ioff == iov[i].iov_len) {
			i++;
			ioff = 0;
		}
		const unsigned char *p = (const unsigned char *)iov[i].iov_base + ioff;
		size_t want = iov[i].iov_len - ioff;
		if (want > n - done)
			want = n - done;
		off_t at = pos + (off_t)done;
		if (!(src->winlen && at >= src->winoff && at < src->winoff + (off_t)src->winlen)) {
			if (at >= src->size)
				return false;
			*refilled = true;
			if (refill(src, sfd, at, first_read ? first_read : WIN_CAP) <= 0)
				return false;
			first_read = 0;
		}
		size_t k = (size_t)(src->winoff + (off_t)src->winlen - at);
		if (k > want)
			k = want;
		if (!same_bytes(src, p, src->win + (at - src->winoff), k))
			return false;
		ioff += k;
		done += k;
	}
	return true;
}
