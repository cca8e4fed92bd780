/* SPDX-License-Identifier: MIT */
/*
 * calibrate.h - the caps of the per-CPU caches (the rules are in cache.h):
 * the starting share of the budget, one batch more on a miss, and the
 * resizing of one CPU's caps at every flush. Built with
 * POOLALLOC_NO_CALIBRATE, every class keeps its even share and nothing moves.
 *
 * Law kept here: for every CPU, cap_bytes == sum over classes of cap * size
 * <= the budget, and every cap <= cache_slots[cls].
 */
#ifndef POOLALLOC_CALIBRATE_H
#define POOLALLOC_CALIBRATE_H

#include <stddef.h>

#include "cache_batch.h"

/* Sets cache_cap[] and cache_slots[] for a per-CPU budget shared out over
 * the classes <= max_size. Before any cache is made. */
void cache_calibrate_init(size_t budget, size_t max_size);

/* A miss of class cls on cc: one batch more room for it, if it has less
 * than its stack and the CPU's caps fit the budget. 1 if it grew.
 * cache_grow() takes cc's lock if it is free (else does nothing);
 * cache_grow_locked() is for a caller that holds it. */
int cache_grow(struct cpu_cache *cc, unsigned cls);
int cache_grow_locked(struct cpu_cache *cc, unsigned cls);

/* Resizes the caps of one CPU for the next generation. The caller holds
 * cc's lock, and local is empty (so any cap <= cache_slots is safe). */
void cache_calibrate(struct cpu_cache *cc);

#endif
