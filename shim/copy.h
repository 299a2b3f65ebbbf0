/*
 * copy.h — copy detection: turning "this program is copying S into D" into
 * one FICLONE, and keeping everything the program observes unchanged.
 *
 * The wrappers call these only for fds whose fdtab entry missed the fast
 * path; each function either handles the call completely (sets *handled
 * and returns the call's result, errno as the real call would leave it) or
 * returns with *handled false, after which the wrapper makes the real call.
 *
 * THE STATE MACHINE (copy.c; why each rule holds: docs/DESIGN.md)
 *
 * Each fd has a state in the fd table (fdtab.h); a copy record (struct copy
 * in copy.c) is free, armed or settled. The events that move them, and the
 * function that makes each move (tests/docs.bats checks these names exist):
 *
 *   from          event                                   to                 where
 *   fd UNKNOWN    first read, a regular file              REG_READ: a        note_read
 *                                                         possible source
 *   fd UNKNOWN    first read, not a regular file          PLAIN              note_read
 *   fd unjudged   first write, no source read worth one   REG_DONE (of any   judge_without_source
 *                                                         type: not asked)
 *   fd unjudged   first transfer from a pipe, a socket or unjudged: the      transfer_may_clone
 *                 a file below its threshold              kernel's call
 *   fd unjudged   first write: claimed while judged       BUSY               copy_write, copy_transfer
 *   fd BUSY       empty D at 0, bytes equal a source's,   copy ARMED, fd     arm_write, do_clone,
 *                 S unchanged, cloned                     points to it       accept_write
 *   fd BUSY       first transfer (sendfile, copy_file_    REG_DONE: cloned,  first_transfer,
 *                 range) moving all of S from its start   nothing kept       clone_whole
 *                 into empty D, S unchanged, cloned
 *   fd BUSY       anything else                           REG_DONE / PLAIN   arm_write, judge_dest,
 *                                                                            first_transfer
 *   copy ARMED    write at hi equal to S's bytes there    ARMED, hi += n     copy_write, accept_write,
 *                                                                            copy_transfer
 *   copy ARMED    read, lseek, stat of D                  ARMED: answered    copy_read_begin, copy_lseek,
 *                                                         as cut at hi       copy_fix_stat
 *   copy ARMED    any other write to D; D changed by      SETTLED: D cut     settle_owned (through
 *                 someone else; a call we do not          to hi, an          settle_locked,
 *                 emulate; exit, exec, fork, seccomp      ordinary file      copy_settle_fd, ...)
 *   copy ARMED    the program closes S                    ARMED, S read by   drop_fd
 *                                                         name (or SETTLED)
 *   fd on a copy  close, dup2 over, reuse                 fd UNKNOWN; the    drop_fd, forget_fd,
 *                                                         last one settles   detach_locked
 *   copy          no fd refers to it                      free               release_if_unused
 *   fd REG_READ   closed after being read whole           name in the stash  stash_remember
 *
 * Only a live copy (armed, by this process: live()) is ever acted on; a
 * vfork child shares the records and a fork child inherits copies of them.
 * Every operation runs in one frame (frame_enter/frame_lock): errno saved,
 * signals blocked, cancellation off, the record locked.
 */
#ifndef SHIM_COPY_H
#define SHIM_COPY_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kernel.h"

/* Number of copies whose destination may hold more than was written. */
extern int copies_active;

/*
 * A write of iov to fd: at `off`, or at the file position when off < 0.
 * May arm a new copy (clone S into D) or accept the write into an armed one.
 */
ssize_t copy_write(int fd, uintptr_t ent, const struct iovec *iov, int cnt, off_t off, bool *handled);

/* A write to fd whose bytes we will not look at (an iovec array we could
 * not copy): settles an armed copy; a first write is judged not a copy. */
void copy_write_unseen(int fd, uintptr_t ent);

/*
 * A read of n bytes from fd (at `off`, or the file position when off == -1)
 * into buf (NULL: a vector read) whose entry `ent` missed the fast path.
 * Classifies the fd and marks a regular file as read (a possible source,
 * buf its hint); for an fd on an armed destination returns how many bytes
 * the read may return (reads must stop at what the program has written).
 * Returns n when the read is unrestricted. *vet: the caller vets the bytes
 * the kernel fills (a regular file's first read, a source's reads).
 */
size_t copy_read_begin(int fd, uintptr_t ent, size_t n, off_t off, const void *buf, bool *vet);
/* After a read copy_read_begin asked to vet returned r: publishes a file
 * read from its start for other processes (share.h). */
void copy_read_end(const void *buf, ssize_t r);
/* After a successful setuid, seteuid, setreuid or setresuid: a process
 * whose effective user changed stops sharing (share.h). */
void copy_creds_changed(void);
/* Before a sendfile from in to standard output, judged already: publishes
 * in's file, at its first such transfer from its start (share.h). */
void copy_transfer_to_stdout(int in, off_t *inoff);

/*
 * sendfile (outoff == NULL, use_out_pos) or copy_file_range (cfr: counts
 * as the kernel's, which may shorten) from `in` to `out`: arms a copy on
 * the first call and accepts the following chunks without touching the
 * data.
 */
ssize_t copy_transfer(int out, int in, off_t *inoff, off_t *outoff, size_t len, bool cfr, bool *handled);

/* lseek on an fd of an armed copy: SEEK_END/SEEK_DATA/SEEK_HOLE see the
 * written size, not the cloned one. */
off_t copy_lseek(int fd, uintptr_t ent, off_t off, int whence, bool *handled);

/* Fixes st_size/st_blocks reported for fd (fd >= 0) or for any file that is
 * the destination of an armed copy (matched by st_dev/st_ino). */
void copy_fix_stat(int fd, struct stat *st);
void copy_fix_statx(int fd, struct statx *stx);

/* Settles the copy fd belongs to (before an operation we do not emulate). */
void copy_settle_fd(int fd, const char *why);
/* Settles any armed copy whose destination is the file at (dirfd, path). */
void copy_settle_path(int dirfd, const char *path, int flags, const char *why);

/* fd lifecycle, called around the real calls. */
void copy_fd_opened(int fd, int flags);  /* after open/openat/creat returned fd */
void copy_fd_closing(int fd);            /* before close(fd) */
void copy_fd_duped(int oldfd, int newfd);  /* after dup/dup2/dup3/F_DUPFD made newfd */
void copy_fd_truncated(int fd, off_t len); /* after a successful ftruncate */
/*
 * Private fds (ours, not the program's) are FD_PRIV in the table: wrappers
 * answer EBADF for them. When the program wants their numbers:
 */
/* dup2 (three false) or dup3 onto fd2, giving up our fd numbered fd2. */
int copy_dup_onto(int fd, int fd2, int flags, bool three);
/* close_range, or closefrom(first) when `from`: settles the copies of the
 * program's fds in the range and gives up ours there. */
int copy_close_range(unsigned first, unsigned last, int flags, bool from);
void copy_fds_closing_range(unsigned first, unsigned last);
void copy_fds_wanted_from(int base);      /* before F_DUPFD(base) */
/* After an fd-allocating call failed with EMFILE: frees ours if that is
 * safe; true when the caller should try once more. */
bool copy_fds_exhausted(void);

/* The program set RLIMIT_FSIZE (setrlimit, prlimit on itself): the next
 * copy asks the kernel for it again. */
void copy_fsize_changed(void);

/* The program took a POSIX record lock (fcntl F_SETLK/F_SETLKW, lockf). */
void copy_note_posix_lock(void);
extern unsigned copy_lock_gen;

/* Settles every copy this process owns (exit, fork, spawn). */
void copy_settle_all(const char *why);
/* Before exec: also in a vfork child, on its suspended parent's behalf. */
void copy_settle_before_exec(void);

/*
 * The process is installing a seccomp filter (why "seccomp"), or a thread
 * is taking an fd table of its own ("unshared fd table": one fd number
 * then names two files, and our table knows one): settle everything,
 * close our fds, and from then on make no system call the program did not
 * make (every fd is FD_PLAIN, nothing is flushed or logged).
 */
void copy_go_inert(const char *why);
extern int copy_inert;
/* In a fork child: forget locks and private fds inherited from the parent. */
void copy_after_fork_child(void);

/* Private fds are never handed out to the program: the lowest one we use. */
extern int priv_fd_base;

#endif
