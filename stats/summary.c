/* SPDX-License-Identifier: MIT */
/* summary.c - the POOLALLOC_STATS=1 report at exit (see stats.h). */
#include "stats.h"

#include <sys/mman.h>

#include "../core/core.h"
#include "../core/log.h"
#include "../include/poolalloc.h"

static void mib(struct logbuf *b, uint64_t bytes)
{
    log_fixed1(b, bytes, 1024 * 1024);
    log_str(b, " MiB");
}

/* ---- the per-class table, generated from stats.h and counters.h ---------------------------- */

/* The table's columns are the X-macro lists themselves (class, size, every
 * gauge of STATS_CLASS_GAUGES with in_use_KiB after in_use, every counter of
 * CACHE_COUNTERS), so a figure declared there cannot be left out of it. A
 * column's width is its own below, or fits its header; a counter's header
 * drops the "alloc_" its name starts with. */
static const struct {
    const char *name;
    int width;
} col_width[] = {
    {"class", 5},   {"size", 7},         {"in_use", 9},       {"in_use_KiB", 12},
    {"local", 7},   {"victim", 7},       {"central", 8},      {"spans", 6},
    {"cap", 6},     {"alloc_cache", 11}, {"alloc_victim", 9}, {"alloc_central", 9},
    {"alloc_steal", 8}, {"alloc_new", 9}, {"frees", 10},      {"drops", 9},
};

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static int same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static const char *label(const char *name)
{
    const char *p = "alloc_", *q = name;
    while (*p && *p == *q)
        p++, q++;
    return *p ? name : q;
}

static int width(const char *name)
{
    for (size_t i = 0; i < sizeof col_width / sizeof col_width[0]; i++)
        if (same(name, col_width[i].name))
            return col_width[i].width;
    return (int)slen(label(name)) + 2;
}

static void head(struct logbuf *b, const char *name)
{
    const char *l = label(name);
    for (int n = (int)slen(l); n < width(name); n++)
        log_mem(b, " ", 1);
    log_str(b, l);
}

static void cell(struct logbuf *b, const char *name, uint64_t v)
{
    log_u64w(b, v, width(name));
}

static void gauge(struct logbuf *b, const char *name, uint64_t v, uint64_t size)
{
    cell(b, name, v);
    if (same(name, "in_use"))
        cell(b, "in_use_KiB", v * size / 1024);
}

static void table_head(struct logbuf *b)
{
    head(b, "class");
    head(b, "size");
#define X(name, unit, doc)                                                                      \
    head(b, #name);                                                                             \
    if (same(#name, "in_use"))                                                                  \
        head(b, "in_use_KiB");
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) head(b, #name);
    CACHE_COUNTERS(X)
#undef X
    log_str(b, "\n");
}

static void table_row(struct logbuf *b, unsigned c, const struct stats_class *k)
{
    cell(b, "class", c);
    cell(b, "size", k->size);
#define X(name, unit, doc) gauge(b, #name, k->name, k->size);
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) cell(b, #name, k->ctr.name);
    CACHE_COUNTERS(X)
#undef X
    log_str(b, "\n");
}

static int is_alloc(const char *name)
{
    return label(name) != name;
}

/* Allocations of every kind: the counters named alloc_*. */
static uint64_t allocs(const struct stats_class *k)
{
    uint64_t n = 0;
#define X(name, doc) n += is_alloc(#name) ? k->ctr.name : 0;
    CACHE_COUNTERS(X)
#undef X
    return n;
}

void stats_print_summary(int fd)
{
    /* The snapshot (64 KiB, much for an exiting or a caller's stack) in pages
     * of its own: malloc_stats() may print it from any thread, the exit from
     * another, with no lock that a fork could leave held in a child. */
    struct stats_snapshot *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct logbuf b = {0};
    if (s == MAP_FAILED) {
        log_str(&b, "poolalloc: no summary: no memory for its snapshot\n");
        log_flush(&b, fd);
        return;
    }
    stats_snapshot(s);

    log_str(&b, "poolalloc: summary for pid ");
    log_u64(&b, s->pid);
    log_str(&b, " (poolalloc " POOLALLOC_VERSION "): mode ");
    log_str(&b, s->mode);
    log_str(&b, ", ");
    log_u64(&b, s->cpus);
    log_str(&b, " cpu caches, max_size ");
    log_u64(&b, core_cfg.max_size);
    log_str(&b, ", flush ");
    log_u64(&b, core_cfg.flush_ms);
    log_str(&b, " ms, cpu_cache ");
    log_u64(&b, core_cfg.cpu_cache);
    log_str(&b, "\n");
    table_head(&b);
    log_flush(&b, fd);

    uint64_t use_b = 0, local_b = 0, victim_b = 0, central_b = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        const struct stats_class *k = &s->cls[c];
        use_b += k->in_use * k->size;
        local_b += k->local * k->size;
        victim_b += k->victim * k->size;
        central_b += k->central * k->size;
        if (!allocs(k) && !k->in_use && !k->spans)
            continue;
        table_row(&b, c, k);
        log_flush(&b, fd);
    }
    log_str(&b, "poolalloc: in use ");
    mib(&b, use_b);
    log_str(&b, "; cached local ");
    mib(&b, local_b);
    log_str(&b, ", victim ");
    mib(&b, victim_b);
    log_str(&b, ", central ");
    mib(&b, central_b);
    log_str(&b, "\npoolalloc: pass-through ");
    log_u64(&b, s->passthrough_allocs);
    log_str(&b, " allocations (");
    mib(&b, s->passthrough_bytes);
    log_str(&b, "), ");
    log_u64(&b, s->passthrough_frees);
    log_str(&b, " frees; ");
    log_u64(&b, s->flushes);
    log_str(&b, " flushes; returned to the OS ");
    mib(&b, s->returned_bytes);
    log_str(&b, " (");
    log_u64(&b, s->released_spans);
    log_str(&b, " spans); moved between classes ");
    mib(&b, s->moved_bytes);
    log_str(&b, " (");
    log_u64(&b, s->moved_spans);
    log_str(&b, " spans); reserved ");
    log_u64(&b, s->reserved_bytes >> 30);
    log_str(&b, " GiB; metadata ");
    mib(&b, s->metadata_bytes);
    log_str(&b, "\n");
    log_flush(&b, fd);
    munmap(s, sizeof *s);
}
