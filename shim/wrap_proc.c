/*
 * wrap_proc.c — interposed calls that end this process image, start
 * another process, or restrict this one.
 *
 * exec and the exits that skip destructors would leave a destination with
 * the whole clone in it; settle every copy first, so the file holds exactly
 * what was written. (exit() and return from main reach our destructor;
 * fork is handled by the atfork handlers in gate.c.) A child started any
 * other way (posix_spawn, system, popen, _Fork, vfork then exec) may look
 * at a destination at once: settle before it exists. A seccomp filter may
 * forbid the system calls we would add: go inert before it is installed.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy.h"
#include "fdtab.h"
#include "init.h"
#include "real.h"
#include "shim.h"
#include "stats.h"
#include "sys.h"

static void before_exec(void)
{
	ENSURE_INIT();
	/* In a vfork child, its parent's memory: the program exec'd may
	 * change the flags of descriptions the parent shares with it. */
	fd_descriptions_shared();
	ERRNO_SAVE;
	copy_settle_before_exec();
	stats_flush();
	ERRNO_RESTORE;
}

/* Before a child process is created by a call that runs no fork handler. */
static void before_child(const char *why)
{
	ENSURE_INIT();
	fd_descriptions_shared();
	ERRNO_SAVE;
	copy_settle_all(why);
	ERRNO_RESTORE;
}

/*
 * After the call that made a child: an fd another thread opened between
 * before_child's bump and the child's creation is shared too, its flags
 * stamped with the generation before this one (fdtab.h).
 */
static int after_child(int r)
{
	fd_descriptions_shared();
	return r;
}

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	before_child("posix_spawn");
	return after_child(real.posix_spawn(pid, path, fa, attr, argv, envp));
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	before_child("posix_spawnp");
	return after_child(real.posix_spawnp(pid, file, fa, attr, argv, envp));
}

SHIM_EXPORT int system(const char *cmd)
{
	before_child("system");
	return after_child(real.system(cmd));
}

SHIM_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	before_child("popen");
	FILE *f = real.popen(cmd, mode);
	fd_descriptions_shared();
	return f;
}

SHIM_EXPORT pid_t _Fork(void)
{
	before_child("_Fork");
	return after_child(real._Fork());
}

/* Settled and inert before the filter exists, even if the call then fails. */
SHIM_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
	unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
	va_end(ap);
	ENSURE_INIT();
	if (option == PR_SET_SECCOMP) {
		ERRNO_SAVE;
		copy_go_inert("seccomp");
		ERRNO_RESTORE;
	}
	return real.prctl(option, a, b, c, d);
}

/* A change of effective user ends this process's part in copies across
 * processes (copy_creds_changed): a root daemon that attached root's
 * index must not keep it once it runs as someone else, nor publish root's
 * files into another user's. */
static int creds_changed(int r)
{
	if (r == 0) {
		ERRNO_SAVE;
		copy_creds_changed();
		ERRNO_RESTORE;
	}
	return r;
}

SHIM_EXPORT int setuid(uid_t uid)
{
	ENSURE_INIT();
	return creds_changed(real.setuid(uid));
}

SHIM_EXPORT int seteuid(uid_t euid)
{
	ENSURE_INIT();
	return creds_changed(real.seteuid(euid));
}

SHIM_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
	ENSURE_INIT();
	return creds_changed(real.setreuid(ruid, euid));
}

SHIM_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
	ENSURE_INIT();
	return creds_changed(real.setresuid(ruid, euid, suid));
}

/*
 * A copy is armed only under an unlimited RLIMIT_FSIZE (a write we accept
 * skips the kernel's EFBIG and SIGXFSZ); once the program sets that limit,
 * its later writes must meet it: settle first, and ask the kernel again at
 * the next copy (copy_fsize_changed). (Another process's prlimit on us is
 * not seen: DESIGN.md.)
 */
static void before_limit(pid_t pid, rlimit_resource resource, const struct rlimit *rl)
{
	ENSURE_INIT();
	if (resource == RLIMIT_FSIZE && rl && (pid == 0 || pid == (pid_t)SYS(SYS_getpid))) {
		ERRNO_SAVE;
		copy_settle_all("RLIMIT_FSIZE set");
		ERRNO_RESTORE;
	}
}

/* Sanitizer runtimes call setrlimit while they initialise, before the
 * shadow memory instrumented code needs exists: no instrumentation here, and
 * nothing else done unless it is RLIMIT_FSIZE, not even resolving the real
 * functions: until a wrapper has, the system call. */
#define UNINSTRUMENTED __attribute__((no_sanitize("address", "undefined", "thread")))

UNINSTRUMENTED SHIM_EXPORT int setrlimit(rlimit_resource resource, const struct rlimit *rl)
{
	if (resource != RLIMIT_FSIZE)
		return real.setrlimit ? real.setrlimit(resource, rl) : (int)SYS(SYS_prlimit64, 0, resource, rl, NULL);
	before_limit(0, resource, rl);
	int r = real.setrlimit(resource, rl);
	copy_fsize_changed();
	return r;
}

UNINSTRUMENTED SHIM_EXPORT int prlimit(pid_t pid, rlimit_resource resource, const struct rlimit *rl,
					struct rlimit *old)
{
	if (resource != RLIMIT_FSIZE)
		return real.prlimit ? real.prlimit(pid, resource, rl, old) : (int)SYS(SYS_prlimit64, pid, resource, rl, old);
	before_limit(pid, resource, rl);
	int r = real.prlimit(pid, resource, rl, old);
	if (rl)
		copy_fsize_changed();
	return r;
}

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	before_exec();
	return real.execve(path, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	before_exec();
	return real.execv(path, argv);
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	before_exec();
	return real.execvp(file, argv);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	before_exec();
	return real.execvpe(file, argv, envp);
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	before_exec();
	return real.fexecve(fd, argv, envp);
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	before_exec();
	return real.execveat(dirfd, path, argv, envp, flags);
}

/* execl*: gather the variadic arguments into an argv on the stack. */
#define GATHER_ARGV(arg0, last, argv)                         \
	do {                                                  \
		va_list ap_;                                  \
		size_t n_ = 1;                                \
		va_start(ap_, last);                          \
		while (va_arg(ap_, char *))                   \
			n_++;                                 \
		va_end(ap_);                                  \
		argv = alloca((n_ + 1) * sizeof(char *));     \
		argv[0] = (char *)(arg0);                     \
		va_start(ap_, last);                          \
		for (size_t i_ = 1; i_ <= n_; i_++)           \
			argv[i_] = va_arg(ap_, char *);       \
		va_end(ap_);                                  \
	} while (0)

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	char **argv;
	GATHER_ARGV(arg, arg, argv);
	before_exec();
	return real.execv(path, argv);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char **argv;
	GATHER_ARGV(arg, arg, argv);
	before_exec();
	return real.execvp(file, argv);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv;
	GATHER_ARGV(arg, arg, argv);
	/* The environment follows the terminating NULL. */
	size_t n = 0;
	while (argv[n])
		n++;
	va_list ap;
	va_start(ap, arg);
	for (size_t i = 0; i < n; i++)
		(void)va_arg(ap, char *);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	before_exec();
	return real.execve(path, argv, envp);
}

/* clone() runs no fork handler; its child shares every description. */
SHIM_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	/* The C library uses these three only for the flags that ask for
	 * them; we read and forward them always, whatever the caller passed
	 * (the registers or stack slots are there either way). */
	va_list ap;
	va_start(ap, arg);
	void *ptid = va_arg(ap, void *), *tls = va_arg(ap, void *), *ctid = va_arg(ap, void *);
	va_end(ap);
	ENSURE_INIT();
	if (flags & CLONE_THREAD && !(flags & CLONE_FILES)) {
		ERRNO_SAVE;
		copy_go_inert("unshared fd table");
		ERRNO_RESTORE;
	}
	fd_descriptions_shared();
	return after_child(real.clone(fn, stack, flags, arg, ptid, tls, ctid));
}

/* A thread with an fd table of its own shares our memory, and so our fd
 * table, where its fd N and ours are two files: inert before, even if the
 * call then fails. */
SHIM_EXPORT int unshare(int flags)
{
	ENSURE_INIT();
	if (flags & CLONE_FILES) {
		ERRNO_SAVE;
		copy_go_inert("unshared fd table");
		ERRNO_RESTORE;
	}
	return real.unshare(flags);
}

SHIM_EXPORT void _exit(int status)
{
	ENSURE_INIT();
	fd_descriptions_shared();  /* a vfork child's opens are in our table */
	copy_settle_all("_exit");
	stats_flush();
	real._exit(status);
	__builtin_unreachable();
}

SHIM_EXPORT void _Exit(int status)
{
	ENSURE_INIT();
	fd_descriptions_shared();  /* a vfork child's opens are in our table */
	copy_settle_all("_Exit");
	stats_flush();
	real._Exit(status);
	__builtin_unreachable();
}

SHIM_EXPORT void quick_exit(int status)
{
	ENSURE_INIT();
	fd_descriptions_shared();  /* a vfork child's opens are in our table */
	copy_settle_all("quick_exit");
	stats_flush();
	real.quick_exit(status);
	__builtin_unreachable();
}
