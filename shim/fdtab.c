/*
 * fdtab.c — allocation of the per-fd table.
 *
 * Sized by the hard RLIMIT_NOFILE (capped), mapped MAP_NORESERVE so that
 * untouched pages cost nothing, with room behind it for the index of
 * sources (fdtab_spare). An fd beyond the table is simply treated as
 * FD_PLAIN: we lose a clone, never correctness.
 */
#include "fdtab.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "shim.h"
#include "sys.h"

uintptr_t *fdtab;
const void **fdhint;
long long *fdsize;
long long *fdflags;
unsigned fd_share_gen = 1;  /* never 0: a zeroed entry is never valid */
unsigned fdtab_size;
int fdtab_top = -1;
void *fdtab_spare;
static unsigned fdtab_mapped;  /* entries allocated, published by fdtab_publish */

#define FDTAB_MAX (1u << 20)

void fdtab_init(void)
{
	/* Raw system calls: the first wrapper call runs this, maybe in a
	 * signal handler (init.c). */
	struct rlimit rl;
	unsigned n = 65536;
	if (SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_max > n)
		n = rl.rlim_max > FDTAB_MAX ? FDTAB_MAX : (unsigned)rl.rlim_max;
	size_t bytes = (size_t)n * sizeof(uintptr_t);
	/* 4 * bytes is a multiple of 2 MiB: the spare part is page-aligned. */
	void *t = (void *)SYS(SYS_mmap, NULL, 4 * bytes + FDTAB_SPARE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t == MAP_FAILED)
		return;
	fdtab_spare = (char *)t + 4 * bytes;
	fdtab = t;
	fdhint = (const void **)((char *)t + bytes);
	fdsize = (long long *)((char *)t + 2 * bytes);
	fdflags = (long long *)((char *)t + 3 * bytes);
	fdtab_mapped = n;
}

/* Once: a thread finishing its own first call late must not turn the table
 * back on after fdtab_disable(). */
static int published;

void fdtab_publish(void)
{
	if (!__atomic_exchange_n(&published, 1, __ATOMIC_ACQ_REL))
		__atomic_store_n(&fdtab_size, fdtab_mapped, __ATOMIC_RELEASE);
}

void fdtab_disable(void)
{
	__atomic_store_n(&published, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&fdtab_size, 0, __ATOMIC_RELEASE);
}
