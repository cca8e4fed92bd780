/* SPDX-License-Identifier: MIT */
/*
 * cache_batch.h - the per-CPU caches' data and what both modes' slow paths
 * share, below them: the CPU table, making a CPU's cache on first use, and
 * the batches that refill an empty stack (a victim pop, central, a steal).
 *
 * The layers of the cache, top down (no file calls up):
 *   cache.h / cache.c        the face: fast paths, the one miss dispatch,
 *                            init, flush and fork
 *   cache_rseq.c, cache_locked.c   one mode each (cpu.h says which runs)
 *   calibrate.c              the caps: budget shares, growth, resizing
 *   cache_batch.c            this file's functions, and the tables
 * The rules of who may touch what are in cache.h.
 */
#ifndef POOLALLOC_CACHE_BATCH_H
#define POOLALLOC_CACHE_BATCH_H

#include <stddef.h>

#include "counters.h"
#include "lock.h"
#include "sizeclass.h"

#define CACHE_SLOTS_MAX 16384  /* largest cap of one class (stacks are mapped, and touched only as deep as they are used) */
#define CACHE_BUF_MAX   72     /* objects one refill brings at most: a batch and one */
#define CACHE_DRAIN_MAX 72     /* objects one RSEQ-mode drain sends at most: a batch and p */

struct cache_class {
    uint32_t count;    /* objects on the local stack (offset 0: the sequences rely on it) */
    uint32_t cap;      /* calibrated capacity of the local stack (offset 4: ditto) */
    void **slots;      /* local stack (offset 8: ditto) */
    void **vslots;     /* victim stack */
    uint32_t vcount;   /* objects on the victim stack */
    uint32_t pad;
    uint64_t scratch;  /* counter sink for internal moves through the sequences */
    uint64_t seen_misses, seen_frees;   /* counters at the last calibration */
    struct cache_counters ctr;
} __attribute__((aligned(128)));   /* a power of two: the offset of a class is a shift */

struct cpu_cache {
    pa_lock lock;
    uint8_t stopped;   /* RSEQ mode: parked, the sequences cannot reach local */
    uint32_t cpu;
    uint64_t flushes;
    uint64_t cap_bytes;   /* sum over classes of cap * size (<= the budget); written under
                             lock, read without it as a hint (cache_grow) */
    struct cache_class cls[SC_COUNT];
} PA_ALIGNED;

/* Offset of a class's entry in a cache_rseq_table array. */
#define CACHE_CLS_OFF(cls) ((uintptr_t)(cls) * sizeof(struct cache_class))
#define CACHE_CTR_OFF(field) (offsetof(struct cache_class, ctr) + offsetof(struct cache_counters, field))

/* Counters written outside a critical section (slow paths may run on a
 * cache that is not their CPU's any more): relaxed atomic adds. */
#define CTR_ADD(cl, field, n) __atomic_fetch_add(&(cl)->ctr.field, (n), __ATOMIC_RELAXED)

extern struct cpu_cache **cache_cpus;  /* by CPU number (slot in LOCKED mode) */
extern struct cache_class **cache_rseq_table PA_HIDDEN;  /* RSEQ mode: what the sequences
                                  use, by CPU: cache_cpus[cpu]->cls or cache_parked.cls */
extern struct cpu_cache cache_parked;  /* every stack empty, capacity 0 */
extern unsigned cache_cpu_mask;        /* slots - 1; slots is a power of two */
extern unsigned cache_nslots;          /* entries of cache_cpus and cache_rseq_table */
extern uint32_t cache_cap[SC_COUNT];    /* starting capacity of a class on a new CPU */
extern uint32_t cache_slots[SC_COUNT];  /* stack size: the largest capacity a class may get */
extern pa_lock cache_create_lock;      /* serialises cache_create_slow (and fork) */

/* Maps the CPU tables, every entry of cache_rseq_table at the parked cache.
 * Returns 0, or -1 if they cannot be mapped. */
int cache_tables_init(void);

/* Makes the cache of a CPU on its first use, with cache_cap[] as its caps;
 * NULL if out of memory, or if a signal handler interrupted this very call. */
struct cpu_cache *cache_create_slow(unsigned cpu);

/* Pops one object off the victim stack of cl, under its cache's lock; NULL
 * if empty. Counts it as revived. */
void *cache_victim_pop(struct cache_class *cl);

/* Where a CPU's stacks lie. Each class has two sides, and its local and
 * victim stacks are always on different ones (the flush swaps them). A side
 * has a small stack (the cap a cache starts with, and two batches more),
 * packed with the other classes' small stacks, so that a class a CPU uses
 * a little costs it part of a page and not a page per stack; and a big one
 * of cache_slots[cls] slots, which a stack moves to when its cap outgrows
 * the small one (cache_calibrate, cache_grow_locked), touched only then.
 * Every stack has a NULL below its bottom (cache_create_slow). */
unsigned cache_stack_room(const struct cpu_cache *cc, unsigned cls, void *const *stack);

/* Makes the local stack of cls room for cap objects: moves it to the big
 * stack of its side if it is the small one and cap does not fit. The caller
 * holds cc's lock; in RSEQ mode the CPU is stopped for the move unless
 * `stopped` says the caller has it stopped already. */
void cache_stack_fit(struct cpu_cache *cc, unsigned cls, uint32_t cap, int stopped);

/* RSEQ mode: parks a CPU (its sequences see the parked cache: every stack
 * empty, capacity 0; the fence is the caller's), stops it (parks it and
 * fences it: no sequence of that CPU is half-way after it) and lets it go
 * on. Under cc's lock. cache_stop and cache_unstop do nothing in LOCKED
 * mode, where the lock is the whole protocol. */
void cache_park(struct cpu_cache *cc);
void cache_stop(struct cpu_cache *cc);
void cache_unstop(struct cpu_cache *cc);

/* Objects for an empty cache, after the victim: a batch from central, else
 * another CPU's victim, else a new span. Counts the source of buf[0] in cc.
 * Returns how many are in buf (<= CACHE_BUF_MAX; 0: out of memory). */
unsigned cache_refill(struct cpu_cache *cc, unsigned cls, void **buf);

/* Up to `want` objects from another CPU's victim, never waiting for a lock. */
unsigned cache_steal(unsigned self, unsigned cls, void **out, unsigned want);

#endif
