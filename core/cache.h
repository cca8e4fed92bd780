/* SPDX-License-Identifier: MIT */
/*
 * cache.h - per-CPU caches: for every CPU and size class a stack of free
 * objects (`local`, the sync.Pool "private"/"shared" of that CPU) and the
 * previous generation of it (`victim`).
 *
 * Rules:
 *   - local count <= cap and victim count <= the cap of the generation before;
 *     sum over classes of cap * size <= the per-CPU budget (POOLALLOC_CPU_CACHE),
 *     so one CPU's pools hold at most twice the budget (local + victim) and all
 *     pools at most 2 * budget * CPUs. cap <= the room of the local stack
 *     <= cache_slots[cls]: a stack starts small, packed with other classes'
 *     small stacks, and moves to a stack of cache_slots[cls] the first time
 *     its cap outgrows it (cache_batch.h, cache_stack_fit: at a flush, or
 *     with the CPU stopped); then a cap changes without moving anything.
 *   - Calibration (bytebufferpool's idea): a class starts with room for two
 *     batches at most (cache_cap[]) and every miss (underflow: empty on alloc;
 *     overflow: full on free) gives it one batch more while the CPU's caps
 *     fit the budget (cache_grow()); at every flush each CPU resizes its caps
 *     within the budget: a busy class whose misses moved a good part of its
 *     traffic doubles, a class with no traffic shrinks, and growth that does
 *     not fit is paid for by the classes that are not busy (the rule in
 *     calibrate.c, cache_calibrate()). Built with POOLALLOC_NO_CALIBRATE, every
 *     class keeps its even share of the budget and nothing moves.
 *   - Allocation: local, else own victim, else a batch from central, else
 *     another CPU's victim (steal), else a new or released span.
 *   - Free: onto local; when local is full, a batch goes to central (a drop).
 *   - Flush (every generation, every CPU, busy or idle): victim goes to
 *     central, local becomes victim, local starts empty. An object freed in
 *     generation N is revived from victim in N+1 at the latest, and has left
 *     every per-CPU pool after the flush that ends N+1.
 *
 * Who may touch what (see cpu.h for the two modes):
 *   RSEQ mode   - local: only restartable sequences running on that CPU, or
 *                 a thread that has stopped the CPU (`stopped` set and the
 *                 CPU's entry of cache_rseq_table pointed at cache_parked:
 *                 cache_park() in cache_batch.c) and fenced it (cpu_fence), so no sequence
 *                 there can commit any more; victim: anyone holding `lock`.
 *                 The sequences reach a cache only through cache_rseq_table,
 *                 which holds for every CPU the class array of either its cache or
 *                 cache_parked, whose stacks are all empty with capacity 0:
 *                 so a CPU without a cache and a stopped CPU cost the
 *                 sequences no test of their own.
 *                 Proof for the flush: it stores cache_parked's array, then
 *                 fences. A sequence that loaded the real array before the
 *                 store is running on that CPU or preempted: the fence
 *                 restarts it, and a restarted or new sequence loads the
 *                 parked one (the fence orders the store before it) and gives
 *                 up. No sequence commits to the real cache until the flush
 *                 stores it back after its last write to local, and x86 keeps
 *                 those stores in order.
 *   LOCKED mode - local and victim: holders of `lock`.
 *
 * A signal handler that interrupts a thread inside the caches never waits
 * for a lock its own thread holds (cache_tls_busy in RSEQ mode, lock_mine in
 * LOCKED mode): preload/reentry.h, R2.
 *
 * Files, top down (none calls up): cache.c (this face: init, the one miss
 * dispatch, flush, fork); cache_rseq.c and cache_locked.c (one mode each);
 * calibrate.c (the caps); cache_batch.c (the tables, refills, steals).
 */
#ifndef POOLALLOC_CACHE_H
#define POOLALLOC_CACHE_H

#include <stddef.h>

#include "cache_batch.h"
#include "cache_locked.h"
#include "cache_rseq.h"
#include "central.h"
#include "cpu.h"

#if CPU_HAVE_RSEQ
#include "rseq_x86_64.h"
#endif

extern ptrdiff_t cache_rseq_offset PA_HIDDEN;  /* glibc's __rseq_offset in RSEQ mode; 0 is LOCKED mode */

/* The fork guard's state (the protocol, and why: preload/reentry.h, R3).
 * cache_tls_libc: > 0 while this thread is inside glibc's allocator (the
 * preload layer's mark); cache_guarded_total: slow paths entered with it,
 * all threads (cache_tls_guarded: this thread's share); cache_fork_pending:
 * forks between prepare and parent/child; cache_tls_refused: this thread's
 * allocation was refused for a pending fork. */
extern __thread int cache_tls_libc __attribute__((tls_model("initial-exec")));
extern __thread int cache_tls_refused __attribute__((tls_model("initial-exec")));
extern __thread int cache_tls_guarded __attribute__((tls_model("initial-exec")));
extern int cache_fork_pending, cache_guarded_total;

/* Sizes the caches: the per-CPU budget shared out over classes <= max_size;
 * check: POOLALLOC_CHECK's costly checks on every miss (budget is then 0).
 * Returns 0, or -1 if the CPU table cannot be mapped. */
int cache_init(size_t budget, size_t max_size, int check);

/* Everything after a fast path that did not serve: the whole operation in
 * LOCKED mode, the slow path in RSEQ mode; the one place that picks the
 * mode's slow half. NULL from alloc: pass through to libc. Out of line, so
 * the fast path needs no registers saved. */
void *cache_alloc_miss(unsigned cls);
void cache_free_miss(unsigned cls, void *p);

/* One generation for one CPU's cache. Takes its lock; the caller holds the
 * flush lock. */
void cache_flush_cpu(struct cpu_cache *cc);

/* For fork: stop and lock every cache, then undo (parent) or reset (child). */
void cache_lock_all(void);
void cache_unlock_all(void);
void cache_reset_all(void);

/* The fast path of an allocation: RSEQ mode's pop, inlined into every caller
 * as one straight line with no call; NULL means "take cache_alloc_miss()"
 * (always, in LOCKED mode). */
static inline __attribute__((always_inline)) void *cache_alloc_fast(unsigned cls)
{
#if CPU_HAVE_RSEQ
    ptrdiff_t off = cache_rseq_offset;   /* one load says the mode and where rseq is */
    if (likely(off)) {
        void *p;
        RSEQ_POP(p, miss, off, cache_rseq_table, CACHE_CLS_OFF(cls), CACHE_CTR_OFF(alloc_cache));
        if (!p)
            __builtin_unreachable();   /* stacks never hold NULL */
        return p;
    }
miss:
#endif
    (void)cls;
    return NULL;
}

/* The fast path of a free: 1 if p went onto this CPU's stack. */
static inline __attribute__((always_inline)) int cache_free_fast(uintptr_t cls, void *p)
{
#if CPU_HAVE_RSEQ
    ptrdiff_t off = cache_rseq_offset;
    if (likely(off)) {
        RSEQ_PUSH(miss, off, cache_rseq_table, CACHE_CLS_OFF(cls), CACHE_CTR_OFF(frees),
                  offsetof(struct cache_class, cap), p);
        return 1;
    }
miss:
#endif
    (void)cls, (void)p;
    return 0;
}

/* An object of class cls, or NULL (then the caller passes through to libc). */
static inline __attribute__((always_inline)) void *cache_alloc(unsigned cls)
{
    void *p = cache_alloc_fast(cls);
    return likely(p) ? p : cache_alloc_miss(cls);
}

/* Gives back an owned object of class cls. */
static inline __attribute__((always_inline)) void cache_free(unsigned cls, void *p)
{
    if (likely(cache_free_fast(cls, p)))
        return;
    cache_free_miss(cls, p);
}

#endif
