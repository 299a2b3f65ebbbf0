/*
 * init.c — bringing the library up, from whichever entry comes first.
 *
 * Our constructor usually runs first, but another preloaded library's
 * constructor may call read() or open() before it, on any thread. The
 * first caller initialises; other threads wait for it; the initialising
 * thread itself, re-entered through dlsym's allocations, sees real_ready
 * false and its wrappers fall back to raw system calls.
 */
#define _GNU_SOURCE
#include "init.h"

#include <sched.h>
#include <sys/resource.h>

#include "config.h"
#include "copy.h"
#include "fdtab.h"
#include "gate.h"
#include "real.h"
#include "shim.h"
#include "stats.h"

int shim_ready;
static int init_state;  /* 0 not started, 1 running, 2 done */
#ifdef SHIM_TSAN
/* Set by our constructor: before it, the ThreadSanitizer runtime may still
 * be initialising, and our instrumented code must not run. */
static int ctor_started;
#endif
static __thread int init_thread;

void shim_init(void)
{
#ifdef SHIM_TSAN
	if (!__atomic_load_n(&ctor_started, __ATOMIC_ACQUIRE)) {
		real_init();  /* uninstrumented: wrappers pass everything through */
		return;
	}
#endif
	int expected = 0;
	if (!__atomic_compare_exchange_n(&init_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (init_thread)
			return;
		while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != 2)
			sched_yield();
		return;
	}
	init_thread = 1;
	int saved = errno;
	real_init();
	config_init();
	if (!cfg.disabled) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			/* High enough to stay out of the program's way, low enough not to
			 * make the kernel grow a huge fd table. */
			rlim_t base = rl.rlim_cur >= 8192 ? 4096 : rl.rlim_cur * 3 / 4;
			priv_fd_base = base > 3 ? (int)base : 3;
		}
		gate_init();
		fdtab_init();
	}
	errno = saved;
	init_thread = 0;
	__atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
	__atomic_store_n(&shim_ready, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor(101))) static void shim_ctor(void)
{
#ifdef SHIM_TSAN
	__atomic_store_n(&ctor_started, 1, __ATOMIC_RELEASE);
#endif
	shim_init();
	if (cfg.pending) {
		/* Initialised from an earlier library's constructor (ASan's, for
		 * one) before libc set environ: the settings are readable now. */
		config_init();
		if (cfg.disabled)
			__atomic_store_n(&fdtab_size, 0, __ATOMIC_RELEASE);
	}
}

__attribute__((destructor(101))) static void shim_dtor(void)
{
	/* exit() and return from main: what was written is what D holds. */
	if (shim_ready) {
		copy_settle_all("exit");
		stats_flush();
	}
}
