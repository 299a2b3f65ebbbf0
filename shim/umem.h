/*
 * umem.h — reading the program's memory without ever faulting on it.
 *
 * A write the kernel would refuse with EFAULT (or cut short at the first bad
 * page) must fail the same way under the shim, so the library never
 * dereferences a buffer, an iovec array or an offset pointer the kernel has
 * not just accepted. Two ways in:
 *
 *   - The vetted range: the span of the last successful read() of a regular
 *     file on this thread. The kernel has just written those bytes, so they
 *     are mapped and readable, unless the program has unmapped or
 *     re-protected memory since (munmap, mprotect, mremap and madvise bump a
 *     process-wide generation that voids every vetted range). A copy loop
 *     writes from the buffer it just read into: its bytes are compared in
 *     place, with no system call.
 *   - Everything else is copied with process_vm_readv() on our own process,
 *     which the kernel answers with EFAULT or a short count instead of a
 *     signal. (A span it read is not trusted afterwards the way a vetted
 *     one is: a program writing from its mapping of a file someone
 *     truncated since, or from memory free() unmapped, would meet our
 *     SIGBUS or SIGSEGV instead of the kernel's EFAULT.)
 */
#ifndef SHIM_UMEM_H
#define SHIM_UMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct umem_vetted {
	uintptr_t lo, hi;   /* [lo, hi) was filled by the kernel on this thread */
	unsigned gen;       /* umem_gen when it was filled */
};

extern __thread struct umem_vetted umem_vetted __attribute__((tls_model("initial-exec")));
extern unsigned umem_gen;

/* After read()/pread() returned n > 0 bytes into buf: remember the span,
 * extending the previous one when the program reads into consecutive memory. */
static inline void umem_vet(const void *buf, size_t n)
{
	uintptr_t lo = (uintptr_t)buf, hi = lo + n;
	unsigned g = __atomic_load_n(&umem_gen, __ATOMIC_RELAXED);
	struct umem_vetted *v = &umem_vetted;
	if (v->gen == g && v->hi == lo && v->lo < lo)
		lo = v->lo;
	v->lo = lo;
	v->hi = hi;
	v->gen = g;
}

/* The program changed its mappings: no vetted range can be trusted. */
static inline void umem_unvet(void)
{
	__atomic_add_fetch(&umem_gen, 1, __ATOMIC_RELAXED);
}

/* Whether [p, p + n) lies in this thread's vetted range. */
static inline bool umem_is_vetted(const void *p, size_t n)
{
	const struct umem_vetted *v = &umem_vetted;
	uintptr_t lo = (uintptr_t)p;
	return v->gen == __atomic_load_n(&umem_gen, __ATOMIC_RELAXED) && lo >= v->lo && lo <= v->hi &&
	       n <= v->hi - lo;
}

/* Copies n bytes of the program's memory at src into dst (ours). Returns
 * true only if all n bytes could be read. */
bool umem_read(void *dst, const void *src, size_t n);

/* Stores n bytes from src (ours) at the program's dst. Returns true only if
 * all n bytes were written. */
bool umem_write(void *dst, const void *src, size_t n);

#endif
