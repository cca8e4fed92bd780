/* SPDX-License-Identifier: MIT */
/* Per-CPU caches and generations: the sync.Pool victim rule, budgets,
 * drops and steals. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
    harness_core(32768, 256 * 1024);
}
TestSuite(cache, .init = setup);

Test(cache, budget_bounds_every_cpu_cache)
{
    for (size_t budget = 0; budget <= (8u << 20); budget = budget * 2 + 4096) {
        cache_init(budget, 32768, 0);
        uint64_t bytes = 0;
        for (unsigned c = 0; c < SC_COUNT; c++) {
            bytes += (uint64_t)cache_cap[c] * sc_size[c];
            cr_assert_leq(cache_cap[c], CACHE_SLOTS_MAX);
            if (sc_size[c] > 32768)
                cr_assert_eq(cache_cap[c], 0, "no room above max_size");
        }
        cr_assert_leq(bytes, budget, "budget %zu, caps hold %lu", budget, (unsigned long)bytes);
    }
}

Test(cache, generation_rule_revive_then_leave)
{
    unsigned cls = sc_of(100);
    /* Generation N: p is freed into this CPU's cache. */
    void *p = cache_alloc(cls);
    cr_assert(p);
    cache_free(cls, p);
    int victim = -1;
    cr_assert(harness_in_caches(cls, p, &victim));
    cr_assert_eq(victim, 0, "freed into local");

    /* Flush: N+1 begins, p is in the victim and can be revived. */
    flush_run();
    cr_assert(harness_in_caches(cls, p, &victim));
    cr_assert_eq(victim, 1, "local became victim");
    uint64_t revived = HARNESS_CTR(cls, alloc_victim);
    /* The local stack is empty, so the next allocation is served from the victim. */
    void *q = cache_alloc(cls);
    cr_assert_eq(q, p, "revived from the victim");
    cr_assert_eq(HARNESS_CTR(cls, alloc_victim), revived + 1);

    /* Freed again in N+1 and left alone through two flushes: gone from
     * every per-CPU pool, back on its span's free list. */
    cache_free(cls, q);
    flush_run();
    cr_assert(harness_in_caches(cls, q, &victim));
    flush_run();
    cr_assert(!harness_in_caches(cls, q, &victim), "still pooled after two flushes");
    cr_assert(harness_in_central(cls, q));
}

/* Fills ~8 MiB of 2000-byte objects, frees them all, then two flushes of
 * the given kind: every span must have gone back to the OS. */
static void idle_memory_goes_back_within_two(size_t (*flush)(void))
{
    unsigned cls = sc_of(2000);
    enum { N = 4000 };
    static void *objs[N];
    for (unsigned i = 0; i < N; i++) {
        objs[i] = cache_alloc(cls);
        cr_assert(objs[i]);
        memset(objs[i], 1, 2000);
    }
    for (unsigned i = 0; i < N; i++)
        cache_free(cls, objs[i]);
    uint64_t returned = 0;
    returned += flush();
    returned += flush();
    struct central *ce = &central_g[cls];
    cr_assert_eq(ce->objs_out, 0);
    cr_assert_eq(ce->spans_live, 0, "every span released");
    cr_assert_geq(returned, (uint64_t)N * 2000 * 9 / 10);
}

Test(cache, idle_memory_goes_back_to_the_os_within_two_flushes)
{
    idle_memory_goes_back_within_two(flush_run);
}

Test(cache, idle_memory_goes_back_to_the_os_within_two_periodic_flushes)
{
    /* The same promise with the flush thread's flush, which keeps a span
     * the program's own frees just emptied for one more period. */
    idle_memory_goes_back_within_two(flush_run_periodic);
}

/* The span holding owned pointer p. */
static struct span *span_of(unsigned cls, const void *p)
{
    return central_span(&central_g[cls], span_slice_offset(p) >> sc_span_shift[cls]);
}

Test(cache, a_span_the_victim_drain_empties_goes_back_at_once)
{
    /* Objects that sat a whole period in a victim are idle: the periodic
     * flush that drains them gives their span back at once, while a span the
     * program's frees emptied in the same period waits. Two classes: one
     * whose drained objects all fit the transfer stack, one where most go
     * straight to their span. */
    const unsigned classes[] = {sc_of(1024), sc_of(32768)};
    struct cpu_cache *cc = cache_create_slow(0);
    cr_assert(cc);
    for (unsigned k = 0; k < 2; k++) {
        unsigned cls = classes[k];
        struct central *ce = &central_g[cls];
        void *idle[64], *busy[64];
        unsigned fresh, got = 0;
        cr_assert_leq(ce->nobjs, 64);
        cr_assert_leq(ce->nobjs, cache_slots[cls], "the victim stack holds a span");
        while (got < 2 * ce->nobjs) {
            void **to = got < ce->nobjs ? idle + got : busy + got - ce->nobjs;
            unsigned want = got < ce->nobjs ? ce->nobjs - got : 2 * ce->nobjs - got;
            got += central_alloc(cls, want, to, CENTRAL_GROW, &fresh);
        }
        struct span *si = span_of(cls, idle[0]), *sb = span_of(cls, busy[0]);
        cr_assert_neq(si, sb);
        for (unsigned i = 0; i < ce->nobjs; i++) {
            cr_assert_eq(span_of(cls, idle[i]), si);
            cr_assert_eq(span_of(cls, busy[i]), sb);
            memset(idle[i], 7, ce->size);
            memset(busy[i], 7, ce->size);
        }
        /* A whole span's objects in CPU 0's victim: freed a generation ago. */
        lock_take(&cc->lock);
        for (unsigned i = 0; i < ce->nobjs; i++)
            cc->cls[cls].vslots[cc->cls[cls].vcount++] = idle[i];
        lock_give(&cc->lock);
        /* And another span emptied by the program during this period. */
        central_free(cls, busy, ce->nobjs);

        size_t bytes = flush_run_periodic();
        cr_assert_eq(si->list, SPAN_RELEASED, "class %u: drained span kept", cls);
        cr_assert_eq(sb->list, SPAN_EMPTY, "class %u: just-emptied span released", cls);
        cr_assert_eq(bytes, (size_t)ce->nobjs * ce->size, "class %u", cls);
        cr_assert_eq(ce->objs_out, 0);
        cr_assert_eq(flush_run_periodic(), (size_t)ce->nobjs * ce->size, "class %u", cls);
        cr_assert_eq(sb->list, SPAN_RELEASED);
        cr_assert_eq(ce->spans_live, 0);
    }
}

Test(cache, full_cache_drops_a_batch_to_central)
{
    /* The largest class that has room in the cache. */
    unsigned cls = SC_COUNT - 1;
    while (cache_slots[cls] < 2)
        cls--;
    /* Misses give a class room up to its stack and no further, so past the
     * stack the frees must drop. */
    uint32_t most = cache_slots[cls];
    void *objs[600];
    unsigned n = most + sc_batch[cls] + 3;
    cr_assert_leq(n, 600);
    for (unsigned i = 0; i < n; i++)
        cr_assert(objs[i] = cache_alloc(cls));
    for (unsigned i = 0; i < n; i++)
        cache_free(cls, objs[i]);
    cr_assert_gt(HARNESS_CTR(cls, drops), 0);
    for (unsigned i = 0; i <= cache_cpu_mask; i++)
        if (cache_cpus[i]) {
            cr_assert_leq(cache_cpus[i]->cls[cls].cap, most, "room beyond the stack");
            cr_assert_leq(cache_cpus[i]->cls[cls].count, cache_cpus[i]->cls[cls].cap,
                          "cache over its cap");
        }
}

/* Sum over classes of cap * size of one CPU's cache, and the bookkeeping of it. */
static uint64_t caps_bytes(const struct cpu_cache *cc)
{
    uint64_t bytes = 0;
    for (unsigned c = 0; c < SC_COUNT; c++)
        bytes += (uint64_t)cc->cls[c].cap * sc_size[c];
    cr_assert_eq(bytes, cc->cap_bytes, "cap_bytes %lu, caps hold %lu",
                 (unsigned long)cc->cap_bytes, (unsigned long)bytes);
    return bytes;
}

Test(cache, a_class_that_misses_grows_within_the_budget)
{
#ifdef POOLALLOC_NO_CALIBRATE
    cr_skip_test("built with fixed capacities");
#endif
    /* Three classes, each far past its starting room: every miss gives its
     * class a batch more, until the stacks or the budget (256 KiB) stop it. */
    unsigned classes[] = {sc_of(64), sc_of(1024), sc_of(8192)};
    static void *objs[4096];
    for (int round = 0; round < 4; round++)
        for (unsigned k = 0; k < 3; k++) {
            unsigned cls = classes[k];
            unsigned n = sizeof objs / sizeof objs[0];
            if ((uint64_t)n * sc_size[cls] > (4u << 20))
                n = (unsigned)((4u << 20) / sc_size[cls]);
            for (unsigned i = 0; i < n; i++)
                cr_assert(objs[i] = cache_alloc(cls));
            for (unsigned i = 0; i < n; i++)
                cache_free(cls, objs[i]);
        }
    uint32_t grown = 0;
    for (unsigned i = 0; i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = cache_cpus[i];
        if (!cc)
            continue;
        cr_assert_leq(caps_bytes(cc), 256 * 1024, "a CPU's caps over the budget");
        if (cc->cls[classes[0]].cap > grown)
            grown = cc->cls[classes[0]].cap;
        for (unsigned k = 0; k < 3; k++)
            cr_assert_leq(cc->cls[classes[k]].cap, cache_slots[classes[k]]);
    }
    cr_assert_gt(grown, cache_cap[classes[0]], "the 64-byte class kept its starting room (%u)",
                 (unsigned)grown);
    /* A generation later the caps are the calibration's, still within the
     * budget and still accounted for. */
    flush_run();
    for (unsigned i = 0; i <= cache_cpu_mask; i++)
        if (cache_cpus[i])
            cr_assert_leq(caps_bytes(cache_cpus[i]), 256 * 1024);
}

Test(cache, empty_cpu_steals_from_another_cpus_victim)
{
    unsigned cls = sc_of(32768);
    struct central *ce = &central_g[cls];
    struct cpu_cache *a = cache_create_slow(0), *b = cache_create_slow(1 & cache_cpu_mask);
    cr_assert(a && b);
    if (a == b)
        cr_skip_test("one CPU slot only");
    /* Fill one span completely, so central has nothing free. */
    void *objs[64];
    unsigned fresh, got = 0;
    while (got < ce->nobjs)
        got += central_alloc(cls, ce->nobjs - got, objs + got, CENTRAL_GROW, &fresh);
    cr_assert_eq(ce->partial, NULL);
    /* CPU b holds three of them in its victim. */
    lock_take(&b->lock);
    for (unsigned i = 0; i < 3; i++)
        b->cls[cls].vslots[b->cls[cls].vcount++] = objs[i];
    lock_give(&b->lock);
    lock_take(&a->lock);
    void *p = cache_refill_locked(a, cls);
    lock_give(&a->lock);
    cr_assert(p == objs[0] || p == objs[1] || p == objs[2]);
    cr_assert_eq(a->cls[cls].ctr.alloc_steal, 1);
    cr_assert_eq(ce->spans_made, 1, "stole instead of growing");
}

Test(cache, reentrant_slow_path_passes_through_instead_of_waiting)
{
    unsigned cls = sc_of(64);
    void *p = cache_alloc(cls);
    cr_assert(p);
    cache_free(cls, p);
    flush_run();
    flush_run();   /* every cache empty: the next allocation needs a slow path */
    /* As a signal handler would see it, interrupting this thread inside the
     * allocator: in RSEQ mode inside a slow path (busy), in LOCKED mode
     * holding its cache's lock. */
    if (cpu_mode == CPU_MODE_RSEQ) {
        cache_tls_busy = 1;
        cr_assert_eq(cache_alloc(cls), NULL, "must pass through, not wait for a lock");
        cache_tls_busy = 0;
    } else {
        void *q = cache_alloc(cls);
        cr_assert(q);
        struct cpu_cache *cc = cache_enter();
        cr_assert(cc);
        cr_assert_eq(cache_alloc(cls), NULL, "must pass through, not wait for its own lock");
        cache_free(cls, q);   /* deferred to central, lock-free */
        cr_assert_neq(atomic_load(&central_g[cls].deferred), NULL);
        cache_leave(cc);
    }
    cr_assert_neq(cache_alloc(cls), NULL);
}

Test(cache, mode_is_the_one_the_platform_allows)
{
    /* GLIBC_TUNABLES=glibc.pthread.rseq=0 (make test runs the unit tests both
     * ways) must give the fallback; otherwise x86-64 gets rseq. */
    const char *t = getenv("GLIBC_TUNABLES");
    int off = t && strstr(t, "glibc.pthread.rseq=0");
    cr_log_info("mode %s %s", cpu_mode_name(), cpu_fallback_reason);
    if (off || !CPU_HAVE_RSEQ)
        cr_assert_eq(cpu_mode, CPU_MODE_LOCKED);
    else
        cr_assert_eq(cpu_mode, CPU_MODE_RSEQ, "fallback because: %s", cpu_fallback_reason);
}

static uint64_t cap_sum(unsigned cls)
{
    uint64_t t = 0;
    for (unsigned i = 0; i <= cache_cpu_mask; i++)
        if (cache_cpus[i])
            t += cache_cpus[i]->cls[cls].cap;
    return t;
}

static void assert_every_cpu_within_budget(size_t budget)
{
    for (unsigned i = 0; i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = cache_cpus[i];
        if (!cc)
            continue;
        uint64_t bytes = 0;
        for (unsigned c = 0; c < SC_COUNT; c++) {
            bytes += (uint64_t)cc->cls[c].cap * sc_size[c];
            cr_assert_leq(cc->cls[c].cap, cache_slots[c], "cap beyond the stack");
        }
        cr_assert_leq(bytes, budget, "cpu %u caps hold %lu bytes", i, (unsigned long)bytes);
    }
}

Test(cache, calibration_grows_missing_classes_and_shrinks_idle_ones)
{
    unsigned busy = sc_of(256), idle = sc_of(64);
    enum { N = 2000 };
    static void *objs[N];
    /* Touch the idle class once so that every CPU cache exists with it. */
    void *q = cache_alloc(idle);
    cache_free(idle, q);
    flush_run();
    uint64_t idle_before = cap_sum(idle), busy_before = cap_sum(busy);
    for (int gen = 0; gen < 4; gen++) {
        /* Far more than fits: underflows on the way up, overflows on the way down. */
        for (unsigned i = 0; i < N; i++)
            cr_assert(objs[i] = cache_alloc(busy));
        for (unsigned i = 0; i < N; i++)
            cache_free(busy, objs[i]);
        flush_run();
        assert_every_cpu_within_budget(256 * 1024);
    }
    cr_log_info("busy class cap %lu -> %lu, idle %lu -> %lu", (unsigned long)busy_before,
                (unsigned long)cap_sum(busy), (unsigned long)idle_before,
                (unsigned long)cap_sum(idle));
#ifndef POOLALLOC_NO_CALIBRATE
    cr_assert_gt(cap_sum(busy), busy_before, "a class that keeps missing must grow");
    cr_assert_lt(cap_sum(idle), idle_before, "a class with no traffic must shrink");
#endif
    cr_assert_gt(HARNESS_CTR(busy, underflows), 0);
    cr_assert_gt(HARNESS_CTR(busy, overflows), 0);
}

Test(cache, a_class_with_traffic_keeps_a_batch_when_a_hot_class_takes_the_budget)
{
#ifdef POOLALLOC_NO_CALIBRATE
    cr_skip_test("built with fixed capacities");
#endif
    /* A 4 KiB class missing all the time wants the whole budget (256 KiB);
     * a 16-byte class with a little traffic is "not hot" and gives up room
     * at every flush, but must keep some: at 0 every one of its frees would
     * go to central. */
    unsigned busy = sc_of(4096), quiet = sc_of(16);
    static void *objs[300];
    flush_run();
    /* Generations in which the busy class misses (it doubles at each flush,
     * until its room is the whole budget) and the quiet one has a little
     * traffic (so it is "not hot" and pays for the growth). */
    for (int gen = 0; gen < 10; gen++) {
        for (int round = 0; round < 4; round++) {
            for (unsigned i = 0; i < 300; i++)
                cr_assert(objs[i] = cache_alloc(busy));
            for (unsigned i = 0; i < 300; i++)
                cache_free(busy, objs[i]);
        }
        for (unsigned i = 0; i < 10; i++) {
            void *p = cache_alloc(quiet);
            cr_assert(p);
            cache_free(quiet, p);
        }
        flush_run();
    }
    unsigned seen = 0;
    for (unsigned i = 0; i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = cache_cpus[i];
        if (!cc || !cc->cls[quiet].ctr.frees)
            continue;
        seen++;
        cr_assert_gt(cc->cls[quiet].cap, 0, "a class with traffic lost all its room");
        cr_assert_leq(caps_bytes(cc), 256 * 1024);
    }
    cr_assert_gt(seen, 0);
}

Test(cache, a_free_then_alloc_loop_reuses_objects)
{
    /* Every free must really land somewhere: a long ping-pong keeps the number
     * of objects out of the spans at a few, not one per iteration. */
    unsigned cls = sc_of(32);
    for (unsigned i = 0; i < 200000; i++) {
        void *p = cache_alloc(cls);
        cr_assert(p);
        cache_free(cls, p);
    }
    cr_assert_lt(central_g[cls].objs_out, 4u * CACHE_SLOTS_MAX, "%lu objects out",
                 (unsigned long)central_g[cls].objs_out);
    cr_assert_geq(HARNESS_CTR(cls, frees), 200000);
}
