/*
 * shim.h — definitions shared by every module of the library.
 *
 * The library is built with -fvisibility=hidden: nothing here is exported.
 * Only the wrappers (marked SHIM_EXPORT) are visible, and the version script
 * generated from symbols.def keeps it that way.
 */
#ifndef SHIM_H
#define SHIM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#define SHIM_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Linux caps one read/write/sendfile/copy_file_range at this many bytes. */
#define SHIM_MAX_RW 0x7ffff000L

/*
 * Wrappers must leave errno exactly as the real call would. Internal work
 * may clobber it, so wrappers save it on entry and restore it before the
 * call whose errno the program is meant to see.
 */
#define ERRNO_SAVE int saved_errno_ = errno
#define ERRNO_RESTORE (errno = saved_errno_)

#endif
