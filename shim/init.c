/*
 * init.c — bringing the library up, from whichever entry comes first.
 *
 * The library is preloaded into every process of a build, and most of them
 * never call a wrapper, so a process start must cost next to nothing
 * (tests/startup.bats; bench/bench.sh, start-up table). It is done in two
 * steps, each run once:
 *
 *   start   what must precede any fork: the settings (read only if a
 *           REFLINK_SHIM_ variable is set) and the fork handlers; run by
 *           our constructor, with raw system calls and no libc lookup
 *           but the one pthread_atfork needs;
 *   ready   what only a wrapper needs: the fd table, the private fd base
 *           and the real functions; run by the first wrapper call, which
 *           may be in a signal handler or on any thread: system calls and
 *           our own symbol lookup (real_init()), all async-signal-safe.
 *
 * Our constructor usually runs first, but another preloaded library's
 * constructor may call read() or open() before it, on any thread; then
 * that call runs both steps. The thread running a step, re-entered (an
 * allocator called by pthread_atfork, a signal handler), does not wait for
 * itself: it resolves the real functions, which needs neither step, and
 * goes on; other threads wait for it.
 */
#define _GNU_SOURCE
#include "init.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include "config.h"
#include "copy.h"
#include "elfsym.h"
#include "fdtab.h"
#include "gate.h"
#include "real.h"
#include "shim.h"
#include "stats.h"
#include "sys.h"

int shim_ready;
char **init_envp;
/* From our constructor, under glibc: the auxiliary vector, and whether no
 * REFLINK_SHIM_ variable is set. */
static const ElfW(auxv_t) *init_auxv;
static bool no_settings;
/* Per step: 0 not run, a thread id while that thread runs it, -1 done. */
static int started, readied;
#ifdef SHIM_TSAN
/* Set by our constructor: before it, the ThreadSanitizer runtime may still
 * be initialising, and our instrumented code must not run. */
static int ctor_started;
#endif

bool shim_is_secure(void)
{
	for (const ElfW(auxv_t) *a = init_auxv; a && a->a_type != AT_NULL; a++)
		if (a->a_type == AT_SECURE)
			return a->a_un.a_val != 0;
	return SYS(SYS_getuid) != SYS(SYS_geteuid) || SYS(SYS_getgid) != SYS(SYS_getegid);
}

static bool done(int *step)
{
	return __atomic_load_n(step, __ATOMIC_ACQUIRE) == -1;
}

/* Runs fn once: other threads wait for it, the thread running it does not. */
static void once(int *step, void (*fn)(void))
{
	if (done(step))
		return;
	int self = (int)SYS(SYS_gettid), owner = 0;
	if (!__atomic_compare_exchange_n(step, &owner, self, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		while (owner != self && !done(step))
			SYS(SYS_sched_yield);
		return;
	}
	fn();
	__atomic_store_n(step, -1, __ATOMIC_RELEASE);
}

static void start(void)
{
	elfsym_init(init_auxv);
	if (!no_settings)
		config_init();
	if (!cfg.disabled)
		gate_init();
}

static void ready(void)
{
	if (cfg.disabled)
		return;
	real_init();
	if (real_lacking) {
		/* Not the C library we know, or none after us (we were
		 * dlopen()ed): track nothing, pass every call through. */
		shim_log("inert-libc-lacks", -1, 0, real_lacking);
		fdtab_disable();
		return;
	}
	struct rlimit rl;
	if (SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		/* High enough to stay out of the program's way, low enough not to
		 * make the kernel grow a huge fd table. */
		rlim_t base = rl.rlim_cur >= 8192 ? 4096 : rl.rlim_cur * 3 / 4;
		priv_fd_base = base > 3 ? (int)base : 3;
	}
	fdtab_init();
}

void shim_init(void)
{
#ifdef SHIM_TSAN
	if (!__atomic_load_n(&ctor_started, __ATOMIC_ACQUIRE)) {
		real_init();  /* uninstrumented: wrappers pass everything through */
		return;
	}
#endif
	int saved = errno;
	once(&started, start);
	if (done(&started))
		once(&readied, ready);
	real_init();
	if (done(&readied) && REAL_READY()) {
		/* The fast paths call real.* without a check: none is NULL now. */
		fdtab_publish();
		__atomic_store_n(&shim_ready, 1, __ATOMIC_RELEASE);
	}
	errno = saved;
}

static void constructed(void)
{
#ifdef SHIM_TSAN
	__atomic_store_n(&ctor_started, 1, __ATOMIC_RELEASE);
#endif
	once(&started, start);
	if (cfg.pending) {
		/* Started from an earlier library's constructor (ASan's, for one)
		 * before libc set environ: the settings are readable now. */
		config_init();
		if (cfg.disabled)
			fdtab_disable();
	}
}

#ifdef __GLIBC__
/* "REFLINK_SHIM_": whether config_init() has anything to read. */
static bool is_setting(const char *s)
{
	static const char prefix[] = "REFLINK_SHIM_";
	for (size_t i = 0; i < sizeof(prefix) - 1; i++)
		if (s[i] != prefix[i])
			return false;
	return true;
}

/* glibc passes constructors argc, argv and the environment; when these are
 * the ones the kernel laid out (always, unless we were dlopen()ed after a
 * setenv), the auxiliary vector follows the environment. One pass over it
 * finds both the vector and whether any setting is there. */
__attribute__((constructor(101))) static void shim_ctor(int argc, char **argv, char **envp)
{
	init_envp = envp;
	if (envp && envp == argv + argc + 1) {
		bool settings = false;
		char **e = envp;
		for (; *e; e++)
			if (**e == 'R' && is_setting(*e))
				settings = true;
		no_settings = !settings;
		init_auxv = (const ElfW(auxv_t) *)(e + 1);
	}
	constructed();
}
#else
__attribute__((constructor(101))) static void shim_ctor(void)
{
	constructed();
}
#endif

__attribute__((destructor(101))) static void shim_dtor(void)
{
	/* exit() and return from main: what was written is what D holds. */
	if (shim_ready) {
		copy_settle_all("exit");
		stats_flush();
	}
}
