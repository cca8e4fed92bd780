/* SPDX-License-Identifier: MIT */
/*
 * server.h - the stats socket: a thread that answers one short text request
 * per connection (proto.h) on a unix socket, for poolstat or socat.
 *
 * The face of server/: the layers above (preload/) include this header
 * alone. The folder's own: server.c (the thread: the socket made and made
 * again, clients accepted and polled), conn.h (one client: its request
 * read, its reply sent), reply.h (what each request is answered), fd.h
 * (our descriptors, checked before each use), sockpath.h (where the socket
 * lives).
 *
 * Who talks to it: preload/init.c configures it at init, starts it from the
 * flush thread once the process has lived POOLALLOC_START_MS (a fork child
 * likewise, with its own pid), removes the socket file at exit (the default
 * socket, an abstract name, has none: it goes with the process), and tells
 * it about fork.
 *
 * Rules the thread keeps:
 *   - It never calls malloc (nor stdio, nor anything that may): a reply is
 *     rendered whole (sink.h, a sink in memory mode) into a mapping of its
 *     connection's own, at most SERVER_REPLY_MAX bytes, unmapped when the
 *     connection ends: at most SERVER_SLOTS * SERVER_REPLY_MAX = 128 MiB,
 *     and only while that many of the largest replies (`heap`) are unread.
 *   - Every signal is blocked in it; it holds no allocator lock except
 *     inside flush_run() for a `flush` request, like the flush thread.
 *   - It never trusts a client and never waits for one: SO_PEERCRED admits
 *     our own uid and root only; a request is at most PROTO_REQ_MAX bytes and
 *     must arrive within SERVER_REQUEST_MS, and the reply is sent as the
 *     client reads it (non-blocking), within SERVER_REQUEST_MS again; up to
 *     SERVER_SLOTS clients are served at once (a new one evicts the oldest),
 *     so a client that stalls, writing or reading, delays nobody.
 *   - It never touches a descriptor the program may own. It runs with its own
 *     descriptor table (unshare(CLONE_FILES)): the program cannot close or
 *     reuse its sockets, and fork children do not inherit them. Where unshare
 *     is refused (some seccomp profiles) it shares the program's table: every
 *     descriptor's (st_dev, st_ino) is kept and checked before each use; one
 *     that changed is forgotten, never closed, and the socket is made again.
 *   - The socket file is removed only by the process that bound it, and only
 *     while it is still the file it bound. Where it lives, the rules for its
 *     folder, and the abstract name that is the default: sockpath.h.
 */
#ifndef POOLALLOC_SERVER_H
#define POOLALLOC_SERVER_H

/* The server's limits: SERVER_SLOTS here, SERVER_REQUEST_MS in conn.h and
 * SERVER_REPLY_MAX in reply.h, beside the code that keeps them. */
#define SERVER_SLOTS      16      /* clients read at the same time */

struct opt_values;

/* At init: keeps the options and decides whether this process wants a
 * server: not in a set-uid program (AT_SECURE), not with POOLALLOC_SOCKET=off.
 * Makes nothing. Returns 1 if a server is wanted. */
int server_configure(const struct opt_values *opts);

/* Binds the socket and starts the server thread for this pid, if one is
 * wanted and this pid has none; from a clean context with no allocator lock
 * held (the flush thread, at the preload layer's start). The path comes from
 * opts->socket or the default (the abstract name; where another process
 * holds it, the default folder, silently). Any other refusal gives one warning line on
 * stderr and no server, in this process and its fork children; the program
 * goes on. */
void server_start(void);

/* pthread_atfork child handler: the parent's server is not ours; the child's
 * own starts at server_start(), called again in the child. */
void server_fork_child(void);

/* At exit: removes the socket file if this process bound it and it is still
 * the same file (an abstract socket has none). */
void server_stop(void);

#endif
