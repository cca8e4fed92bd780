/* SPDX-License-Identifier: MIT */
/*
 * render.h - the renderers of a snapshot for people and machines: JSON,
 * Prometheus text exposition, the summary + per-class table. Client side
 * only: poolstat parses a reply back into a snapshot (proto_read.h) and
 * renders it here; the library never links this (tools/check_exports.sh
 * checks that the .so holds none of the names declared here).
 *
 * Every renderer walks the X-macro lists of stats.h, so a figure declared
 * there appears in every format. Nothing here calls malloc or stdio: the
 * output goes to a sink (sink.h).
 */
#ifndef POOLALLOC_RENDER_H
#define POOLALLOC_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "../stats/stats.h"

/* Options and facts that are not counters: `config NAME VALUE` lines. */
#define RENDER_CONFIG_MAX 32
struct render_config {
    unsigned n;
    struct {
        char name[48];
        char value[2 * STATS_STR_MAX];
    } item[RENDER_CONFIG_MAX];
};

/* Numbers for people, written to a sink; the library writes only integers.
 * v / scale with `decimals` digits after the point (0..6), rounded. */
void sink_fixed(struct sink *o, uint64_t v, uint64_t scale, int decimals);
/* Bytes as "12.3 MiB" / "512 B": 1024-based, one decimal. */
void sink_bytes(struct sink *o, uint64_t bytes);

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
