/* SPDX-License-Identifier: MIT */
/* calibrate.c - the caps of the per-CPU caches (see calibrate.h, and the
 * rules in cache.h). */
#include "calibrate.h"

#include "central.h"

static size_t cache_budget;

/* Water-filling: every active class gets an equal share of the budget in
 * bytes, capped at CACHE_SLOTS_MAX objects; what capped classes leave is
 * shared again among the others. Small classes end at the slot cap, big ones
 * get what remains, rarely more than a few objects. */
static void share_budget(size_t budget, size_t max_size)
{
    int settled[SC_COUNT] = {0};
    unsigned active = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cache_cap[c] = 0;
        if (central_g[c].spans_max && sc_size[c] <= max_size)
            active++;
        else
            settled[c] = 1;
    }
    size_t left = budget;
    for (int changed = 1; changed && active;) {
        changed = 0;
        size_t share = left / active;
        for (unsigned c = 0; c < SC_COUNT; c++) {
            if (!settled[c] && share / sc_size[c] >= CACHE_SLOTS_MAX) {
                cache_cap[c] = CACHE_SLOTS_MAX;
                left -= (size_t)CACHE_SLOTS_MAX * sc_size[c];
                settled[c] = 1;
                active--;
                changed = 1;
            }
        }
    }
    if (active) {
        size_t share = left / active;
        for (unsigned c = 0; c < SC_COUNT; c++)
            if (!settled[c])
                cache_cap[c] = (uint32_t)(share / sc_size[c]);
    }
}

void cache_calibrate_init(size_t budget, size_t max_size)
{
    share_budget(budget, max_size);
    cache_budget = budget;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        size_t most = central_g[c].spans_max && sc_size[c] <= max_size ? budget / sc_size[c] : 0;
        cache_slots[c] = (uint32_t)(most < CACHE_SLOTS_MAX ? most : CACHE_SLOTS_MAX);
#ifndef POOLALLOC_NO_CALIBRATE
        /* Calibrated: at most two batches to start with, then room where the
         * misses are (cache_grow), instead of an even share of the budget
         * for small classes the program may never use, which would take the
         * room first. */
        if (cache_cap[c] > 2u * sc_batch[c])
            cache_cap[c] = 2u * sc_batch[c];
#endif
    }
}

#ifndef POOLALLOC_NO_CALIBRATE
/* The room one more batch of class cls would take in bytes, 0 if its stack
 * is full already. */
static uint64_t growth(const struct cache_class *cl, unsigned cls, uint32_t *want)
{
    uint32_t cap = __atomic_load_n(&cl->cap, __ATOMIC_RELAXED), most = cache_slots[cls];
    if (cap >= most)
        return 0;
    *want = most - cap > sc_batch[cls] ? cap + sc_batch[cls] : most;
    return (uint64_t)(*want - cap) * sc_size[cls];
}

int cache_grow_locked(struct cpu_cache *cc, unsigned cls)
{
    struct cache_class *cl = &cc->cls[cls];
    uint32_t want;
    uint64_t more = growth(cl, cls, &want);
    if (!more || cc->cap_bytes + more > cache_budget)
        return 0;
    __atomic_store_n(&cc->cap_bytes, cc->cap_bytes + more, __ATOMIC_RELAXED);
    /* Room for it first (the CPU stopped for a move to the big stack);
     * then the cap, only ever raised outside the flush: a sequence that
     * read the old cap just misses once more. */
    cache_stack_fit(cc, cls, want, 0);
    __atomic_store_n(&cl->cap, want, __ATOMIC_RELAXED);
    PA_ASSERT(cc->cap_bytes <= cache_budget && want <= cache_slots[cls],
              "cache: sum of cap * size <= budget, cap <= cache_slots");
    return 1;
}

int cache_grow(struct cpu_cache *cc, unsigned cls)
{
    /* The common case once a CPU's caps fill its budget: no room, seen
     * without taking the lock. */
    uint32_t want;
    uint64_t more = growth(&cc->cls[cls], cls, &want);
    if (!more || __atomic_load_n(&cc->cap_bytes, __ATOMIC_RELAXED) + more > cache_budget ||
        !lock_try(&cc->lock))
        return 0;
    int grown = cache_grow_locked(cc, cls);
    lock_give(&cc->lock);
    return grown;
}

/* Resizes the caps of one CPU for the next generation (see cache.h). Runs
 * with local empty, so any cap <= cache_slots is safe to set.
 *
 * bytebufferpool's calibrate() keeps the sizes most calls use. Here a class is
 * "hot" when it had at least half the average traffic (frees) of the classes
 * in use last generation. A hot class that missed (underflow or overflow)
 * doubles; a class without traffic decays by a quarter; the rest keep their
 * room. Growth that does not fit the budget is paid for by the classes that
 * are not hot, halving, worst first (ranked by frees per byte of a batch:
 * room in the cache costs bytes, and a batch is what one miss moves); only
 * then does everyone shrink in proportion, and a class that had traffic
 * keeps one batch until then. With an even mix of classes every class is
 * hot and nothing moves. */
void cache_calibrate(struct cpu_cache *cc)
{
    uint32_t want[SC_COUNT];
    uint64_t traffic[SC_COUNT], missed[SC_COUNT];
    double rank[SC_COUNT];
    unsigned order[SC_COUNT] = {0}, n = 0;
    uint64_t traffic_total = 0, used = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct cache_class *cl = &cc->cls[c];
        uint64_t misses = __atomic_load_n(&cl->ctr.underflows, __ATOMIC_RELAXED) +
                          __atomic_load_n(&cl->ctr.overflows, __ATOMIC_RELAXED);
        uint64_t frees = __atomic_load_n(&cl->ctr.frees, __ATOMIC_RELAXED);
        missed[c] = misses - cl->seen_misses;
        traffic[c] = frees - cl->seen_frees;
        cl->seen_misses = misses;
        cl->seen_frees = frees;
        rank[c] = (double)traffic[c] / ((double)sc_batch[c] * sc_size[c]);
        want[c] = cl->cap;
        if (!traffic[c])
            want[c] -= want[c] / 4;
        traffic_total += traffic[c];
        used += traffic[c] != 0;
        /* Insertion sort by rank, descending: 52 entries at most. */
        unsigned k = n++;
        while (k && rank[order[k - 1]] < rank[c]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = c;
    }
    int hot[SC_COUNT] = {0};
    for (unsigned c = 0; c < SC_COUNT; c++) {
        hot[c] = traffic[c] && traffic[c] * used * 2 >= traffic_total;
        /* Grow only where misses moved a good part (>= 1/4) of the traffic. */
        if (hot[c] && missed[c] * sc_batch[c] * 4 >= traffic[c]) {
            uint32_t grown = want[c] > sc_batch[c] ? 2 * want[c] : 2 * sc_batch[c];
            want[c] = grown < cache_slots[c] ? grown : cache_slots[c];
        }
    }
    uint64_t total = 0;
    for (unsigned c = 0; c < SC_COUNT; c++)
        total += (uint64_t)want[c] * sc_size[c];
    /* Over budget: the worst-ranked classes that are not hot give up room
     * first, halving, but one that had traffic keeps a batch: at 0 every one
     * of its frees would go to central (in a uniform mix of sizes the small
     * classes fall below half the average traffic). */
    for (int round = 0; round < 8 && total > cache_budget; round++)
        for (unsigned k = n; k-- > 0 && total > cache_budget;) {
            unsigned c = order[k];
            uint32_t keep = !traffic[c] ? 0 : want[c] < sc_batch[c] ? want[c] : sc_batch[c];
            if (!hot[c] && want[c] > keep) {
                uint32_t half = want[c] / 2 > keep ? want[c] / 2 : keep;
                total -= (uint64_t)(want[c] - half) * sc_size[c];
                want[c] = half;
            }
        }
    if (total > cache_budget)
        for (unsigned c = 0; c < SC_COUNT; c++)
            want[c] = (uint32_t)((uint64_t)want[c] * cache_budget / total);
    uint64_t bytes = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        PA_ASSERT(want[c] <= cache_slots[c] && !cc->cls[c].count,
                  "cache: cap <= cache_slots, set with local empty");
        cache_stack_fit(cc, c, want[c], 1);   /* the flush has the CPU stopped */
        cc->cls[c].cap = want[c];
        bytes += (uint64_t)want[c] * sc_size[c];
    }
    PA_ASSERT(bytes <= cache_budget, "cache: sum of cap * size <= budget");
    __atomic_store_n(&cc->cap_bytes, bytes, __ATOMIC_RELAXED);
}
#else
int cache_grow_locked(struct cpu_cache *cc, unsigned cls)
{
    (void)cc, (void)cls;
    return 0;
}

int cache_grow(struct cpu_cache *cc, unsigned cls)
{
    (void)cc, (void)cls;
    return 0;
}

void cache_calibrate(struct cpu_cache *cc)
{
    (void)cc;
}
#endif
