/*
 * real.h — the next (real) definitions of every interposed symbol.
 *
 * `real.read(...)` calls libc's read, never our wrapper: the definition
 * dlsym(RTLD_NEXT, "read") would return. Pointers are resolved once, by
 * real_init() at the first wrapper call (ENSURE_INIT). Where the C library
 * has no such symbol (musl has no closefrom), the pointer is the symbol's
 * fallback from symbols.def: the raw system call, or ENOSYS, as a C library
 * would answer. So after ENSURE_INIT no pointer is NULL.
 */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H

#define _GNU_SOURCE
#include <aio.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

#include "kernel.h"
#include "sys.h"

/* glibc declares the rlimit calls with an enum under _GNU_SOURCE. */
#ifdef __GLIBC__
typedef __rlimit_resource_t rlimit_resource;
#else
typedef int rlimit_resource;
#endif

/* Where glibc and musl declare these differently. */
#ifdef __GLIBC__
typedef int mmsg_flags;
typedef struct aiocb *const *lio_list;
#else
typedef unsigned mmsg_flags;
typedef struct aiocb *__restrict const *lio_list;
#endif

struct file_handle;
struct utimbuf;

struct real_fns {
#define REQ(name, ret, params, ...) ret(*name) params;
#include "symbols.def"
};

/* Declared hidden: the wrappers' fast paths jump through it directly. */
extern struct real_fns real __attribute__((visibility("hidden")));

/* Resolves every pointer in `real`. Idempotent, thread-safe and
 * async-signal-safe. */
void real_init(void);

/* After real_init(): NULL, or the first required name (REQ in symbols.def)
 * the lookup did not find: not the C library we know, so the library stays
 * inert. */
extern const char *real_lacking;

/* true once real_init() has completed. */
extern int real_ready;

/* fstat as the kernel answers it: libc's, or the raw call before libc's
 * functions are resolved. */
static inline int real_fstat(int fd, struct stat *st)
{
	return real.fstat ? real.fstat(fd, st) : (int)SYS(SYS_fstat, fd, st);
}

#define REAL_READY() __atomic_load_n(&real_ready, __ATOMIC_ACQUIRE)

#endif
