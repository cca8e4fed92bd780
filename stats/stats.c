/* SPDX-License-Identifier: MIT */
/* stats.c - snapshot and pass-through counters (see stats.h). */
#include "stats.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
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
} PA_ALIGNED stats_pass[STATS_SLOTS] PA_FORKPAGE;   /* written by every pass-through */

static inline unsigned slot(void)
{
    return cpu_current() & (STATS_SLOTS - 1);
}

/* Plain load-add-store on this CPU's slot, not an atomic add: two locked
 * adds cost a realloc loop a third of its time. Two threads on one CPU lose
 * an update only when one is preempted between the load and the store, so
 * the pass-through figures are approximate (low by those rare races). */
static inline void bump(atomic_uint_least64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void stats_passthrough_alloc(uint64_t n)
{
    unsigned i = slot();
    bump(&stats_pass[i].allocs, 1);
    bump(&stats_pass[i].bytes, n);
}

void stats_passthrough_free(void)
{
    bump(&stats_pass[slot()].frees, 1);
}

static uint64_t stats_t0_ns PA_FORKPAGE;   /* written again by a fork child */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void stats_mark_start(void)
{
    __atomic_store_n(&stats_t0_ns, now_ns(), __ATOMIC_RELAXED);
}

/* Resident bytes of [p, p+len) (page aligned), by mincore() in steps of a
 * stack-sized vector. Pages given back with MADV_DONTNEED count as absent. */
static uint64_t resident(char *p, size_t len)
{
    unsigned char vec[1024];
    uint64_t bytes = 0;
    while (len) {
        size_t step = len < sizeof vec * PA_PAGE ? len : sizeof vec * PA_PAGE;
        if (mincore(p, step, vec) == 0)
            for (size_t i = 0; i < step / PA_PAGE; i++)
                bytes += (vec[i] & 1) ? PA_PAGE : 0;
        p += step;
        len -= step;
    }
    return bytes;
}

static void (*stats_libc_reader)(uint64_t *in_use, uint64_t *free_bytes);

void stats_set_libc_reader(void (*read)(uint64_t *in_use, uint64_t *free_bytes))
{
    __atomic_store_n(&stats_libc_reader, read, __ATOMIC_RELEASE);
}

void stats_snapshot(struct stats_snapshot *s)
{
    memset(s, 0, sizeof *s);   /* not a compound literal: at -O0 that is a 64 KiB copy on a small stack */
    s->pid = (uint64_t)getpid();
    uint64_t t0 = __atomic_load_n(&stats_t0_ns, __ATOMIC_RELAXED);
    s->uptime_ms = t0 ? (now_ns() - t0) / 1000000u : 0;
    pa_copy_str(s->mode, sizeof s->mode, cpu_mode_name());
    pa_copy_str(s->mode_reason, sizeof s->mode_reason, cpu_fallback_reason);
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
    void (*libc)(uint64_t *, uint64_t *) = __atomic_load_n(&stats_libc_reader, __ATOMIC_ACQUIRE);
    if (libc)
        libc(&s->libc_in_use_bytes, &s->libc_free_bytes);

    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct central *ce = &central_g[c];
        struct stats_class *k = &s->cls[c];
        k->size = sc_size[c];
        k->cap = 0;   /* summed over CPUs below: each CPU calibrates its own */
        k->spans = __atomic_load_n(&ce->spans_live, __ATOMIC_RELAXED);
        k->in_use = __atomic_load_n(&ce->objs_out, __ATOMIC_RELAXED);
        /* Free objects in spans not released, touched or not yet. */
        uint64_t room = k->spans * ce->nobjs;
        k->central = room > k->in_use ? room - k->in_use : 0;
        /* The transfer stack: out of the spans, but free. */
        uint64_t xfer = __atomic_load_n(&ce->xfer_count, __ATOMIC_RELAXED);
        k->central += xfer;
        k->in_use = k->in_use > xfer ? k->in_use - xfer : 0;
        s->released_spans += __atomic_load_n(&ce->releases, __ATOMIC_RELAXED);
        s->moved_spans += __atomic_load_n(&ce->moves_out, __ATOMIC_RELAXED);
        s->moved_bytes += __atomic_load_n(&ce->moved_bytes, __ATOMIC_RELAXED);
        /* Spans are taken in order from the class's first (its colour,
         * region.h): spans_made of them have been made writable. */
        uint64_t made = __atomic_load_n(&ce->spans_made, __ATOMIC_RELAXED);
        size_t span = (size_t)1 << sc_span_shift[c];
        if (made && region_g.size) {
            s->committed_bytes += made * span;
            s->resident_bytes +=
                resident(region_slice(c) + (size_t)central_g[c].first * span, made * span);
        }
        s->metadata_bytes += __atomic_load_n(&ce->meta_committed, __ATOMIC_RELAXED);
    }
    if (cache_cpus) {
        for (unsigned i = 0; i <= cache_cpu_mask; i++) {
            struct cpu_cache *cc = __atomic_load_n(&cache_cpus[i], __ATOMIC_ACQUIRE);
            if (!cc)
                continue;
            struct stats_cpu one = {.cpu = i};
            s->cpus++;
            for (unsigned c = 0; c < SC_COUNT; c++) {
                struct stats_class *k = &s->cls[c];
                struct cache_counters n = {0};
                uint64_t local = __atomic_load_n(&cc->cls[c].count, __ATOMIC_RELAXED);
                uint64_t victim = __atomic_load_n(&cc->cls[c].vcount, __ATOMIC_RELAXED);
#define X(name, doc) n.name = __atomic_load_n(&cc->cls[c].ctr.name, __ATOMIC_RELAXED);
                CACHE_COUNTERS(X)
#undef X
#define X(name, doc) k->ctr.name += n.name;
                CACHE_COUNTERS(X)
#undef X
                k->local += local;
                k->victim += victim;
                k->cap += __atomic_load_n(&cc->cls[c].cap, __ATOMIC_RELAXED);
                one.local_bytes += local * sc_size[c];
                one.victim_bytes += victim * sc_size[c];
                one.allocs += n.alloc_cache + n.alloc_victim + n.alloc_central + n.alloc_steal +
                              n.alloc_new;
                one.frees += n.frees;
                one.drops += n.drops;
            }
            one.flushes = __atomic_load_n(&cc->flushes, __ATOMIC_RELAXED);
            if (s->ncpu < STATS_CPU_MAX)
                s->cpu[s->ncpu++] = one;
        }
    }
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct stats_class *k = &s->cls[c];
        uint64_t cached = k->local + k->victim;
        k->in_use = k->in_use > cached ? k->in_use - cached : 0;
        s->in_use_bytes += k->in_use * k->size;
        s->local_bytes += k->local * k->size;
        s->victim_bytes += k->victim * k->size;
        s->central_bytes += k->central * k->size;
    }
}
