/* SPDX-License-Identifier: MIT */
/* render.c - the renderers of a snapshot (see render.h). No malloc, no stdio. */
#include "render.h"

#include "../include/poolalloc.h"
#include "proto.h"

/* ---- numbers for people --------------------------------------------------------------- */

void sink_fixed(struct sink *o, uint64_t v, uint64_t scale, int decimals)
{
    uint64_t pow = 1;
    for (int i = 0; i < decimals; i++)
        pow *= 10;
    /* v * pow may overflow for huge v: divide first then, losing nothing that shows. */
    uint64_t q = v / scale, r = v % scale;
    uint64_t frac = (uint64_t)(((unsigned __int128)r * pow + scale / 2) / scale);
    if (frac >= pow) {
        q++;
        frac -= pow;
    }
    sink_u64(o, q);
    if (decimals > 0) {
        int n = 1;
        for (uint64_t t = frac; t >= 10; t /= 10)
            n++;
        sink_mem(o, ".", 1);
        for (int i = n; i < decimals; i++)
            sink_mem(o, "0", 1);
        sink_u64(o, frac);
    }
}

void sink_bytes(struct sink *o, uint64_t bytes)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    uint64_t scale = 1;
    while (u < 4 && bytes >= scale * 1024) {
        scale *= 1024;
        u++;
    }
    sink_fixed(o, bytes, scale, u ? 1 : 0);
    sink_str(o, " ");
    sink_str(o, unit[u]);
}

void render_duration(struct sink *o, uint64_t ms)
{
    uint64_t s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
    uint64_t big, small;
    const char *bu, *su;
    if (d) {
        big = d, bu = "d", small = h % 24, su = "h";
    } else if (h) {
        big = h, bu = "h", small = m % 60, su = "m";
    } else if (m) {
        big = m, bu = "m", small = s % 60, su = "s";
    } else {
        sink_u64(o, s);
        sink_str(o, "s");
        return;
    }
    sink_u64(o, big);
    sink_str(o, bu);
    if (small < 10)
        sink_str(o, "0");
    sink_u64(o, small);
    sink_str(o, su);
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_string(struct sink *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sink_str(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sink_mem(o, e, 2);
        } else if (c < 32 || c >= 127) {
            /* Non-ASCII bytes become escapes too: the output is valid JSON
             * whatever bytes a value holds. */
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sink_mem(o, e, 6);
        } else {
            sink_mem(o, (const char *)&c, 1);
        }
    }
    sink_str(o, "\"");
}

static void json_num(struct sink *o, int *first, const char *key, uint64_t v)
{
    sink_str(o, *first ? "\"" : ",\"");
    *first = 0;
    sink_str(o, key);
    sink_str(o, "\":");
    sink_u64(o, v);
}

void render_json(struct sink *o, const struct stats_snapshot *s, const struct render_config *cfg)
{
    int first = 1;
    sink_str(o, "{");
    json_num(o, &first, "protocol", PROTO_VERSION);
    json_num(o, &first, "pid", s->pid);
    json_num(o, &first, "uptime_ms", s->uptime_ms);
    sink_str(o, ",\"mode\":");
    json_string(o, s->mode);
    sink_str(o, ",\"mode_reason\":");
    json_string(o, s->mode_reason);
#define X(name, kind, doc) json_num(o, &first, #name, s->name);
    STATS_PROCESS(X)
#undef X
    sink_str(o, ",\n\"classes\":[");
    int firstc = 1;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        const struct stats_class *k = &s->cls[c];
        if (!stats_class_active(k))
            continue;
        sink_str(o, firstc ? "\n{" : ",\n{");
        firstc = 0;
        first = 1;
        json_num(o, &first, "class", c);
        json_num(o, &first, "size", k->size);
#define X(name, unit, doc) json_num(o, &first, #name, k->name);
        STATS_CLASS_GAUGES(X)
#undef X
        json_num(o, &first, "in_use_bytes", k->in_use * k->size);
        json_num(o, &first, "cached_bytes", (k->local + k->victim) * k->size);
#define X(name, doc) json_num(o, &first, #name, k->ctr.name);
        CACHE_COUNTERS(X)
#undef X
        sink_str(o, "}");
    }
    sink_str(o, "],\n\"per_cpu\":[");
    for (unsigned i = 0; i < s->ncpu; i++) {
        const struct stats_cpu *p = &s->cpu[i];
        sink_str(o, i ? ",\n{" : "\n{");
        first = 1;
        json_num(o, &first, "cpu", p->cpu);
#define X(name, kind, doc) json_num(o, &first, #name, p->name);
        STATS_CPU_FIELDS(X)
#undef X
        sink_str(o, "}");
    }
    sink_str(o, "]");
    if (cfg) {
        sink_str(o, ",\n\"config\":{");
        for (unsigned i = 0; i < cfg->n; i++) {
            if (i)
                sink_str(o, ",");
            json_string(o, cfg->item[i].name);
            sink_str(o, ":");
            json_string(o, cfg->item[i].value);
        }
        sink_str(o, "}");
    }
    sink_str(o, "}\n");
}

/* ---- Prometheus ------------------------------------------------------------------------ */

/* A label value in the text format: it has escapes for \\, \" and \n only, so
 * every other control byte, DEL and bytes >= 0x80 (a value is another
 * process's text, not necessarily UTF-8) become '?'. */
static void prom_label_value(struct sink *o, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == '"')
            sink_mem(o, "\\", 1);
        if (c == '\n')
            sink_str(o, "\\n");
        else if (c < 32 || c >= 127)
            sink_str(o, "?");
        else
            sink_mem(o, s, 1);
    }
}

static void prom_family(struct sink *o, const char *prefix, const char *name, const char *suffix,
                        const char *type, const char *doc)
{
    for (int pass = 0; pass < 2; pass++) {
        sink_str(o, pass ? "# TYPE " : "# HELP ");
        sink_str(o, prefix);
        sink_str(o, name);
        sink_str(o, suffix);
        sink_str(o, " ");
        sink_str(o, pass ? type : doc);
        sink_str(o, "\n");
    }
}

static void prom_name(struct sink *o, const char *prefix, const char *name, const char *suffix)
{
    sink_str(o, prefix);
    sink_str(o, name);
    sink_str(o, suffix);
}

/* The labels that tell one process's series from another's, first in every
 * sample: the pid and the program's name (comm, any bytes: escaped). */
static void prom_process_labels(struct sink *o, const struct prom_process *p)
{
    sink_str(o, "pid=\"");
    sink_u64(o, p->snap->pid);
    sink_str(o, "\",comm=\"");
    prom_label_value(o, p->comm ? p->comm : "");
    sink_str(o, "\"");
}

/* NAME{pid="..",comm=".." : a sample's start; the caller adds any other
 * labels and closes the set. */
static void prom_sample_open(struct sink *o, const char *prefix, const char *name,
                             const char *suffix, const struct prom_process *p)
{
    prom_name(o, prefix, name, suffix);
    sink_str(o, "{");
    prom_process_labels(o, p);
}

static void prom_class_sample(struct sink *o, const char *name, const char *suffix,
                              const struct prom_process *p, unsigned c, uint64_t v)
{
    prom_sample_open(o, "poolalloc_class_", name, suffix, p);
    sink_str(o, ",class=\"");
    sink_u64(o, c);
    sink_str(o, "\",size=\"");
    sink_u64(o, p->snap->cls[c].size);
    sink_str(o, "\"} ");
    sink_u64(o, v);
    sink_str(o, "\n");
}

#define PROM_TYPE_G "gauge"
#define PROM_TYPE_C "counter"
#define PROM_SUFFIX_G ""
#define PROM_SUFFIX_C "_total"
#define PROM_CLASS_UNIT_objects 1
#define PROM_CLASS_UNIT_spans 0

/* Is the j-th CPU row of s a repeat of an earlier row's CPU? A reply names
 * each CPU once; a hostile one that does not must not make a series twice
 * (one duplicate makes node_exporter drop the whole file). */
static int prom_cpu_repeated(const struct stats_snapshot *s, unsigned j)
{
    for (unsigned k = 0; k < j; k++)
        if (s->cpu[k].cpu == s->cpu[j].cpu)
            return 1;
    return 0;
}

/* Every active class of every process: one sample each, of `expr` (which may
 * use k, the class's figures). */
#define PROM_EACH_CLASS(name, suffix, expr)                                       \
    for (unsigned i = 0; i < n; i++)                                              \
        for (unsigned c = 0; c < SC_COUNT; c++) {                                 \
            const struct stats_class *k = &p[i].snap->cls[c];                     \
            if (stats_class_active(k))                                            \
                prom_class_sample(o, name, suffix, &p[i], c, (expr));             \
        }

void render_prom(struct sink *o, const struct prom_process *p, unsigned n)
{
    prom_family(o, "poolalloc_", "info", "", "gauge",
                "Constant 1; labels: pid, comm (program name), mode (pool access), "
                "protocol (stats protocol version), version (the process's poolalloc).");
    for (unsigned i = 0; i < n; i++) {
        prom_sample_open(o, "poolalloc_", "info", "", &p[i]);
        sink_str(o, ",mode=\"");
        prom_label_value(o, p[i].snap->mode);
        sink_str(o, "\",protocol=\"");
        sink_u64(o, PROTO_VERSION);
        sink_str(o, "\",version=\"");
        prom_label_value(o, p[i].version ? p[i].version : POOLALLOC_VERSION);
        sink_str(o, "\"} 1\n");
    }
    prom_family(o, "poolalloc_", "uptime_seconds", "", "gauge",
                "Seconds since poolalloc started in this process.");
    for (unsigned i = 0; i < n; i++) {
        prom_sample_open(o, "poolalloc_", "uptime_seconds", "", &p[i]);
        sink_str(o, "} ");
        sink_fixed(o, p[i].snap->uptime_ms, 1000, 3);
        sink_str(o, "\n");
    }

#define X(name, kind, doc)                                                                \
    prom_family(o, "poolalloc_", #name, PROM_SUFFIX_##kind, PROM_TYPE_##kind, doc ".");  \
    for (unsigned i = 0; i < n; i++) {                                                    \
        prom_sample_open(o, "poolalloc_", #name, PROM_SUFFIX_##kind, &p[i]);             \
        sink_str(o, "} ");                                                               \
        sink_u64(o, p[i].snap->name);                                                    \
        sink_str(o, "\n");                                                               \
    }
    STATS_PROCESS(X)
#undef X

    /* Per class: object gauges in objects and in bytes, spans, then counters. */
#define X(name, unit, doc)                                                                   \
    prom_family(o, "poolalloc_class_", #name, PROM_CLASS_UNIT_##unit ? "_objects" : "",     \
                "gauge", "Per size class: " doc ".");                                       \
    PROM_EACH_CLASS(#name, PROM_CLASS_UNIT_##unit ? "_objects" : "", k->name)                \
    if (PROM_CLASS_UNIT_##unit) {                                                            \
        prom_family(o, "poolalloc_class_", #name, "_bytes", "gauge",                        \
                    "Per size class: " doc ", in bytes.");                                   \
        PROM_EACH_CLASS(#name, "_bytes", k->name * k->size)                                  \
    }
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc)                                                                       \
    prom_family(o, "poolalloc_class_", #name, "_total", "counter", "Per size class: " doc "."); \
    PROM_EACH_CLASS(#name, "_total", k->ctr.name)
    CACHE_COUNTERS(X)
#undef X

#define X(name, kind, doc)                                                                       \
    prom_family(o, "poolalloc_cpu_", #name, PROM_SUFFIX_##kind, PROM_TYPE_##kind,               \
                "Per CPU cache: " doc ".");                                                     \
    for (unsigned i = 0; i < n; i++)                                                            \
        for (unsigned j = 0; j < p[i].snap->ncpu; j++) {                                        \
            if (prom_cpu_repeated(p[i].snap, j))                                                \
                continue;                                                                       \
            prom_sample_open(o, "poolalloc_cpu_", #name, PROM_SUFFIX_##kind, &p[i]);            \
            sink_str(o, ",cpu=\"");                                                             \
            sink_u64(o, p[i].snap->cpu[j].cpu);                                                 \
            sink_str(o, "\"} ");                                                                \
            sink_u64(o, p[i].snap->cpu[j].name);                                                \
            sink_str(o, "\n");                                                                  \
        }
    STATS_CPU_FIELDS(X)
#undef X
}
#undef PROM_EACH_CLASS

/* ---- text ------------------------------------------------------------------------------ */

void render_text(struct sink *o, const struct stats_snapshot *s, const char *comm)
{
    sink_str(o, "pid ");
    sink_u64(o, s->pid);
    if (comm && *comm) {
        sink_str(o, " (");
        sink_printable(o, comm);
        sink_str(o, ")");
    }
    sink_str(o, ", up ");
    render_duration(o, s->uptime_ms);
    sink_str(o, ", mode ");
    sink_printable(o, s->mode);
    if (s->mode_reason[0]) {
        sink_str(o, " (");
        sink_printable(o, s->mode_reason);
        sink_str(o, ")");
    }
    sink_str(o, ", ");
    sink_u64(o, s->cpus);
    sink_str(o, " CPU caches\nin use ");
    sink_bytes(o, s->in_use_bytes);
    sink_str(o, "; cached ");
    sink_bytes(o, s->local_bytes + s->victim_bytes);
    sink_str(o, " (local ");
    sink_bytes(o, s->local_bytes);
    sink_str(o, ", victim ");
    sink_bytes(o, s->victim_bytes);
    sink_str(o, "); free in spans ");
    sink_bytes(o, s->central_bytes);
    sink_str(o, "\nregion: reserved ");
    sink_bytes(o, s->reserved_bytes);
    sink_str(o, ", committed ");
    sink_bytes(o, s->committed_bytes);
    sink_str(o, ", resident ");
    sink_bytes(o, s->resident_bytes);
    sink_str(o, "; metadata ");
    sink_bytes(o, s->metadata_bytes);
    sink_str(o, "\npass-through ");
    sink_u64(o, s->passthrough_allocs);
    sink_str(o, " allocations (");
    sink_bytes(o, s->passthrough_bytes);
    sink_str(o, "), ");
    sink_u64(o, s->passthrough_frees);
    sink_str(o, " frees; ");
    sink_u64(o, s->flushes);
    sink_str(o, " flushes; returned to the OS ");
    sink_bytes(o, s->returned_bytes);
    sink_str(o, " (");
    sink_u64(o, s->released_spans);
    sink_str(o, " spans); moved between classes ");
    sink_bytes(o, s->moved_bytes);
    sink_str(o, " (");
    sink_u64(o, s->moved_spans);
    sink_str(o, " spans)\n\n");

    /* The table: every column from the X-macros, widths fitted to the name. */
    sink_str(o, "class   size  in_use_B");
#define X(name, unit, doc) sink_strw(o, #name, 9);
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) sink_strw(o, #name, sizeof #name > 10 ? (int)sizeof #name : 10);
    CACHE_COUNTERS(X)
#undef X
    sink_str(o, "\n");
    for (unsigned c = 0; c < SC_COUNT; c++) {
        const struct stats_class *k = &s->cls[c];
        if (!stats_class_active(k))
            continue;
        sink_u64w(o, c, 5);
        sink_u64w(o, k->size, 7);
        sink_u64w(o, k->in_use * k->size, 10);
#define X(name, unit, doc) sink_u64w(o, k->name, 9);
        STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) sink_u64w(o, k->ctr.name, sizeof #name > 10 ? (int)sizeof #name : 10);
        CACHE_COUNTERS(X)
#undef X
        sink_str(o, "\n");
    }
}
