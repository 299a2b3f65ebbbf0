/*
 * real.c — resolution of the real libc functions behind our wrappers.
 *
 * Resolved at the first wrapper call, not at start-up: most processes of a
 * build (true, a shell running one command, the compiler driver) would pay
 * for names they never call. The lookup is our own (elfsym.c), lock-free,
 * allocation-free and async-signal-safe, so whichever wrapper comes first,
 * on any thread or in a signal handler, can run it. Racing threads store
 * the same values. Until it completes, a wrapper re-entered from our own
 * initialisation finds `real.X == NULL` and uses the raw system call (see
 * the wrappers' fallbacks).
 */
#include "real.h"

#include "elfsym.h"
#include "shim.h"

struct real_fns real;
int real_ready;

enum {
#define SYM(name, ret, params) REAL_##name,
#define ALIAS(name, target)
#define OWN(name)
#include "symbols.def"
#undef SYM
#undef ALIAS
#undef OWN
	REAL_COUNT
};

static const struct elfsym_name wanted[REAL_COUNT] = {
#define SYM(name, ret, params) ELFSYM_NAME(#name),
#define ALIAS(name, target)
#define OWN(name)
#include "symbols.def"
#undef SYM
#undef ALIAS
#undef OWN
};

void real_init(void)
{
	if (REAL_READY())
		return;
	void *found[REAL_COUNT] = { 0 };
	if (!elfsym_next(wanted, REAL_COUNT, found))
		return;
#define SYM(name, ret, params) \
	__atomic_store_n(&real.name, (ret(*) params)found[REAL_##name], __ATOMIC_RELAXED);
#define ALIAS(name, target)
#define OWN(name)
#include "symbols.def"
#undef SYM
#undef ALIAS
#undef OWN
	__atomic_store_n(&real_ready, 1, __ATOMIC_RELEASE);
}
