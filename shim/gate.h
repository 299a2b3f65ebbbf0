/*
 * gate.h — the critical sections of the copy path.
 *
 * Every operation that reads or changes a struct copy runs between
 * gate_enter() and gate_leave(). Inside, all signals are blocked (a handler
 * that calls write() cannot interrupt us while we hold a copy's lock) and
 * cancellation is disabled (a cancelled thread cannot strand a lock).
 * fork() waits at the gate: its prepare handler closes it, waits until no
 * thread is inside, settles every copy, and reopens it in parent and child.
 * Nothing here is on the path of an fd that is not part of a copy.
 */
#ifndef SHIM_GATE_H
#define SHIM_GATE_H

#include <signal.h>

struct gate_ctx {
	sigset_t mask;
	int cancel;
};

void gate_enter(struct gate_ctx *g);
void gate_leave(struct gate_ctx *g);

/* Closes the gate: blocks signals (old mask in *saved), keeps new threads
 * out and waits until none is inside. gate_open() undoes it. */
void gate_close(sigset_t *saved);
void gate_open(const sigset_t *saved);

/* The process id as of the last fork we saw; cheaper than getpid(). */
extern int shim_pid;

/* Registers the fork handlers; called once from init. */
void gate_init(void);

#endif
