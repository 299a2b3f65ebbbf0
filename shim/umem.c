/*
 * umem.c — fault-free access to the program's memory (see umem.h).
 */
#define _GNU_SOURCE
#include "umem.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "gate.h"
#include "sys.h"

__thread struct umem_vetted umem_vetted __attribute__((tls_model("initial-exec")));
unsigned umem_gen = 1;  /* never 0: a thread's zeroed range is never valid */

/*
 * Our pid for process_vm_readv/writev, without a getpid per call: kept in
 * a page the kernel zeroes in every child that does not share our memory
 * (MADV_WIPEONFORK, Linux 4.14), however it was made: fork, _Fork or a raw
 * clone that skipped the fork handlers, where the pid cached at fork would
 * name the parent. A child that shares our memory (vfork, posix_spawn)
 * keeps the parent's pid, and reading the parent's memory is reading its
 * own. Where the advice is refused, getpid every time.
 */
#define PID_REFUSED ((int *)1)
static int *self_pid;  /* the page; NULL until made, PID_REFUSED */

static long vm_pid(void)
{
	int *p = __atomic_load_n(&self_pid, __ATOMIC_ACQUIRE);
	if (!p) {
		void *pg = (void *)SYS(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int *want = PID_REFUSED;
		if (pg != MAP_FAILED && SYS(SYS_madvise, pg, 4096, MADV_WIPEONFORK) == 0)
			want = pg;
		else if (pg != MAP_FAILED)
			SYS(SYS_munmap, pg, 4096);
		/* Another thread may have made one first: then ours goes. */
		if (__atomic_compare_exchange_n(&self_pid, &p, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			p = want;
		else if (want != PID_REFUSED)
			SYS(SYS_munmap, pg, 4096);
	}
	if (p == PID_REFUSED)
		return SYS(SYS_getpid);
	int pid = __atomic_load_n(p, __ATOMIC_RELAXED);
	if (pid == 0) {
		pid = (int)SYS(SYS_getpid);
		/* Only the process the fork handlers announced stores it: a vfork
		 * child's pid in our shared page would name, once it has exec'd,
		 * another program's memory. (A child that skipped the handlers
		 * asks every time.) */
		if (pid == shim_pid)
			__atomic_store_n(p, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

static bool vm_rw(long nr, void *local, const void *remote, size_t n)
{
	struct iovec l = { local, n }, r = { (void *)remote, n };
	return SYS(nr, vm_pid(), &l, 1, &r, 1, 0) == (long)n;
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
