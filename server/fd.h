/* SPDX-License-Identifier: MIT */
/*
 * fd.h - a descriptor of the stats server's, and the file it named when the
 * server made it. Part of server/, not its face.
 *
 * Where the server thread shares the program's descriptor table (unshare
 * refused: server.h), the program may close any of our numbers and reuse it
 * for a file of its own. So each descriptor keeps the (st_dev, st_ino) of its
 * file and is checked before each use: one that changed is the program's
 * now, forgotten and never closed.
 */
#ifndef POOLALLOC_FD_H
#define POOLALLOC_FD_H

#include <sys/types.h>

struct owned_fd {
    int fd;          /* -1: none */
    dev_t dev;
    ino_t ino;
};

/* Makes fd ours: o names it and the file it names now. -1 (o unchanged)
 * if fstat fails. */
int fd_own(struct owned_fd *o, int fd);

/* 1 if o->fd still names the file we made it for. */
int fd_still_ours(const struct owned_fd *o);

/* Closes o->fd if it is still ours; forgets it either way. */
void fd_release(struct owned_fd *o);

#endif
