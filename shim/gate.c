/*
 * gate.c — signal/cancel-safe critical sections and the fork handshake.
 */
#define _GNU_SOURCE
#include "gate.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "shim.h"
#include "stats.h"
#include "sys.h"

static int forking;  /* set by the fork prepare handler */
static int inside;   /* threads between gate_enter and gate_leave */
int shim_pid;

void gate_enter(struct gate_ctx *g)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &g->mask);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &g->cancel);
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
	pthread_setcancelstate(g->cancel, NULL);
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
	fd_descriptions_shared();
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
	if (!copy_inert) {
		/* an fd another thread opened after prepare's bump and before
		 * the fork is the child's too (fdtab.h) */
		fd_descriptions_shared();
		gate_open(&fork_mask);
	}
}

static void child(void)
{
	if (copy_inert)
		return;
	shim_pid = (int)SYS(SYS_getpid);
	stats_forget();
	__atomic_store_n(&inside, 0, __ATOMIC_SEQ_CST);
	copy_after_fork_child();
	gate_open(&fork_mask);
}

void gate_init(void)
{
	shim_pid = (int)SYS(SYS_getpid);
	pthread_atfork(prepare, parent, child);
}
