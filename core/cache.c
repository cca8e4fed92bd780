/* SPDX-License-Identifier: MIT */
/* cache.c - the per-CPU caches' face (see cache.h): init, the one miss
 * dispatch to the mode's slow half, flush and fork. Mode-independent: each
 * mode's code is in cache_rseq.c / cache_locked.c, the caps in calibrate.c,
 * the tables and refills in cache_batch.c; none of them calls back here. */
#include "cache.h"

#include "calibrate.h"
#include "check.h"
#include "invariants.h"

ptrdiff_t cache_rseq_offset;
__thread int cache_tls_libc __attribute__((tls_model("initial-exec")));
__thread int cache_tls_refused __attribute__((tls_model("initial-exec")));
__thread int cache_tls_guarded __attribute__((tls_model("initial-exec")));
int cache_fork_pending, cache_guarded_total;

/* POOLALLOC_CHECK: every allocation and free passes the miss paths (the
 * caches hold nothing), which then check and poison. */
static int cache_checking;

int cache_init(size_t budget, size_t max_size, int check)
{
    cache_checking = check;
    cache_calibrate_init(budget, max_size);
    if (cache_tables_init() != 0)
        return -1;
    cache_rseq_offset = cpu_mode == CPU_MODE_RSEQ ? cpu_rseq_offset : 0;
    return 0;
}

static void *alloc_miss(unsigned cls)
{
    void *p;
#if CPU_HAVE_RSEQ
    if (cache_rseq_offset)
        p = cache_alloc_slow(cls);
    else
#endif
        p = cache_alloc_locked(cls);
    /* POOLALLOC_CHECK: caches hold nothing, so every allocation passes here. */
    if (unlikely(cache_checking) && p)
        check_on_alloc(cls, p);
    return p;
}

static void free_miss(unsigned cls, void *p)
{
    if (unlikely(cache_checking)) {
        central_check_out(cls, p);   /* before the poison touches it */
        check_on_free(cls, p);
    }
#if CPU_HAVE_RSEQ
    if (cache_rseq_offset) {
        cache_free_slow(cls, p);
        return;
    }
#endif
    cache_free_locked(cls, p);
}

/* A thread inside glibc's allocator (a signal handler interrupted it): see
 * preload/reentry.h, R3. 1 if it may go on (then guard_leave()), 0 if a fork is pending. */
static int guard_enter(void)
{
    cache_tls_guarded++;
    __atomic_add_fetch(&cache_guarded_total, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&cache_fork_pending, __ATOMIC_SEQ_CST))
        return 1;
    __atomic_sub_fetch(&cache_guarded_total, 1, __ATOMIC_SEQ_CST);
    cache_tls_guarded--;
    return 0;
}

static void guard_leave(void)
{
    __atomic_sub_fetch(&cache_guarded_total, 1, __ATOMIC_SEQ_CST);
    cache_tls_guarded--;
}

void *cache_alloc_miss(unsigned cls)
{
    if (likely(!cache_tls_libc))
        return alloc_miss(cls);
    if (!guard_enter()) {
        cache_tls_refused = 1;
        return NULL;
    }
    void *p = alloc_miss(cls);
    guard_leave();
    return p;
}

void cache_free_miss(unsigned cls, void *p)
{
    if (likely(!cache_tls_libc)) {
        free_miss(cls, p);
        return;
    }
    if (!guard_enter()) {
        central_defer(cls, p);
        return;
    }
    free_miss(cls, p);
    guard_leave();
}

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
    cache_stop(cc);
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct cache_class *cl = &cc->cls[c];
        PA_ASSERT(cl->count <= cl->cap && cl->cap <= cache_stack_room(cc, c, cl->slots),
                  "cache: count <= cap <= the room of the local stack");
        if (cl->count) {
            void **t = cl->vslots;
            cl->vslots = cl->slots;
            cl->slots = t;
            __atomic_store_n(&cl->vcount, cl->count, __ATOMIC_RELAXED);
            cl->count = 0;
        }
    }
    cache_calibrate(cc);
    cc->flushes++;
    cache_unstop(cc);
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
                cache_park(cc);
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
            cache_unstop(cache_cpus[i]);
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
            cache_rseq_table[i] = cache_cpus[i]->cls;
            lock_reset(&cache_cpus[i]->lock);
        }
    lock_reset(&cache_create_lock);
    cache_tls_busy = 0;
}
