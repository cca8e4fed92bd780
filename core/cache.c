/* cache.c - the slow paths of the per-CPU caches (see cache.h). */
#include "cache.h"

#include <stdatomic.h>

#include "core.h"
#include "flush.h"
#include "meta.h"

struct cpu_cache **cache_cpus;
unsigned cache_cpu_mask;
uint32_t cache_cap[SC_COUNT];
__thread int cache_tls_busy __attribute__((tls_model("initial-exec")));

static unsigned cache_nslots;
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
    unsigned n = cpu_possible();
    unsigned slots = 1;
    while (slots < n)
        slots <<= 1;
    cache_cpus = meta_alloc(slots * sizeof *cache_cpus);
    if (!cache_cpus)
        return -1;
    cache_nslots = slots;
    cache_cpu_mask = slots - 1;
    return 0;
}

struct cpu_cache *cache_create_slow(unsigned cpu)
{
    lock_take(&cache_create_lock);
    struct cpu_cache *cc = cache_cpus[cpu];
    if (cc)
        goto out;
    size_t slots = 0;
    for (unsigned c = 0; c < SC_COUNT; c++)
        slots += 2 * (size_t)cache_cap[c];
    cc = meta_alloc(sizeof *cc + slots * sizeof(void *));
    if (!cc)
        goto out;
    cc->cpu = cpu;
    void **slot = (void **)(cc + 1);
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cc->cls[c].slots = slot;
        slot += cache_cap[c];
        cc->cls[c].vslots = slot;
        slot += cache_cap[c];
    }
    /* Published fully built: readers load the pointer without the lock. */
    __atomic_store_n(&cache_cpus[cpu], cc, __ATOMIC_RELEASE);
out:
    lock_give(&cache_create_lock);
    return cc;
}

/* Up to `want` objects from another CPU's victim. Never waits for its lock:
 * two CPUs stealing from each other would otherwise deadlock. */
static unsigned steal(struct cpu_cache *self, unsigned cls, void **out, unsigned want)
{
    for (unsigned i = 1; i < cache_nslots; i++) {
        struct cpu_cache *o =
            __atomic_load_n(&cache_cpus[(self->cpu + i) & cache_cpu_mask], __ATOMIC_ACQUIRE);
        if (!o || !__atomic_load_n(&o->cls[cls].vcount, __ATOMIC_RELAXED) || !lock_try(&o->lock))
            continue;
        struct cache_class *ocl = &o->cls[cls];
        unsigned n = ocl->vcount < want ? ocl->vcount : want;
        for (unsigned k = 0; k < n; k++)
            out[k] = ocl->vslots[ocl->vcount - 1 - k];
        __atomic_store_n(&ocl->vcount, ocl->vcount - n, __ATOMIC_RELAXED);
        lock_give(&o->lock);
        if (n)
            return n;
    }
    return 0;
}

void *cache_refill_slow(struct cpu_cache *cc, unsigned cls)
{
    struct cache_class *cl = &cc->cls[cls];
    struct cache_counters *ctr = &cc->ctr[cls];

    /* A fork child starts its flush thread from the preload slow path,
     * outside every lock, once it has lived one period. */
    if (unlikely(flush_orphaned) && flush_thread_wanted())
        core_request_attention();

    if (cl->vcount) {
        ctr->alloc_victim++;
        /* Atomic stores of vcount: steal() reads it as a hint without the lock. */
        __atomic_store_n(&cl->vcount, cl->vcount - 1, __ATOMIC_RELAXED);
        return cl->vslots[cl->vcount];
    }

    /* One object for the caller plus up to a batch for the cache, never
     * more than the cache can take (cap may be 0 for a big class). */
    void *buf[64];
    unsigned want = sc_batch[cls] < cache_cap[cls] ? sc_batch[cls] : cache_cap[cls];
    want += 1;
    unsigned fresh = 0;
    unsigned got = central_alloc(cls, want, buf, CENTRAL_EXISTING, &fresh);
    if (got) {
        /* buf[0] is a reused object unless every one is fresh. */
        if (got == fresh)
            ctr->alloc_new++;
        else
            ctr->alloc_central++;
    } else if ((got = steal(cc, cls, buf, want)) != 0) {
        ctr->alloc_steal++;
    } else if ((got = central_alloc(cls, want, buf, CENTRAL_GROW, &fresh)) != 0) {
        ctr->alloc_new++;
    } else {
        return NULL;
    }
    for (unsigned i = 1; i < got; i++)
        cl->slots[cl->count++] = buf[i];
    return buf[0];
}

void cache_drain_slow(struct cpu_cache *cc, unsigned cls, void *p)
{
    struct cache_class *cl = &cc->cls[cls];
    if (cl->count == 0) {
        /* A class with no room in the cache: straight to central. */
        cc->ctr[cls].drops++;
        central_free(cls, &p, 1);
        return;
    }
    unsigned n = sc_batch[cls] < cl->count ? sc_batch[cls] : cl->count;
    cl->count -= n;
    central_free(cls, &cl->slots[cl->count], n);
    cc->ctr[cls].drops += n;
    cl->slots[cl->count++] = p;
}

void cache_flush_cpu(struct cpu_cache *cc)
{
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct cache_class *cl = &cc->cls[c];
        if (cl->vcount) {
            central_free(c, cl->vslots, cl->vcount);
            __atomic_store_n(&cl->vcount, 0, __ATOMIC_RELAXED);
        }
        if (cl->count) {
            void **t = cl->vslots;
            cl->vslots = cl->slots;
            cl->slots = t;
            __atomic_store_n(&cl->vcount, cl->count, __ATOMIC_RELAXED);
            cl->count = 0;
        }
    }
    cc->flushes++;
}

void cache_lock_all(void)
{
    lock_take(&cache_create_lock);
    for (unsigned i = 0; i < cache_nslots; i++)
        if (cache_cpus[i])
            lock_take(&cache_cpus[i]->lock);
}

void cache_unlock_all(void)
{
    for (unsigned i = cache_nslots; i-- > 0;)
        if (cache_cpus[i])
            lock_give(&cache_cpus[i]->lock);
    lock_give(&cache_create_lock);
}

void cache_reset_all(void)
{
    for (unsigned i = 0; i < cache_nslots; i++)
        if (cache_cpus[i])
            lock_reset(&cache_cpus[i]->lock);
    lock_reset(&cache_create_lock);
    cache_tls_busy = 0;
}
