/* SPDX-License-Identifier: MIT */
/*
 * conn.h - one client of the stats socket: its request read, its reply
 * sent, never waiting for it. Part of server/, not its face: server.c
 * accepts the clients, polls their descriptors, and calls these when one is
 * ready or its time is up (server.h states the rules they keep).
 *
 * A connection first reads its request into buf; then its reply, rendered
 * whole (reply.h) into out, a mapping of out_cap bytes of its own, is sent
 * as the client reads it. out == NULL while reading;
 * out_sent <= out_len <= out_cap. Its descriptor is checked before each use
 * (fd.h). Every call ends the connection (conn_close) when the client is
 * gone, done, or its descriptor is not ours any more.
 */
#ifndef POOLALLOC_CONN_H
#define POOLALLOC_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "../wire/proto.h"
#include "fd.h"

#define SERVER_REQUEST_MS 10000   /* time a client has to send its request (a person typing in socat),
                                     and again to read its reply */

struct reply_server;

struct conn {
    struct owned_fd o;
    uint64_t deadline_ms;
    uint64_t since_ms;
    size_t len;
    char buf[PROTO_REQ_MAX];
    char *out;
    size_t out_len, out_sent, out_cap;
};

/* The clock of the deadlines: CLOCK_MONOTONIC in milliseconds. */
uint64_t conn_now_ms(void);

/* Reads what the client sent so far; once a whole line (or the end of its
 * output) is in, renders the reply (srv: what `config` says of the server)
 * and starts sending it: the client has SERVER_REQUEST_MS more to read it. */
void conn_read(struct conn *c, const struct reply_server *srv);

/* Sends what the client's socket takes now, never waiting; the connection
 * ends when all is sent, or the client is gone. */
void conn_write(struct conn *c);

/* One error line, sent only if the socket takes it at once, then the end. */
void conn_fail(struct conn *c, const char *why);

/* Ends a connection: closes its descriptor if it is still ours (forgets it
 * if not) and unmaps its reply. What was sent stays readable by the client. */
void conn_close(struct conn *c);

#endif
