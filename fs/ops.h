/* ops — the FUSE low-level operation table of the mount (ops.c). */
#ifndef MITOFS_OPS_H
#define MITOFS_OPS_H

#include "daemon.h"

extern const struct fuse_lowlevel_ops mitofs_ops;

#endif
