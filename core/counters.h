/* SPDX-License-Identifier: MIT */
/*
 * counters.h - every counter kept per CPU and per class, declared once.
 *
 * The X-macro generates the struct here, and the sums and renderers in
 * stats/. Counters are written by the CPU that owns the cache, inside its
 * critical section, and read without it: each is exact in itself, a
 * snapshot of several is not atomic as a whole.
 */
#ifndef POOLALLOC_COUNTERS_H
#define POOLALLOC_COUNTERS_H

#include <stdint.h>

/* X(name, one-line meaning) */
#define CACHE_COUNTERS(X)                                                      \
    X(alloc_cache, "allocations served from the CPU cache")                   \
    X(alloc_victim, "allocations revived from the CPU's victim generation")   \
    X(alloc_central, "allocations served by a refill from the central list")  \
    X(alloc_steal, "allocations taken from another CPU's victim")             \
    X(alloc_new, "allocations of objects never handed out before")             \
    X(frees, "frees of pooled objects")                                       \
    X(drops, "objects sent to the central list because a cache was full")     \
    X(underflows, "allocations that found the CPU cache empty (calibration input)") \
    X(overflows, "frees that found the CPU cache full (calibration input)")

struct cache_counters {
#define X(name, doc) uint64_t name;
    CACHE_COUNTERS(X)
#undef X
};

#endif
