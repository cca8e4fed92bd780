/*
 * cache.h - per-CPU caches: for every CPU and size class a stack of free
 * objects (`local`, the sync.Pool "private"/"shared" of that CPU) and the
 * previous generation of it (`victim`).
 *
 * Rules:
 *   - local count <= cap[cls] and victim count <= cap[cls];
 *     sum over classes of cap[cls] * size[cls] <= the per-CPU budget
 *     (POOLALLOC_CPU_CACHE), so one CPU's pools hold at most twice the budget
 *     (local + victim), and all pools at most 2 * budget * CPUs.
 *   - Allocation: local, else own victim, else a batch from central, else
 *     another CPU's victim (steal), else a new or released span.
 *   - Free: onto local; when local is full, a batch goes to central (a drop).
 *   - Flush (every generation, every CPU, busy or idle): victim goes to
 *     central, local becomes victim, local starts empty. An object freed
 *     in generation N is revived from victim in N+1 at the latest, and has
 *     left every per-CPU pool after the flush that ends N+1.
 *
 * A cache is entered with cache_enter() and left with cache_leave(): a
 * per-CPU lock today (see cpu.h). cache_tls_busy marks a thread that is
 * inside the allocator, so that a signal handler interrupting it and calling
 * malloc/free on the same thread never waits for a lock its own thread holds
 * (it passes through to libc, or defers the free to central lock-free).
 */
#ifndef POOLALLOC_CACHE_H
#define POOLALLOC_CACHE_H

#include "central.h"
#include "counters.h"
#include "cpu.h"
#include "lock.h"
#include "sizeclass.h"

#define CACHE_SLOTS_MAX 512   /* largest cap of one class */

struct cache_class {
    uint32_t count;    /* objects on the local stack */
    uint32_t vcount;   /* objects on the victim stack */
    void **slots;      /* local stack, cap[cls] entries */
    void **vslots;     /* victim stack, cap[cls] entries */
};

struct cpu_cache {
    pa_lock lock;
    uint32_t cpu;
    uint64_t flushes;
    struct cache_class cls[SC_COUNT];
    struct cache_counters ctr[SC_COUNT];
} PA_ALIGNED;

extern struct cpu_cache **cache_cpus;  /* by CPU number; NULL until first used */
extern unsigned cache_cpu_mask;        /* slots - 1; slots is a power of two */
extern uint32_t cache_cap[SC_COUNT];
extern __thread int cache_tls_busy __attribute__((tls_model("initial-exec")));

/* Sizes the caches: the per-CPU budget shared out over classes <= max_size.
 * Returns 0, or -1 if the CPU table cannot be mapped. */
int cache_init(size_t budget, size_t max_size);

/* Makes the cache of a CPU on its first use; NULL if out of memory. */
struct cpu_cache *cache_create_slow(unsigned cpu);

/* Slow halves of pop and push, with the cache entered. */
void *cache_refill_slow(struct cpu_cache *cc, unsigned cls);
void cache_drain_slow(struct cpu_cache *cc, unsigned cls, void *p);

/* One generation for one CPU (cache entered or all caches locked). */
void cache_flush_cpu(struct cpu_cache *cc);

void cache_lock_all(void);
void cache_unlock_all(void);
void cache_reset_all(void);

/* Enters this CPU's cache; NULL if re-entered from a signal handler on this
 * thread or if the cache cannot be made. */
static inline struct cpu_cache *cache_enter(void)
{
    if (unlikely(cache_tls_busy))
        return NULL;
    unsigned cpu = cpu_current() & cache_cpu_mask;
    struct cpu_cache *cc = cache_cpus[cpu];
    if (unlikely(!cc) && !(cc = cache_create_slow(cpu)))
        return NULL;
    cache_tls_busy = 1;
    /* The busy flag is set before the lock is taken: a signal arriving in
     * between must not try to take it either. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock_take(&cc->lock);
    return cc;
}

static inline void cache_leave(struct cpu_cache *cc)
{
    lock_give(&cc->lock);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cache_tls_busy = 0;
}

/* An object of class cls, or NULL (then the caller passes through to libc). */
static inline void *cache_alloc(unsigned cls)
{
    struct cpu_cache *cc = cache_enter();
    if (unlikely(!cc))
        return NULL;
    struct cache_class *cl = &cc->cls[cls];
    void *p;
    if (likely(cl->count)) {
        p = cl->slots[--cl->count];
        cc->ctr[cls].alloc_cache++;
    } else {
        p = cache_refill_slow(cc, cls);
    }
    cache_leave(cc);
    return p;
}

/* Gives back an owned object of class cls. */
static inline void cache_free(unsigned cls, void *p)
{
    struct cpu_cache *cc = cache_enter();
    if (unlikely(!cc)) {
        central_defer(cls, p);
        return;
    }
    struct cache_class *cl = &cc->cls[cls];
    cc->ctr[cls].frees++;
    if (likely(cl->count < cache_cap[cls]))
        cl->slots[cl->count++] = p;
    else
        cache_drain_slow(cc, cls, p);
    cache_leave(cc);
}

#endif
