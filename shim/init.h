/*
 * init.h — library initialisation.
 */
#ifndef SHIM_INIT_H
#define SHIM_INIT_H

extern int shim_ready;

/* Resolves real functions, reads the configuration, allocates the fd table. */
void shim_init(void);

#define ENSURE_INIT() \
	do { \
		if (__builtin_expect(!__atomic_load_n(&shim_ready, __ATOMIC_ACQUIRE), 0)) \
			shim_init(); \
	} while (0)

#endif
