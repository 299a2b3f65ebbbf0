/*
 * init.h — library initialisation.
 */
#ifndef SHIM_INIT_H
#define SHIM_INIT_H

#include <stdbool.h>

extern int shim_ready;

/* The environment our constructor was given (glibc passes it), or NULL:
 * then libc's environ is the one to read. */
extern char **init_envp;

/* Reads the configuration, allocates the fd table and resolves the real
 * functions: everything a wrapper needs. */
void shim_init(void);

/* Whether the process runs with privileges its invoker lacks (setuid,
 * setgid, file capabilities: the kernel's AT_SECURE, or, where our
 * constructor did not see the auxiliary vector, real and effective ids
 * that differ). A system call or four; not on a fast path. */
bool shim_is_secure(void);

#define ENSURE_INIT() \
	do { \
		if (__builtin_expect(!__atomic_load_n(&shim_ready, __ATOMIC_ACQUIRE), 0)) \
			shim_init(); \
	} while (0)

#endif
