/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the stats socket protocol, version PROTO_VERSION, and its
 * server half: the request parser and the reply writer, linked into the
 * library. The reply parser is poolstat's alone (proto_read.h).
 *
 * The face of wire/: the library's layers above it (sampler/, server/)
 * include this header alone, and with it sink.h. The reader half
 * (proto_read.c, render.c) is linked into poolstat and never into the
 * library (tools/check_exports.sh checks): poolstat includes proto_read.h,
 * which includes this header and render.h.
 *
 * One connection carries one request and one reply, then the server closes:
 *
 *   request   one line of printable ASCII, at most PROTO_REQ_MAX - 1 bytes,
 *             ended by "\n" (or "\r\n", or the end of the client's output):
 *             a command word (help stats classes cpus config flush all sites heap)
 *   reply     "poolalloc <version> ok <command>\n", then lines "<key> <value...>\n",
 *             then "end\n"; or exactly one line "poolalloc <version> error <reason>\n"
 *
 * Keys: the process figures of STATS_PROCESS plus pid, uptime_ms, mode,
 * mode_reason (the value is the rest of the line); `class.columns NAME...`
 * names the columns of the `class N ...` rows that follow it, `cpu.columns`
 * those of `cpu N ...` rows; `config NAME VALUE` lines; `command NAME TEXT`
 * for help. `sites` and `heap` (allocation sampling, sampler/sample.h) start
 * with `sampling on` (or `sampling off (why)` and nothing more); `sites` has
 * `site.columns` and `site N ... @ 0xADDR...` rows plus `order.live` and
 * `order.total` lines, `heap` one `heap LINE` per line of a heap profile
 * file. They were added without a new version: a client that never sends
 * them never sees them, and one that sends them to an older library gets an
 * `unknown request` error.
 * A client ignores keys and columns it does not know: adding a
 * figure does not change the version. Anything a client of version N could
 * misread does, and poolstat refuses a version it does not speak.
 */
#ifndef POOLALLOC_PROTO_H
#define POOLALLOC_PROTO_H

#include <stddef.h>

#include "sink.h"
#include "../stats/stats.h"

#define PROTO_VERSION 1
#define PROTO_REQ_MAX 256   /* request buffer: a longer line is refused */

#define PROTO_COMMANDS(X)                                                          \
    X(help, "this list")                                                          \
    X(stats, "process figures: in use, cached, region, pass-through, flushes")    \
    X(classes, "one row per active size class")                                  \
    X(cpus, "one row per CPU cache")                                             \
    X(config, "options as parsed from the environment, socket path, pool mode")  \
    X(flush, "run one generation now; replies with the bytes it returned")       \
    X(all, "stats, classes, cpus and config in one reply")                       \
    X(sites, "top allocation sites by live and total bytes (sampled estimates)") \
    X(heap, "heap profile in gperftools' legacy text format (pprof reads it)")

enum proto_cmd {
#define X(name, doc) PROTO_##name,
    PROTO_COMMANDS(X)
#undef X
    PROTO_NCMD
};

extern const char *const proto_cmd_name[PROTO_NCMD];
extern const char *const proto_cmd_doc[PROTO_NCMD];

/* Parses one request held in buf[0..len) (not NUL-terminated; may hold any
 * bytes). Returns the command, or -1 and a one-line reason in why[0..cap)
 * (always NUL-terminated, printable). Pure: no globals, no allocation. */
int proto_parse_request(const char *buf, size_t len, char *why, size_t cap);

/* Reply pieces, written to a sink. */
void proto_reply_ok(struct sink *o, int cmd);
void proto_reply_error(struct sink *o, const char *why);
void proto_write_stats(struct sink *o, const struct stats_snapshot *s);
void proto_write_classes(struct sink *o, const struct stats_snapshot *s);
void proto_write_cpus(struct sink *o, const struct stats_snapshot *s);
void proto_write_help(struct sink *o);
void proto_write_config(struct sink *o, const char *name, const char *value);
void proto_reply_end(struct sink *o);

/* The numeric fields of `class` and `cpu` rows, named in their `.columns`
 * line, and where each lives in its record: generated from stats.h's lists,
 * shared by the writer here and the reader (proto_read.h). */
struct proto_field {
    const char *name;
    size_t off;
};
extern const struct proto_field proto_class_fields[], proto_cpu_fields[];
extern const size_t proto_class_nfields, proto_cpu_nfields;

#endif
