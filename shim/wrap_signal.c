/*
 * wrap_signal.c — interposed calls that install signal handlers.
 *
 * Our frames (gate.h) block every signal, two system calls per write of a
 * copy, only because a handler of the program's could otherwise run inside
 * one, on a thread holding a copy's lock, and call write() on it. While the
 * program has no handler, nothing can: so every call that can install one
 * tells the gate first, and returns only once no frame is left that was
 * entered without blocking signals. Installing SIG_DFL, SIG_IGN or SIG_HOLD
 * tells nothing. A handler installed with a raw system call (not through
 * syscall()) is not seen: DESIGN.md says what that risks.
 */
#define _GNU_SOURCE
#include <signal.h>

#include "gate.h"
#include "init.h"
#include "real.h"
#include "shim.h"
#include "umem.h"

/* Sanitizer runtimes install handlers while they initialise: nothing here
 * is instrumented. */
#define UNINSTRUMENTED __attribute__((no_sanitize("address", "undefined", "thread")))

/* The handler act installs, read without faulting: a bad act is the C
 * library's to answer. */
static void installing(int sig, const void *handler_field)
{
	sighandler_fn h;
	if (handler_field && umem_read(&h, handler_field, sizeof(h)))
		gate_installing(sig, h);
}

UNINSTRUMENTED SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	ENSURE_INIT();
	installing(sig, act ? (const void *)&act->sa_handler : NULL);
	return real.sigaction(sig, act, old);
}

/* signal(), and the other names of functions of its shape. */
#define HANDLER_SETTER(name)                                                \
	UNINSTRUMENTED SHIM_EXPORT sighandler_fn name(int sig, sighandler_fn h) \
	{                                                                   \
		ENSURE_INIT();                                              \
		gate_installing(sig, h);                                    \
		return real.name(sig, h);                                   \
	}
HANDLER_SETTER(signal)
HANDLER_SETTER(bsd_signal)
HANDLER_SETTER(__sysv_signal)
HANDLER_SETTER(sysv_signal)
HANDLER_SETTER(ssignal)
HANDLER_SETTER(sigset)

/* syscall(SYS_rt_sigaction, ...): the kernel's struct sigaction starts with
 * the handler on every architecture we build for. */
void shim_rt_sigaction(int sig, const void *kact)
{
	installing(sig, kact);
}
