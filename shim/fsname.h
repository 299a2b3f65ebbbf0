/*
 * fsname.h — statfs f_type to a filesystem's usual name, for messages
 * (shared by the library and the wrapper).
 */
#ifndef SHIM_FSNAME_H
#define SHIM_FSNAME_H

/* "xfs", "ext4", ...; "unknown-fs" for a type not in the table. */
const char *fs_type_name(long type);

#endif
