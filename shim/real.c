/*
 * real.c — resolution of the real libc functions behind our wrappers.
 *
 * Resolved at the first wrapper call, not at start-up: most processes of a
 * build (true, a shell running one command, the compiler driver) would pay
 * for names they never call. The lookup is our own (elfsym.c), lock-free,
 * allocation-free and async-signal-safe, so whichever wrapper comes first,
 * on any thread or in a signal handler, can run it. Racing threads store
 * the same values.
 *
 * A name the lookup does not find gets its fallback from symbols.def (the
 * system call the C library would make, else ENOSYS), so that once
 * real_init() has returned no pointer in `real` is NULL. A required name
 * missing leaves real_lacking set, and the library inert (init.c).
 */
#include "real.h"

#include "elfsym.h"
#include "shim.h"
#include "sys.h"

struct real_fns real;
int real_ready;
const char *real_lacking;

enum {
#define REQ(name, ret, params, ...) REAL_##name,
#include "symbols.def"
	REAL_COUNT
};

static const struct elfsym_name wanted[REAL_COUNT] = {
#define REQ(name, ret, params, ...) ELFSYM_NAME(#name),
#include "symbols.def"
};

static const bool required[REAL_COUNT] = {
#define REQ(name, ret, params, ...) true,
#define OPT(name, ret, params, ...) false,
#include "symbols.def"
};

/* The fallbacks: fallback_read() and so on. Our own raw system call, which
 * neither re-enters our syscall() nor needs libc resolved. */
#define KCALL SYS
#include "fallback.h"
#define REQ(name, ret, params, ...) FALLBACK_FN(fallback_##name, ret, params, __VA_ARGS__)
#include "symbols.def"

void real_init(void)
{
	if (REAL_READY())
		return;
	void *found[REAL_COUNT] = { 0 };
	/* Objects not found at all: every name missing (and libc.c will say
	 * so at its first need of errno). */
	(void)elfsym_next(wanted, REAL_COUNT, found);
	const char *lacking = NULL;
	for (size_t i = 0; i < REAL_COUNT && !lacking; i++)
		if (!found[i] && required[i])
			lacking = wanted[i].name;
	/* Taking a fallback's address is one instruction, and no relocation
	 * for the loader in every process start, as a table of them would be. */
#define REQ(name, ret, params, ...)                                                              \
	__atomic_store_n(&real.name, found[REAL_##name] ? (ret(*) params)found[REAL_##name] : fallback_##name, \
			 __ATOMIC_RELAXED);
#include "symbols.def"
	__atomic_store_n(&real_lacking, lacking, __ATOMIC_RELAXED);
	__atomic_store_n(&real_ready, 1, __ATOMIC_RELEASE);
}
