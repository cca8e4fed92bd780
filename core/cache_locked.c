/* SPDX-License-Identifier: MIT */
/* cache_locked.c - LOCKED mode: home cache slots under a spinlock, the slow
 * halves (see cache_locked.h). */
#include "cache_locked.h"

#include "calibrate.h"
#include "central.h"

__thread struct cpu_cache *cache_tls_home __attribute__((tls_model("initial-exec")));
static unsigned cache_next_slot;

struct cpu_cache *cache_enter_slow(void)
{
    struct cpu_cache *home = cache_tls_home;
    /* Re-entered from a signal handler, or between fork's prepare and the
     * fork: this thread holds the lock already. Pass through. */
    if (home && lock_mine(&home->lock))
        return NULL;
    unsigned first = home ? home->cpu
                          : __atomic_fetch_add(&cache_next_slot, 1, __ATOMIC_RELAXED);
    /* Busy home slot: try the others before waiting, and make the first free
     * one home, so contending threads spread over the slots. */
    for (unsigned i = 0; i < cache_nslots; i++) {
        unsigned s = (first + i) & cache_cpu_mask;
        struct cpu_cache *cc = __atomic_load_n(&cache_cpus[s], __ATOMIC_ACQUIRE);
        if (!cc && !(cc = cache_create_slow(s)))
            continue;
        if (lock_try(&cc->lock)) {
            cache_tls_home = cc;
            return cc;
        }
        if (lock_mine(&cc->lock))
            return NULL;
    }
    if (!home && !(home = __atomic_load_n(&cache_cpus[first & cache_cpu_mask], __ATOMIC_ACQUIRE)))
        return NULL;
    lock_take(&home->lock);
    cache_tls_home = home;
    return home;
}

void *cache_alloc_locked_slow(unsigned cls)
{
    struct cpu_cache *cc = cache_enter_slow();
    return cc ? cache_alloc_entered(cc, cls) : NULL;
}

void cache_free_locked_slow(unsigned cls, void *p)
{
    struct cpu_cache *cc = cache_enter_slow();
    if (cc)
        cache_free_entered(cc, cls, p);
    else
        central_defer(cls, p);
}

void *cache_refill_locked(struct cpu_cache *cc, unsigned cls)
{
    struct cache_class *cl = &cc->cls[cls];
    cl->ctr.underflows++;
    cache_grow_locked(cc, cls);   /* so the refill below may bring more */
    void *p = cache_victim_pop(cl);
    if (p)
        return p;
    void *buf[CACHE_BUF_MAX];
    unsigned got = cache_refill(cc, cls, buf);
    if (!got)
        return NULL;
    for (unsigned i = 1; i < got; i++)
        cl->slots[cl->count++] = buf[i];
    return buf[0];
}

void cache_drain_locked(struct cpu_cache *cc, unsigned cls, void *p)
{
    struct cache_class *cl = &cc->cls[cls];
    /* Here because the stack is full, or because p is already its top. */
    if (unlikely(cl->count && cl->slots[cl->count - 1] == p))
        central_bad_free(p, "double free");
    cl->ctr.overflows++;
    if (cache_grow_locked(cc, cls) && cl->count < cl->cap) {   /* p fits: nothing to central */
        cl->slots[cl->count++] = p;
        return;
    }
    if (cl->count == 0) {
        /* A class with no room in the cache: straight to central. */
        CTR_ADD(cl, drops, 1);
        central_free(cls, &p, 1);
        return;
    }
    unsigned n = sc_batch[cls] < cl->count ? sc_batch[cls] : cl->count;
    cl->count -= n;
    central_free(cls, &cl->slots[cl->count], n);
    CTR_ADD(cl, drops, n);
    cl->slots[cl->count++] = p;
}
