/* SPDX-License-Identifier: MIT */
/* cache_rseq.c - RSEQ mode: the slow paths after a restartable sequence gave
 * up (see cache_rseq.h, the rules in cache.h, and rseq_x86_64.h). */
#include "cache_rseq.h"

#include "calibrate.h"
#include "central.h"
#include "cpu.h"
#include "invariants.h"

__thread int cache_tls_busy __attribute__((tls_model("initial-exec")));

#if CPU_HAVE_RSEQ
#include "rseq_x86_64.h"

/* Moves between this CPU's local stack and a buffer, through the sequences,
 * counting into `scratch`: moves between a cache and central are neither
 * allocations nor frees. How many moved; 0 if the stack was full / empty. */
static unsigned local_push_batch(unsigned cls, void **buf, unsigned want)
{
    unsigned n;
    RSEQ_PUSH_BATCH(n, cpu_rseq_offset, cache_rseq_table, CACHE_CLS_OFF(cls),
                    offsetof(struct cache_class, scratch), offsetof(struct cache_class, cap),
                    buf, want);
    return n;
}

static unsigned local_pop_batch(unsigned cls, void **buf, unsigned want)
{
    unsigned n;
    RSEQ_POP_BATCH(n, cpu_rseq_offset, cache_rseq_table, CACHE_CLS_OFF(cls),
                   offsetof(struct cache_class, scratch), buf, want);
    return n;
}

/* Pushes p on this CPU's local stack, counted as a free: the fast path's
 * sequence. 0 if it gave up (full, parked, or p is the top). */
static int local_push(unsigned cls, void *p)
{
    RSEQ_PUSH(miss, cpu_rseq_offset, cache_rseq_table, CACHE_CLS_OFF(cls), CACHE_CTR_OFF(frees),
              offsetof(struct cache_class, cap), p);
    return 1;
miss:
    return 0;
}

/* The cache of the CPU this thread is on now, made if needed; NULL if it
 * cannot be made. */
static struct cpu_cache *current_cache(void)
{
    unsigned cpu = cpu_current() & cache_cpu_mask;
    struct cpu_cache *cc = __atomic_load_n(&cache_cpus[cpu], __ATOMIC_ACQUIRE);
    return cc ? cc : cache_create_slow(cpu);
}

void *cache_alloc_slow(unsigned cls)
{
    if (cache_tls_busy)
        return NULL;   /* a signal handler inside our own slow path */
    cache_tls_busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    void *p = NULL;
    struct cpu_cache *cc = current_cache();
    if (cc) {
        struct cache_class *cl = &cc->cls[cls];
        int stopped = __atomic_load_n(&cc->stopped, __ATOMIC_RELAXED);
        if (!stopped) {
            CTR_ADD(cl, underflows, 1);
            cache_grow(cc, cls);   /* so the refill below may bring more */
        }
        if (cl->vcount && !stopped) {
            lock_take(&cc->lock);
            p = cache_victim_pop(cl);
            lock_give(&cc->lock);
        }
        if (!p) {
            void *buf[CACHE_BUF_MAX];
            unsigned got = cache_refill(cc, cls, buf);
            if (got) {
                p = buf[0];
                unsigned i = 1;
                if (got > 1)
                    i += local_push_batch(cls, buf + 1, got - 1);
                if (i < got)
                    central_free(cls, buf + i, got - i);
            }
        }
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cache_tls_busy = 0;
    return p;
}

void cache_free_slow(unsigned cls, void *p)
{
    if (cache_tls_busy) {
        central_defer(cls, p);   /* a signal handler inside our own slow path */
        return;
    }
    cache_tls_busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    struct cpu_cache *cc = current_cache();
    void *buf[CACHE_DRAIN_MAX];
    unsigned n = 0;
    if (cc && !__atomic_load_n(&cc->stopped, __ATOMIC_RELAXED)) {
        CTR_ADD(&cc->cls[cls], overflows, 1);
        /* More room, and p fits now: nothing goes to central. */
        if (cache_grow(cc, cls) && local_push(cls, p))
            goto out;
    }
    /* The stack is full (or stopped): a batch goes to central, then p takes
     * its place; if it still cannot, p goes too. */
    n = local_pop_batch(cls, buf, sc_batch[cls]);
    /* The push also gives up when p is already the stack's top: p found in
     * the stack while its owner frees it is a double free. (The sequence
     * wrote buf[0..n); the analyser cannot see into it.) */
    for (unsigned i = 0; i < n; i++)
        if (unlikely(buf[i] == p))   /* NOLINT(clang-analyzer-core.UndefinedBinaryOperatorResult) */
            central_bad_free(p, "double free");
    if (!local_push(cls, p)) {
        buf[n++] = p;
        if (cc)
            CTR_ADD(&cc->cls[cls], frees, 1);
    }
    if (cc)
        CTR_ADD(&cc->cls[cls], drops, n);
    central_free(cls, buf, n);
out:
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cache_tls_busy = 0;
}
#endif
