/* SPDX-License-Identifier: MIT */
/*
 * render.h - an output sink that never allocates, and the renderers of a
 * snapshot for people and machines: JSON, Prometheus text exposition, the
 * summary + per-class table. Shared by the library (the socket server writes
 * its replies through a sink) and by poolstat, which parses a reply back into
 * a snapshot (proto.h) and renders it here, as redis-cli links server objects.
 *
 * Every renderer walks the X-macro lists of stats.h, so a figure declared
 * there appears in every format. Nothing here calls malloc or stdio: a sink
 * is a fixed buffer flushed with write(2) or send(2).
 */
#ifndef POOLALLOC_RENDER_H
#define POOLALLOC_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

/* A sink writes to a descriptor (sink_init), or collects into memory
 * (sink_init_mem): then sink_flush appends buf to mem, an anonymous mapping
 * grown with mremap, so that the stats server can send a large reply as its
 * client reads it, without malloc and without waiting. Invariants of the
 * memory mode: mem_len <= mem_cap <= mem_max; mem == NULL iff mem_cap == 0. */
struct sink {
    int fd;        /* -1 in memory mode */
    int sock;      /* 1: send(MSG_NOSIGNAL), never raising SIGPIPE; 0: write(2) */
    int failed;    /* a write failed (or memory ran out): everything after it is dropped */
    size_t len;
    char buf[4096];
    char *mem;     /* memory mode: the bytes flushed so far, mem_len of them */
    size_t mem_len, mem_cap;
    size_t mem_max;   /* 0: descriptor mode */
};

/* Options and facts that are not counters: `config NAME VALUE` lines. */
#define RENDER_CONFIG_MAX 32
struct render_config {
    unsigned n;
    struct {
        char name[48];
        char value[2 * STATS_STR_MAX];
    } item[RENDER_CONFIG_MAX];
};

void sink_init(struct sink *o, int fd, int sock);
/* Memory mode: collects at most max bytes (> 0). After the last sink_flush,
 * the caller owns o->mem (o->mem_cap bytes, munmap it) even when o->failed:
 * a reply that would pass max, or a mapping the kernel refuses, sets failed. */
void sink_init_mem(struct sink *o, size_t max);
void sink_mem(struct sink *o, const char *s, size_t n);
void sink_str(struct sink *o, const char *s);
void sink_u64(struct sink *o, uint64_t v);
/* Right-aligned in a field of the given width (left-aligned if width < 0). */
void sink_u64w(struct sink *o, uint64_t v, int width);
void sink_strw(struct sink *o, const char *s, int width);
/* v / scale with `decimals` digits after the point (0..6), rounded. */
void sink_fixed(struct sink *o, uint64_t v, uint64_t scale, int decimals);
/* Bytes as "12.3 MiB" / "512 B": 1024-based, one decimal. */
void sink_bytes(struct sink *o, uint64_t bytes);
/* s with control characters and bytes >= 0x7f replaced by '?'. */
void sink_printable(struct sink *o, const char *s);
/* Writes what is buffered (retrying short writes and EINTR), or appends it
 * to mem in memory mode. Returns 0, or -1 if any write failed. */
int sink_flush(struct sink *o);

/* One JSON object: process figures, "classes" (active ones), "cpus", and
 * "config" if cfg is not NULL. */
void render_json(struct sink *o, const struct stats_snapshot *s, const struct render_config *cfg);

/* One process in a Prometheus exposition. */
struct prom_process {
    const struct stats_snapshot *snap;   /* its pid is the `pid` label */
    const char *comm;      /* the program's name, /proc/PID/comm (any bytes); NULL: "" */
    const char *version;   /* poolalloc version it reports; NULL: POOLALLOC_VERSION */
};

/* Prometheus text exposition format 0.0.4 for n processes (n may be 0): each
 * family's HELP and TYPE once, the samples of every process under it; names
 * poolalloc_* with their unit, counters ending in _total. Every sample has
 * the labels pid and comm first, so that the series of many processes (one
 * file for node_exporter's textfile collector) never collide; label values
 * are escaped (\\ \" \n) and other bytes outside printable ASCII become '?'.
 * The caller gives each pid once. */
void render_prom(struct sink *o, const struct prom_process *p, unsigned n);

/* For people: the summary lines and the table of active classes. comm may
 * be NULL. */
void render_text(struct sink *o, const struct stats_snapshot *s, const char *comm);

/* Uptime as "3d04h", "2h05m", "4m07s", "12s". */
void render_duration(struct sink *o, uint64_t ms);

#endif
