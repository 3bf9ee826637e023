/*
 * readahead — how far the kernel reads ahead in the mount's files.
 *
 * The kernel gives a FUSE mount its own backing device with the default
 * window of 128 KiB, and a sequential read of fs/ is then one 128 KiB
 * request at a time: bound by the round trip to the target, not by the
 * transport (sshfs has the same limit). Its sysfs knob,
 * /sys/class/bdi/MAJ:MIN/read_ahead_kb, is writable by root only.
 * Not for: the kernel's request sizes (libfuse negotiates 1 MiB).
 */
#ifndef MITOFS_READAHEAD_H
#define MITOFS_READAHEAD_H

#include <stddef.h>

/* Sets the read-ahead window of the FUSE mount on mnt (an absolute,
 * resolved path) to bytes. Call after mounting and before the loop
 * answers the kernel's INIT, which keeps the smaller of this and the
 * max_readahead it is told. 0, -ENOENT (no such mount), or the -errno of
 * the sysfs write (-EACCES when not root). */
int readahead_set(const char *mnt, size_t bytes);

#endif
