/* SPDX-License-Identifier: MIT */
/*
 * cache_slow.h - what the three halves of the per-CPU caches share inside
 * core/: cache.c (tables, flush, fork), cache_locked.c (LOCKED mode),
 * cache_rseq.c (RSEQ mode's slow paths). Not for other modules.
 */
#ifndef POOLALLOC_CACHE_SLOW_H
#define POOLALLOC_CACHE_SLOW_H

#include "cache.h"

/* Counters written outside a critical section (slow paths may run on a
 * cache that is not their CPU's any more): relaxed atomic adds. */
#define CTR_ADD(cl, field, n) __atomic_fetch_add(&(cl)->ctr.field, (n), __ATOMIC_RELAXED)

extern unsigned cache_nslots;

/* A miss of class cls on cc: one batch more room for it, if it has less
 * than its stack and the CPU's caps fit the budget. 1 if it grew.
 * cache_grow() takes cc's lock if it is free (else does nothing);
 * cache_grow_locked() is for a caller that holds it. */
int cache_grow(struct cpu_cache *cc, unsigned cls);
int cache_grow_locked(struct cpu_cache *cc, unsigned cls);

/* Pops one object off the victim stack of cl, under its cache's lock; NULL
 * if empty. Counts it as revived. */
void *cache_victim_pop(struct cache_class *cl);

/* Objects for an empty cache, after the victim: a batch from central, else
 * another CPU's victim, else a new span. Counts the source of buf[0] in cc.
 * Returns how many are in buf (<= 64; 0: out of memory). */
unsigned cache_refill(struct cpu_cache *cc, unsigned cls, void **buf);

/* Up to `want` objects from another CPU's victim, never waiting for a lock. */
unsigned cache_steal(unsigned self, unsigned cls, void **out, unsigned want);

#endif
