/* Helpers shared by the test programs. */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define die(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(2))

/* FNV-1a: a stable digest of bytes the program observed, for comparing runs. */
static inline uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static inline long long num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 0);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	if (*end)
		die("bad number '%s'", s);
	return v;
}
static inline int xopen(const char *p, int flags)
{
	int fd = open(p, flags, 0644);
	if (fd < 0)
		die("open %s: %s", p, strerror(errno));
	return fd;
}

/* fd's size, -1 if fstat fails. */
static inline off_t fsize(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* A test program's subcommands: `prog CMD ARGS...` runs the one named CMD,
 * which needs at least `args` arguments. */
struct subcmd {
	const char *name;
	int args;
	void (*fn)(char **);
};

static inline int run_subcmd(const struct subcmd *cmds, size_t ncmds, int argc, char **argv)
{
	if (argc < 2)
		die("usage: %s CMD ARGS...", argv[0]);
	for (size_t i = 0; i < ncmds; i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			if (argc - 2 < cmds[i].args)
				die("%s: needs %d arguments", argv[1], cmds[i].args);
			cmds[i].fn(argv + 2);
			return 0;
		}
	die("unknown command %s", argv[1]);
}
/*
 * What glibc before 2.34 lacks (Debian 11 has 2.31, RHEL 8 2.28), so that
 * the test programs build there and print what they print on a newer one.
 */
#ifdef __GLIBC__
#if !__GLIBC_PREREQ(2, 34)
#include <signal.h>
#include <sys/syscall.h>
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
/* glibc 2.34's, which make this system call (through syscall(), which the
 * shim wraps, as the shim wraps glibc's close_range and closefrom). */
static inline int close_range(unsigned first, unsigned last, int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}
static inline void closefrom(int fd)
{
	syscall(SYS_close_range, fd, ~0u, 0);
}
/* A fork that runs no atfork handlers, like glibc 2.34's _Fork. Unlike it,
 * glibc's cached thread id stays the parent's in the child: a child that
 * only closes and exits does not use it. */
static inline pid_t _Fork(void)
{
	return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}
#endif
#if !__GLIBC_PREREQ(2, 32)
/* glibc 2.32's names of errno values and signals, as it prints them (the
 * aliases EWOULDBLOCK, EDEADLOCK and ENOTSUP as EAGAIN, EDEADLK and
 * EOPNOTSUPP, SIGIO as POLL). */
#define ERRNO_NAMES(X)                                                                       \
	X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF)      \
	X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST)       \
	X(EXDEV) X(ENODEV) X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY)       \
	X(ETXTBSY) X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) \
	X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK) X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG)        \
	X(EIDRM) X(ECHRNG) X(EL2NSYNC) X(EL3HLT) X(EL3RST) X(ELNRNG) X(EUNATCH) X(ENOCSI)     \
	X(EL2HLT) X(EBADE) X(EBADR) X(EXFULL) X(ENOANO) X(EBADRQC) X(EBADSLT) X(EBFONT)       \
	X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR) X(ENONET) X(ENOPKG) X(EREMOTE) X(ENOLINK)      \
	X(EADV) X(ESRMNT) X(ECOMM) X(EPROTO) X(EMULTIHOP) X(EDOTDOT) X(EBADMSG) X(EOVERFLOW)  \
	X(ENOTUNIQ) X(EBADFD) X(EREMCHG) X(ELIBACC) X(ELIBBAD) X(ELIBSCN) X(ELIBMAX)          \
	X(ELIBEXEC) X(EILSEQ) X(ERESTART) X(ESTRPIPE) X(EUSERS) X(ENOTSOCK) X(EDESTADDRREQ)   \
	X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT) X(EPROTONOSUPPORT) X(ESOCKTNOSUPPORT)        \
	X(EOPNOTSUPP) X(EPFNOSUPPORT) X(EAFNOSUPPORT) X(EADDRINUSE) X(EADDRNOTAVAIL)          \
	X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS)      \
	X(EISCONN) X(ENOTCONN) X(ESHUTDOWN) X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED)      \
	X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE) X(EUCLEAN)          \
	X(ENOTNAM) X(ENAVAIL) X(EISNAM) X(EREMOTEIO) X(EDQUOT) X(ENOMEDIUM) X(EMEDIUMTYPE)    \
	X(ECANCELED) X(ENOKEY) X(EKEYEXPIRED) X(EKEYREVOKED) X(EKEYREJECTED) X(EOWNERDEAD)    \
	X(ENOTRECOVERABLE) X(ERFKILL) X(EHWPOISON)
#define SIGNAL_NAMES(X)                                                                      \
	X(HUP) X(INT) X(QUIT) X(ILL) X(TRAP) X(ABRT) X(BUS) X(FPE) X(KILL) X(USR1) X(SEGV)    \
	X(USR2) X(PIPE) X(ALRM) X(TERM) X(STKFLT) X(CHLD) X(CONT) X(STOP) X(TSTP) X(TTIN)     \
	X(TTOU) X(URG) X(XCPU) X(XFSZ) X(VTALRM) X(PROF) X(WINCH) X(POLL) X(PWR) X(SYS)
static inline const char *strerrorname_np(int e)
{
	switch (e) {
	case 0: return "0";
#define X(n) case n: return #n;
	ERRNO_NAMES(X)
#undef X
	}
	return NULL;
}
static inline const char *sigabbrev_np(int sig)
{
	switch (sig) {
#define X(n) case SIG##n: return #n;
	SIGNAL_NAMES(X)
#undef X
	}
	return NULL;
}
#endif
#endif
#endif
