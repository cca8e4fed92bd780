/* SPDX-License-Identifier: MIT */
/*
 * proto_read.h - the stats socket protocol (proto.h), poolstat's half: a reply
 * read back line by line into a snapshot that render.h can show. Client side
 * only: the library never links it (tools/check_exports.sh checks that the
 * .so holds none of the names declared here). A reply is another process's
 * bytes: every string is stored cut to its field and made printable.
 */
#ifndef POOLALLOC_PROTO_READ_H
#define POOLALLOC_PROTO_READ_H

#include <stdint.h>

#include "proto.h"
#include "render.h"
#include "../stats/stats.h"

/* A reply as poolstat reads it, line by line. */
enum proto_status {
    PROTO_PENDING,    /* no first line yet */
    PROTO_OK,
    PROTO_ERROR,      /* the server said error: see `error` */
    PROTO_FOREIGN,    /* the first line is not "poolalloc ..." */
    PROTO_SKEW,       /* another protocol version: see `version` */
};

#define PROTO_COLS_MAX 64

struct proto_reply {
    int status;
    int ended;                /* "end" seen */
    int malformed;            /* a line could not be read: the first one is in `bad` */
    long version;
    char cmd[16];
    char error[PROTO_REQ_MAX];
    char bad[80];
    int class_cols[PROTO_COLS_MAX], nclass_cols;
    int cpu_cols[PROTO_COLS_MAX], ncpu_cols;
    uint64_t returned_now;    /* flush: bytes that flush returned */
    unsigned ncommands;
    struct stats_snapshot snap;
    struct render_config config;
};

/* Starts reading a reply. */
void proto_reply_init(struct proto_reply *r);

/* Reads one line (without its "\n"; modified in place). Returns 0, or -1 if
 * the reply cannot be read any further (status tells why; a malformed line
 * sets `malformed` and is skipped, returning 0). */
int proto_parse_line(struct proto_reply *r, char *line);

#endif
