/*
 * gate.c — signal/cancel-safe critical sections and the fork handshake.
 */
#define _GNU_SOURCE
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy.h"
#include "shim.h"
#include "stats.h"
#include "sys.h"

static int forking;  /* set by the fork prepare handler */
static int inside;   /* threads between gate_enter and gate_leave */
int shim_pid;

/*
 * Signals the program may have a handler for (bit sig - 1). Bits are only
 * ever set: a handler put back to SIG_DFL keeps frames blocking (clearing
 * would race with another thread installing one again).
 */
static unsigned long long caught;
/* CAUGHT_UNASKED until the kernel's list was read; CAUGHT_NEVER_OPEN when
 * it cannot be (no /proc) or a frame was entered inside an open one. */
enum { CAUGHT_UNASKED, CAUGHT_KNOWN, CAUGHT_NEVER_OPEN };
static int caught_state;
static int open_frames;                /* threads inside an open frame */
static __thread int in_open_frame __attribute__((tls_model("initial-exec")));

/* The first signal the C library leaves to programs: SIGRTMIN, without
 * calling it (a function: an import, a lookup in every process start).
 * glibc keeps 32 and 33, musl 32 to 34. */
#ifdef __GLIBC__
#define LIBC_SIGRTMIN 34
#else
#define LIBC_SIGRTMIN 35
#endif

/* The hex digits after "SigCgt:\t" in /proc/self/status, read with raw
 * calls in small pieces (a handler's stack). Returns false if not found. */
static bool read_sigcgt(unsigned long long *mask)
{
	static const char key[] = "\nSigCgt:\t";
	int fd = (int)SYS(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[256];
	size_t matched = 0;
	int digits = -1;  /* -1: looking for the key */
	unsigned long long m = 0;
	long n;
	while (digits < 16 && (n = SYS(SYS_read, fd, buf, sizeof(buf))) > 0) {
		for (long i = 0; i < n && digits < 16; i++) {
			char c = buf[i];
			if (digits < 0) {
				matched = c == key[matched] ? matched + 1 : c == key[0] ? 1 : 0;
				if (matched == sizeof(key) - 1)
					digits = 0;
				continue;
			}
			int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
			if (v < 0)
				break;
			m = m << 4 | (unsigned)v;
			digits++;
		}
	}
	SYS(SYS_close, fd);
	*mask = m;
	return digits == 16;
}

/* Whether no handler of the program's can run: the kernel's list is asked
 * once (three system calls), at the first frame of a process. */
static bool signals_quiet(void)
{
	int st = __atomic_load_n(&caught_state, __ATOMIC_ACQUIRE);
	if (st == CAUGHT_UNASKED) {
		unsigned long long m;
		int saved = errno;
		bool got = read_sigcgt(&m);
		errno = saved;
		if (got) {
			/* The C library's own handlers (glibc's SIGCANCEL and
			 * SIGSETXID, musl's) run none of the program's code, and
			 * none while our frame has cancellation disabled. */
			for (int sig = 32; sig < LIBC_SIGRTMIN; sig++)
				m &= ~(1ull << (sig - 1));
			__atomic_or_fetch(&caught, m, __ATOMIC_SEQ_CST);
			st = CAUGHT_KNOWN;
		} else {
			st = CAUGHT_NEVER_OPEN;
		}
		int expect = CAUGHT_UNASKED;
		if (!__atomic_compare_exchange_n(&caught_state, &expect, st, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			st = expect;
	}
	return st == CAUGHT_KNOWN && __atomic_load_n(&caught, __ATOMIC_SEQ_CST) == 0;
}

void gate_installing(int sig, void (*handler)(int))
{
	if (handler == SIG_DFL || handler == SIG_IGN || handler == SIG_ERR || handler == SIG_HOLD)
		return;
	if (sig < 1 || sig > 64)
		return;
	__atomic_or_fetch(&caught, 1ull << (sig - 1), __ATOMIC_SEQ_CST);
	/* Frames entered before the bit was set leave before the handler
	 * exists (a thread installing from inside an open frame of its own
	 * is inside a handler we did not see: not waited for). A child has
	 * handlers of its own: the frames counted are its parent's threads'
	 * (vfork), or stale (a _Fork child has no other thread). */
	if ((int)SYS(SYS_getpid) != shim_pid)
		return;
	int self = in_open_frame ? 1 : 0;
	while (__atomic_load_n(&open_frames, __ATOMIC_SEQ_CST) > self)
		sched_yield();
}

void gate_enter(struct gate_ctx *g)
{
	/* Cancellation off first: an asynchronous cancel (glibc's own
	 * signal) acting inside an open frame would leave it counted. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &g->cancel);
	g->open = 0;
	if (in_open_frame) {
		/* A handler installed behind our wrappers (a raw system call)
		 * runs inside an open frame on this thread: every frame blocks
		 * signals from now on (DESIGN.md lists what this one risks). */
		__atomic_store_n(&caught_state, CAUGHT_NEVER_OPEN, __ATOMIC_RELEASE);
	} else if (signals_quiet()) {
		__atomic_add_fetch(&open_frames, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&caught, __ATOMIC_SEQ_CST) == 0) {
			g->open = 1;
			in_open_frame = 1;
		} else {
			__atomic_sub_fetch(&open_frames, 1, __ATOMIC_SEQ_CST);
		}
	}
	if (!g->open) {
		sigset_t all;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &g->mask);
	}
	for (;;) {
		while (__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
			sched_yield();
		__atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
			break;
		__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
	}
}

void gate_leave(struct gate_ctx *g)
{
	__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
	if (g->open) {
		in_open_frame = 0;
		__atomic_sub_fetch(&open_frames, 1, __ATOMIC_SEQ_CST);
	}
	pthread_setcancelstate(g->cancel, NULL);
	if (!g->open)
		pthread_sigmask(SIG_SETMASK, &g->mask, NULL);
}

void gate_close(sigset_t *saved)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
	__atomic_store_n(&forking, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&inside, __ATOMIC_SEQ_CST))
		sched_yield();
}

void gate_open(const sigset_t *saved)
{
	__atomic_store_n(&forking, 0, __ATOMIC_SEQ_CST);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* Signals stay blocked from prepare to parent/child: a handler that wrote to
 * a copy while the gate is closed would wait for it forever. An inert
 * process (seccomp) makes no system call of ours, here neither. */
static __thread sigset_t fork_mask;

static void prepare(void)
{
	if (copy_inert)
		return;
	int saved = errno;
	gate_close(&fork_mask);
	/*
	 * A child shares the destination's file offset and may write to it;
	 * only a settled copy (real size == what was written) is safe to share.
	 */
	copy_settle_all("fork");
	errno = saved;
}

static void parent(void)
{
	if (!copy_inert)
		gate_open(&fork_mask);
}

static void child(void)
{
	if (copy_inert)
		return;
	shim_pid = (int)SYS(SYS_getpid);
	stats_forget();
	__atomic_store_n(&inside, 0, __ATOMIC_SEQ_CST);
	/* Threads that counted themselves into an open frame and waited for
	 * the fork to end do not exist here. */
	__atomic_store_n(&open_frames, 0, __ATOMIC_SEQ_CST);
	copy_after_fork_child();
	gate_open(&fork_mask);
}

void gate_init(void)
{
	shim_pid = (int)SYS(SYS_getpid);
	pthread_atfork(prepare, parent, child);
}
