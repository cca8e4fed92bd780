/* SPDX-License-Identifier: MIT */
/* fd.c - the stats server's descriptors, checked before each use (see fd.h). */
#include "fd.h"

#include <sys/stat.h>
#include <unistd.h>

int fd_own(struct owned_fd *o, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    o->fd = fd;
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    return 0;
}

int fd_still_ours(const struct owned_fd *o)
{
    struct stat st;
    return o->fd >= 0 && fstat(o->fd, &st) == 0 && st.st_dev == o->dev && st.st_ino == o->ino;
}

void fd_release(struct owned_fd *o)
{
    if (fd_still_ours(o))
        close(o->fd);
    o->fd = -1;
}
