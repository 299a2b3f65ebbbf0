/*
 * umem.c — fault-free access to the program's memory (see umem.h).
 */
#define _GNU_SOURCE
#include "umem.h"

#include <sys/syscall.h>
#include <sys/uio.h>

#include "sys.h"

__thread struct umem_vetted umem_vetted __attribute__((tls_model("initial-exec")));
unsigned umem_gen = 1;  /* never 0: a thread's zeroed range is never valid */

/* process_vm_readv/writev on ourselves. Not the pid cached at fork: a
 * child that skipped the fork handlers (_Fork) would read its parent. */
static bool vm_rw(long nr, void *local, const void *remote, size_t n)
{
	struct iovec l = { local, n }, r = { (void *)remote, n };
	return SYS(nr, SYS(SYS_getpid), &l, 1, &r, 1, 0) == (long)n;
}

bool umem_read(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return true;
	int saved = errno;
	bool ok = vm_rw(SYS_process_vm_readv, dst, src, n);
	errno = saved;
	return ok;
}

bool umem_write(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return true;
	int saved = errno;
	bool ok = vm_rw(SYS_process_vm_writev, (void *)src, dst, n);
	errno = saved;
	return ok;
}
