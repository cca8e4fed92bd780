/* SPDX-License-Identifier: MIT */
/*
 * reply.h - what the stats server answers to a request: the whole reply,
 * rendered in memory from the protocol's pieces (proto.h), the figures of
 * the moment (stats.h), the sampler's tables (sample.h) and the server's own
 * settings. Part of server/, not its face: conn.c renders a reply once a
 * client's request is in, and sends it.
 *
 * Runs on the server thread: no malloc, no stdio. A `flush` request runs a
 * generation (flush_run) there, like the flush thread; the other requests
 * only read.
 */
#ifndef POOLALLOC_REPLY_H
#define POOLALLOC_REPLY_H

#include <stddef.h>

/* The largest reply sent: `heap` with every site of the sampler (8191 stacks
 * of 32 frames, about 5.4 MB) and room for the maps. A larger one is refused
 * with an error line. */
#define SERVER_REPLY_MAX  (8u << 20)

struct opt_values;
struct sink;

/* What the `config` reply says of the server that sends it. */
struct reply_server {
    const struct opt_values *opts;   /* as parsed at init */
    const char *socket_path;         /* as bound ("@name": an abstract one) */
    int private_table;               /* 1: the thread has a descriptor table of its own */
};

/* Renders the reply to req[0..len) (one request, not NUL-terminated, any
 * bytes) into o, which it sets up in memory mode for at most
 * SERVER_REPLY_MAX bytes, and flushes. Then the caller owns o->mem; when
 * o->failed the reply did not fit or memory ran out. */
void reply_render(struct sink *o, const char *req, size_t len, const struct reply_server *srv);

#endif
