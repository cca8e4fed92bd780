/* SPDX-License-Identifier: MIT */
/*
 * sockpath.h - where the stats socket lives, and binding it. The server
 * (server.c) asks for a listening socket once per process and again when the
 * program closed it or removed its file; this file knows the places and the
 * rules for them, nothing of clients or replies.
 *
 * The place, by default: the Linux abstract name "@poolalloc-<euid>-<pid>".
 * It is no file: it vanishes with the process however that ends (exit,
 * exec: the listener is close-on-exec; _exit, a signal, a crash: the kernel
 * closes it), so nothing stale is left for a user or poolstat to meet. The
 * abstract namespace has no permissions: SO_PEERCRED (server.c) admits our
 * uid and root alone, and poolstat checks the server's uid and pid. Names are
 * per network namespace (a container with its own network has its own).
 *
 * Where that name is held (another user's process took it first, or a process
 * of another pid namespace sharing this network namespace has our pid), the
 * socket is a file instead: $XDG_RUNTIME_DIR/poolalloc/<pid>.sock, else
 * /tmp/poolalloc-<euid>/<pid>.sock. POOLALLOC_SOCKET names a file the user
 * chose (`%p` = pid, `%%` = %; a path without `%p` that a live process holds
 * becomes PATH.<pid>); it is never replaced by another place. For a file:
 *   - the folder is created 0700 if missing; it is refused if it is a symlink,
 *     not a folder, not ours, or writable by others; a socket path that is a
 *     symlink, another file or another uid's socket is refused; a socket of
 *     ours that nobody answers on (a dead process's) is removed first;
 *   - the socket file is 0600 from the moment it exists (fchmod before bind);
 *   - a file is removed only while it is still the one bound (dev, ino).
 * Nothing here calls malloc or writes to stderr: reasons go to the caller.
 */
#ifndef POOLALLOC_SOCKPATH_H
#define POOLALLOC_SOCKPATH_H

#include <sys/types.h>
#include <sys/un.h>

#include "../core/log.h"

#define SOCK_PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)   /* 108 with the NUL */

/* A bound socket: its path ("@name" for an abstract one, as `config`
 * shows it) and, for a file, the file's identity when it was bound. */
struct sock_place {
    char path[SOCK_PATH_CAP];
    int abstract;
    dev_t dev;
    ino_t ino;
};

/* Copies the template (POOLALLOC_SOCKET, "" for the default) and
 * XDG_RUNTIME_DIR (NULL for none) into static storage, before sock_listen. */
void sock_configure(const char *tmpl, const char *xdg);

/* A listening socket (non-blocking, close-on-exec, never fd 0-2) for pid at
 * its place, described in *pl. Returns the fd, or -1 with the reason in why
 * (one clause, for the caller's one warning line). With verbose, a fallback
 * from the abstract name to the default folder is said on stderr. */
int sock_listen(pid_t pid, int verbose, struct sock_place *pl, struct logbuf *why);

/* The same place again (the program closed our socket, or removed its file):
 * the fd, or -1 if it cannot be had now (someone else's socket there, or the
 * abstract name still held). Silent. */
int sock_relisten(struct sock_place *pl);

/* 1 if pl's file is still the one bound (always, for an abstract name). */
int sock_still_ours(const struct sock_place *pl);

/* Removes pl's file if it is still the one bound; nothing for an abstract name. */
void sock_remove(const struct sock_place *pl);

/* Keeps one of our descriptors off 0-2 (moved up, close-on-exec): a program
 * started with those closed must find them free for its own stdio. */
int sock_high_fd(int fd);

#endif
