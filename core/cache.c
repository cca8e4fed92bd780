/* SPDX-License-Identifier: MIT */
/* cache.c - the slow paths of the per-CPU caches (see cache.h). */
#include "cache.h"
#include "cache_slow.h"

#include <stdatomic.h>

#include "meta.h"

struct cpu_cache **cache_cpus;
struct cache_class **cache_fast;
struct cpu_cache cache_parked;
ptrdiff_t cache_rseq_off;
unsigned cache_cpu_mask;
uint32_t cache_cap[SC_COUNT];
uint32_t cache_slots[SC_COUNT];
static size_t cache_budget;
__thread int cache_tls_busy __attribute__((tls_model("initial-exec")));
__thread int cache_tls_libc __attribute__((tls_model("initial-exec")));
__thread int cache_tls_refused __attribute__((tls_model("initial-exec")));
__thread int cache_tls_guarded __attribute__((tls_model("initial-exec")));
int cache_fork_pending, cache_libc_slow;
__thread struct cpu_cache *cache_tls_home __attribute__((tls_model("initial-exec")));

unsigned cache_nslots;
static pa_lock cache_create_lock;


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

int cache_init(size_t budget, size_t max_size)
{
    share_budget(budget, max_size);
    cache_budget = budget;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        size_t most = central_g[c].spans_max && sc_size[c] <= max_size ? budget / sc_size[c] : 0;
        cache_slots[c] = (uint32_t)(most < CACHE_SLOTS_MAX ? most : CACHE_SLOTS_MAX);
#ifndef POOLALLOC_NO_CALIBRATE
        /* Calibrated: at most two batches to start with, then room where the
         * misses are (cache_grow), instead of an even share of the budget
         * for small classes the program may never use. (Starting every
         * class at 4 KiB at most leaves more of the budget to grow into:
         * random 8..32 KiB blocks ran in 26 ns instead of 45, but the skewed
         * mix lost 10 %, its rare sizes taking the room first.) */
        if (cache_cap[c] > 2u * sc_batch[c])
            cache_cap[c] = 2u * sc_batch[c];
#endif
    }
    unsigned n = cpu_possible();
    unsigned slots = 1;
    while (slots < n)
        slots <<= 1;
    cache_cpus = meta_alloc(slots * sizeof(struct cpu_cache *));
    cache_fast = meta_alloc(slots * sizeof(struct cache_class *));
    if (!cache_cpus || !cache_fast)
        return -1;
    for (unsigned i = 0; i < slots; i++)
        cache_fast[i] = cache_parked.cls;
    cache_nslots = slots;
    cache_cpu_mask = slots - 1;
    cache_rseq_off = cpu_mode == CPU_MODE_RSEQ ? cpu_rseq_offset : 0;
    return 0;
}

struct cpu_cache *cache_create_slow(unsigned cpu)
{
    if (lock_mine(&cache_create_lock))
        return NULL;   /* a signal handler interrupted this very function */
    lock_take(&cache_create_lock);
    struct cpu_cache *cc = cache_cpus[cpu];
    if (cc)
        goto out;
    size_t slots = 0;
    for (unsigned c = 0; c < SC_COUNT; c++)
        slots += 2 * (size_t)cache_slots[c] + 2;
    cc = meta_alloc(sizeof *cc + slots * sizeof(void *));
    if (!cc)
        goto out;
    cc->cpu = cpu;
    void **slot = (void **)(cc + 1);
    /* Each stack has a NULL below its bottom: the push compares p with the
     * slot under the count (the top) without testing for an empty stack. */
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cc->cls[c].cap = cache_cap[c];
        cc->cap_bytes += (uint64_t)cache_cap[c] * sc_size[c];
        *slot++ = NULL;
        cc->cls[c].slots = slot;
        slot += cache_slots[c];
        *slot++ = NULL;
        cc->cls[c].vslots = slot;
        slot += cache_slots[c];
    }
    /* Published fully built: readers load the pointer without the lock. */
    __atomic_store_n(&cache_cpus[cpu], cc, __ATOMIC_RELEASE);
    __atomic_store_n(&cache_fast[cpu], cc->cls, __ATOMIC_RELEASE);
out:
    lock_give(&cache_create_lock);
    return cc;
}

/* Up to `want` objects from another CPU's victim. Never waits for its lock:
 * two CPUs stealing from each other would otherwise deadlock. */
unsigned cache_steal(unsigned self, unsigned cls, void **out, unsigned want)
{
    for (unsigned i = 1; i < cache_nslots; i++) {
        struct cpu_cache *o =
            __atomic_load_n(&cache_cpus[(self + i) & cache_cpu_mask], __ATOMIC_ACQUIRE);
        if (!o || !__atomic_load_n(&o->cls[cls].vcount, __ATOMIC_RELAXED) || !lock_try(&o->lock))
            continue;
        struct cache_class *ocl = &o->cls[cls];
        unsigned n = ocl->vcount < want ? ocl->vcount : want;
        for (unsigned k = 0; k < n; k++)
            out[k] = ocl->vslots[ocl->vcount - 1 - k];
        /* Atomic stores of vcount: steal() reads it as a hint without the lock. */
        __atomic_store_n(&ocl->vcount, ocl->vcount - n, __ATOMIC_RELAXED);
        lock_give(&o->lock);
        if (n)
            return n;
    }
    return 0;
}

/* Pops one object off the victim stack of cl, under cc's lock; NULL if empty. */
void *cache_victim_pop(struct cache_class *cl)
{
    if (!cl->vcount)
        return NULL;
    __atomic_store_n(&cl->vcount, cl->vcount - 1, __ATOMIC_RELAXED);
    CTR_ADD(cl, alloc_victim, 1);
    return cl->vslots[cl->vcount];
}

/* Objects for an empty cache, after the victim: a batch from central, else
 * another CPU's victim, else a new span. Counts the source in cl. Returns how
 * many are in buf (0: out of memory). */
unsigned cache_refill(struct cpu_cache *cc, unsigned cls, void **buf)
{
    struct cache_class *cl = &cc->cls[cls];

    /* One object for the caller plus up to a batch for the cache, never
     * more than the cache can take (cap may be 0 for a big class). */
    unsigned want = sc_batch[cls] < cl->cap ? sc_batch[cls] : cl->cap;
    want += 1;
    unsigned fresh = 0;
    unsigned got = central_alloc(cls, want, buf, CENTRAL_EXISTING, &fresh);
    if (got) {
        /* buf[0] is a reused object unless every one is fresh. */
        if (got == fresh)
            CTR_ADD(cl, alloc_new, 1);
        else
            CTR_ADD(cl, alloc_central, 1);
    } else if ((got = cache_steal(cc->cpu, cls, buf, want)) != 0) {
        CTR_ADD(cl, alloc_steal, 1);
    } else if ((got = central_alloc(cls, want, buf, CENTRAL_GROW, &fresh)) != 0) {
        CTR_ADD(cl, alloc_new, 1);
    }
    return got;
}


/* Parks a CPU (see cache.h); the fence is the caller's. */
static void park(struct cpu_cache *cc)
{
    __atomic_store_n(&cc->stopped, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cache_fast[cc->cpu], cache_parked.cls, __ATOMIC_SEQ_CST);
}

static void stop(struct cpu_cache *cc)
{
    if (cpu_mode == CPU_MODE_RSEQ) {
        park(cc);
        cpu_fence((int)cc->cpu);
    }
}

static void unstop(struct cpu_cache *cc)
{
    __atomic_store_n(&cache_fast[cc->cpu], cc->cls, __ATOMIC_RELEASE);
    __atomic_store_n(&cc->stopped, 0, __ATOMIC_RELEASE);
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
    /* Only ever raised outside the flush: a sequence that read the old cap
     * just misses once more. */
    __atomic_store_n(&cl->cap, want, __ATOMIC_RELAXED);
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
static void calibrate(struct cpu_cache *cc)
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
     * of its frees would go to central (a uniform mix of 8 B..4 KiB has its
     * 16-byte classes below half the average traffic, and lost 5 % so). */
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
        cc->cls[c].cap = want[c];
        bytes += (uint64_t)want[c] * sc_size[c];
    }
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

static void calibrate(struct cpu_cache *cc)
{
    (void)cc;
}
#endif

void cache_flush_cpu(struct cpu_cache *cc)
{
    lock_take(&cc->lock);
    /* The old victim goes back to central: only lock holders touch it. */
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct cache_class *cl = &cc->cls[c];
        if (cl->vcount) {
            central_free(c, cl->vslots, cl->vcount);
            __atomic_store_n(&cl->vcount, 0, __ATOMIC_RELAXED);
        }
    }
    /* Local becomes victim: pointer swaps only, so the CPU is stopped for
     * the time of 52 swaps. */
    stop(cc);
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct cache_class *cl = &cc->cls[c];
        if (cl->count) {
            void **t = cl->vslots;
            cl->vslots = cl->slots;
            cl->slots = t;
            __atomic_store_n(&cl->vcount, cl->count, __ATOMIC_RELAXED);
            cl->count = 0;
        }
    }
    calibrate(cc);
    cc->flushes++;
    unstop(cc);
    lock_give(&cc->lock);
}

void cache_lock_all(void)
{
    lock_take(&cache_create_lock);
    for (unsigned i = 0; i < cache_nslots; i++) {
        struct cpu_cache *cc = cache_cpus[i];
        if (cc) {
            lock_take(&cc->lock);
            if (cpu_mode == CPU_MODE_RSEQ)
                park(cc);
        }
    }
    /* Every CPU at once: no sequence may be half-way when fork copies memory. */
    if (cpu_mode == CPU_MODE_RSEQ)
        cpu_fence(-1);
}

void cache_unlock_all(void)
{
    for (unsigned i = cache_nslots; i-- > 0;)
        if (cache_cpus[i]) {
            unstop(cache_cpus[i]);
            lock_give(&cache_cpus[i]->lock);
        }
    lock_give(&cache_create_lock);
}

void cache_reset_all(void)
{
    cpu_after_fork_child();
    for (unsigned i = 0; i < cache_nslots; i++)
        if (cache_cpus[i]) {
            cache_cpus[i]->stopped = 0;
            cache_fast[i] = cache_cpus[i]->cls;
            lock_reset(&cache_cpus[i]->lock);
        }
    lock_reset(&cache_create_lock);
    cache_tls_busy = 0;
}
