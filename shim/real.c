/*
 * real.c — resolution of the real libc functions behind our wrappers.
 *
 * dlsym() may allocate, and an allocator may read files, so resolution can
 * re-enter our wrappers before it finishes. A wrapper that finds
 * `real.X == NULL` while resolution is running on its own thread uses the
 * raw system call instead (see the wrappers' fallbacks); real_init() never
 * waits on itself.
 */
#include "real.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/stat.h>

#include "shim.h"

struct real_fns real;
int real_ready;

static __thread int resolving;

void real_init(void)
{
	if (REAL_READY() || resolving)
		return;
	resolving = 1;
	int saved = errno;
#define SYM(name, ret, params) \
	if (!real.name) __atomic_store_n(&real.name, (ret(*) params)dlsym(RTLD_NEXT, #name), __ATOMIC_RELEASE);
#define ALIAS(name, target)
#define OWN(name)
#include "symbols.def"
#undef SYM
#undef ALIAS
#undef OWN
	errno = saved;
	resolving = 0;
	__atomic_store_n(&real_ready, 1, __ATOMIC_RELEASE);
}
