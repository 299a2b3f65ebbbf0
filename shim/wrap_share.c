/*
 * wrap_share.c — calls that hand a file to something whose reads and
 * writes we cannot follow: stdio streams (libc's own read and write),
 * POSIX AIO (libc's helper threads), and fds passed over a unix socket
 * (another process).
 *
 * A destination being copied is settled before such a call, so whatever
 * reads or writes it afterwards meets exactly what the program wrote. A
 * regular file whose first write is still to be judged is judged "not a
 * copy" when it is handed to an AIO write or to another process: a clone
 * armed later would race with writes we never see (DESIGN.md, "Other
 * writers").
 */
#define _GNU_SOURCE
#include <aio.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "real.h"
#include "shim.h"
#include "umem.h"

/* ---- stdio ---- */

/*
 * libc opened the stream's fd without our open wrapper: its number may have
 * been closed behind our back too, so what the table says of it is stale.
 * Forget it, as an open would (an entry left FD_PLAIN would hide D open on
 * it from the other-fd check at a copy's first write).
 */
static FILE *stream_opened(FILE *f, const char *mode)
{
	if (f) {
		int saved = errno;
		bool reads_only = mode[0] == 'r';
		for (const char *m = mode; *m; m++)
			reads_only &= *m != '+';
		copy_fd_opened(fileno(f), reads_only ? O_RDONLY : O_RDWR);
		errno = saved;
	}
	return f;
}

SHIM_EXPORT FILE *fopen(const char *path, const char *mode)
{
	ENSURE_INIT();
	copy_settle_path(AT_FDCWD, path, 0, "fopen");
	return stream_opened(real.fopen(path, mode), mode);
}

SHIM_EXPORT FILE *freopen(const char *path, const char *mode, FILE *f)
{
	ENSURE_INIT();
	copy_settle_path(AT_FDCWD, path, 0, "freopen");
	return stream_opened(real.freopen(path, mode, f), mode);
}

SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	ENSURE_INIT();
	PRIV_GUARD(fd, NULL);
	uintptr_t e = fd_get(fd);
	if (fd_is_copy(e))
		copy_settle_fd(fd, "fdopen");
	else if (fd_unjudged(e))
		copy_write_unseen(fd, e);  /* stdio writes bypass us */
	return real.fdopen(fd, mode);
}

/* ---- POSIX AIO ---- */

/* The fd of the program's aiocb, read without faulting (-1: unreadable,
 * and the call will fail with EFAULT or EINVAL by itself). */
static int aio_fd(const struct aiocb *cb)
{
	int fd;
	return cb && umem_read(&fd, &cb->aio_fildes, sizeof(fd)) ? fd : -1;
}

static void before_aio(int fd, bool writes)
{
	if (fd < 0)
		return;
	uintptr_t e = fd_get(fd);
	if (fd_is_copy(e))
		copy_settle_fd(fd, writes ? "aio write" : "aio read");
	else if (writes && fd_unjudged(e))
		copy_write_unseen(fd, e);
}

SHIM_EXPORT int aio_read(struct aiocb *cb)
{
	ENSURE_INIT();
	before_aio(aio_fd(cb), false);
	return real.aio_read(cb);
}

SHIM_EXPORT int aio_write(struct aiocb *cb)
{
	ENSURE_INIT();
	before_aio(aio_fd(cb), true);
	return real.aio_write(cb);
}

SHIM_EXPORT int lio_listio(int mode, lio_list __restrict list, int n, struct sigevent *__restrict sev)
{
	ENSURE_INIT();
	for (int i = 0; i < n; i++) {
		struct aiocb *cb;
		int op;
		if (!umem_read(&cb, (const void *)(uintptr_t)&list[i], sizeof(cb)) || !cb ||
		    !umem_read(&op, &cb->aio_lio_opcode, sizeof(op)))
			continue;
		if (op == LIO_READ || op == LIO_WRITE)
			before_aio(aio_fd(cb), op == LIO_WRITE);
	}
	return real.lio_listio(mode, list, n, sev);
}

/* ---- fds passed to another process ---- */

/* Every fd in the SCM_RIGHTS messages of msg, read without faulting. */
static void before_passing(const struct msghdr *msg)
{
	struct msghdr h;
	if (!msg || !umem_read(&h, msg, sizeof(h)) || !h.msg_control || h.msg_controllen < sizeof(struct cmsghdr))
		return;
	/* A control buffer holds a handful of fds; beyond 512 bytes (124
	 * fds), we look at the first messages only. */
	unsigned char buf[512] __attribute__((aligned(8)));
	size_t len = h.msg_controllen < sizeof(buf) ? h.msg_controllen : sizeof(buf);
	if (!umem_read(buf, h.msg_control, len))
		return;
	h.msg_control = buf;
	h.msg_controllen = len;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0) ||
		    (unsigned char *)c + c->cmsg_len > buf + len)
			break;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *fds = (const int *)(void *)CMSG_DATA(c);
		fd_descriptions_shared();
		for (size_t i = 0; i < n; i++) {
			uintptr_t e = fd_get(fds[i]);
			if (fd_is_copy(e) || fd_unjudged(e))
				copy_write_unseen(fds[i], e);
		}
	}
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ENSURE_INIT();
	before_passing(msg);
	return real.sendmsg(fd, msg, flags);
}

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, mmsg_flags flags)
{
	ENSURE_INIT();
	for (unsigned i = 0; v && i < n && i < 64; i++)
		before_passing(&v[i].msg_hdr);
	return real.sendmmsg(fd, v, n, flags);
}
