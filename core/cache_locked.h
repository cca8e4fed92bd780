/* SPDX-License-Identifier: MIT */
/*
 * cache_locked.h - LOCKED mode (no rseq: see cpu.h): every thread has a home
 * slot in the CPU table, and its cache is used under its spinlock. The
 * inline halves of the operations, and the slow halves in cache_locked.c.
 * cache.c's miss dispatch and the preload layer's fast paths call these;
 * nothing here calls up into them.
 */
#ifndef POOLALLOC_CACHE_LOCKED_H
#define POOLALLOC_CACHE_LOCKED_H

#include "cache_batch.h"

/* This thread's home cache: NULL until its first slow path picks one. */
extern __thread struct cpu_cache *cache_tls_home __attribute__((tls_model("initial-exec")));

/* Enters a cache (home slot, or another free one made home, else waits for
 * home); NULL if this thread holds it already (a signal handler, or fork's
 * prepare) or no cache can be made. */
struct cpu_cache *cache_enter_slow(void);
/* The slow halves, called with the cache entered: an object for an empty
 * stack (NULL: out of memory), room for p on a full stack (or p's double
 * free reported). */
void *cache_refill_locked(struct cpu_cache *cc, unsigned cls);
void cache_drain_locked(struct cpu_cache *cc, unsigned cls, void *p);
/* Whole operations when the home lock was not free at once. NULL from
 * alloc: pass through to libc; a free that cannot enter is deferred. */
void *cache_alloc_locked_slow(unsigned cls);
void cache_free_locked_slow(unsigned cls, void *p);

/* LOCKED mode: this thread's home cache, locked; NULL if this thread holds
 * it already (a signal handler that interrupted the allocator) or if no cache
 * can be made. */
static inline struct cpu_cache *cache_enter(void)
{
    struct cpu_cache *cc = cache_tls_home;
    if (likely(cc) && likely(lock_try(&cc->lock)))
        return cc;
    return cache_enter_slow();
}

static inline void cache_leave(struct cpu_cache *cc)
{
    lock_give(&cc->lock);
}

/* LOCKED mode, with the cache entered: the rest of an allocation or a free,
 * which also leaves the cache. */
static inline void *cache_alloc_entered(struct cpu_cache *cc, unsigned cls)
{
    struct cache_class *cl = &cc->cls[cls];
    uint32_t n = cl->count;
    void *p;
    if (likely(n)) {
        cl->count = --n;
        p = cl->slots[n];
        cl->ctr.alloc_cache++;
    } else {
        p = cache_refill_locked(cc, cls);
    }
    lock_give(&cc->lock);
    return p;
}

static inline void cache_free_entered(struct cpu_cache *cc, unsigned cls, void *p)
{
    struct cache_class *cl = &cc->cls[cls];
    uint32_t n = cl->count;
    cl->ctr.frees++;
    if (likely(n < cl->cap) && likely(cl->slots[(ptrdiff_t)n - 1] != p)) {
        cl->slots[n] = p;
        cl->count = n + 1;
    } else {
        cache_drain_locked(cc, cls, p);
    }
    lock_give(&cc->lock);
}

/* LOCKED mode, the common case only, with no call at all (so a caller that
 * tail-calls its slow path saves no register): the home cache's lock was free
 * and the stack had an object (room). NULL / 0: take the whole operation. */
static inline __attribute__((always_inline)) void *cache_alloc_locked_try(uintptr_t cls)
{
    struct cpu_cache *cc = cache_tls_home;
    if (likely(cc) && likely(lock_try(&cc->lock))) {
        struct cache_class *cl = &cc->cls[cls];
        uint32_t n;
        if (likely(!__builtin_sub_overflow(cl->count, 1, &n))) {   /* a sub and a jb */
            cl->count = n;
            void *p = cl->slots[n];
            cl->ctr.alloc_cache++;
            lock_give(&cc->lock);
            if (!p)
                __builtin_unreachable();   /* stacks never hold NULL */
            return p;
        }
        lock_give(&cc->lock);
        return NULL;
    }
    return NULL;
}

static inline __attribute__((always_inline)) int cache_free_locked_try(uintptr_t cls, void *p)
{
    struct cpu_cache *cc = cache_tls_home;
    if (likely(cc) && likely(lock_try(&cc->lock))) {
        struct cache_class *cl = &cc->cls[cls];
        uint32_t n = cl->count;
        int ok = n < cl->cap && cl->slots[(ptrdiff_t)n - 1] != p;
        if (likely(ok)) {
            cl->slots[n] = p;
            cl->count = n + 1;
            cl->ctr.frees++;
        }
        lock_give(&cc->lock);
        return ok;
    }
    return 0;
}

/* LOCKED mode, whole operations: the home cache's lock taken without a wait
 * or a call; anything else is a call to a slow function. */
static inline void *cache_alloc_locked(unsigned cls)
{
    struct cpu_cache *cc = cache_tls_home;
    if (unlikely(!cc) || unlikely(!lock_try(&cc->lock)))
        return cache_alloc_locked_slow(cls);
    return cache_alloc_entered(cc, cls);
}

static inline void cache_free_locked(unsigned cls, void *p)
{
    struct cpu_cache *cc = cache_tls_home;
    if (unlikely(!cc) || unlikely(!lock_try(&cc->lock))) {
        cache_free_locked_slow(cls, p);
        return;
    }
    cache_free_entered(cc, cls, p);
}

#endif
