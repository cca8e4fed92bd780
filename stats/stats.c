/* stats.c - snapshot and pass-through counters (see stats.h). */
#include "stats.h"

#include <stdatomic.h>
#include <unistd.h>

#include "../core/cache.h"
#include "../core/central.h"
#include "../core/cpu.h"
#include "../core/flush.h"
#include "../core/meta.h"
#include "../core/region.h"

#define STATS_SLOTS 16

static struct {
    atomic_uint_least64_t allocs, bytes, frees;
} PA_ALIGNED stats_pass[STATS_SLOTS];

static inline unsigned slot(void)
{
    return cpu_current() & (STATS_SLOTS - 1);
}

void stats_passthrough_alloc(uint64_t n)
{
    unsigned i = slot();
    atomic_fetch_add_explicit(&stats_pass[i].allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stats_pass[i].bytes, n, memory_order_relaxed);
}

void stats_passthrough_free(void)
{
    atomic_fetch_add_explicit(&stats_pass[slot()].frees, 1, memory_order_relaxed);
}

void stats_snapshot(struct stats_snapshot *s)
{
    *s = (struct stats_snapshot){0};
    s->pid = (uint64_t)getpid();
    s->mode = cpu_mode_name();
    for (unsigned i = 0; i < STATS_SLOTS; i++) {
        s->passthrough_allocs += atomic_load_explicit(&stats_pass[i].allocs, memory_order_relaxed);
        s->passthrough_bytes += atomic_load_explicit(&stats_pass[i].bytes, memory_order_relaxed);
        s->passthrough_frees += atomic_load_explicit(&stats_pass[i].frees, memory_order_relaxed);
    }
    struct flush_totals ft;
    flush_totals(&ft);
    s->flushes = ft.generations;
    s->returned_bytes = ft.returned_bytes;
    s->reserved_bytes = region_g.size;
    s->metadata_bytes = meta_mapped();

    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct central *ce = &central_g[c];
        struct stats_class *k = &s->cls[c];
        k->size = sc_size[c];
        k->cap = cache_cap[c];
        k->spans = __atomic_load_n(&ce->spans_live, __ATOMIC_RELAXED);
        k->in_use = __atomic_load_n(&ce->objs_out, __ATOMIC_RELAXED);
        /* Free objects in spans not released, touched or not yet. */
        uint64_t room = k->spans * ce->nobjs;
        k->central = room > k->in_use ? room - k->in_use : 0;
        s->released_spans += __atomic_load_n(&ce->releases, __ATOMIC_RELAXED);
    }
    if (!cache_cpus)
        return;
    for (unsigned i = 0; i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = __atomic_load_n(&cache_cpus[i], __ATOMIC_ACQUIRE);
        if (!cc)
            continue;
        s->cpus++;
        for (unsigned c = 0; c < SC_COUNT; c++) {
            struct stats_class *k = &s->cls[c];
            k->local += __atomic_load_n(&cc->cls[c].count, __ATOMIC_RELAXED);
            k->victim += __atomic_load_n(&cc->cls[c].vcount, __ATOMIC_RELAXED);
#define X(name, doc) k->ctr.name += __atomic_load_n(&cc->cls[c].ctr.name, __ATOMIC_RELAXED);
            CACHE_COUNTERS(X)
#undef X
        }
    }
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct stats_class *k = &s->cls[c];
        uint64_t cached = k->local + k->victim;
        k->in_use = k->in_use > cached ? k->in_use - cached : 0;
    }
}
