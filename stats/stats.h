/*
 * stats.h - what the allocator counts, gathered into one snapshot, and the
 * renderers of it (the exit summary today).
 *
 * Process-wide counters kept here (pass-through requests) are per-CPU slots
 * of relaxed atomics, summed when read. Everything else is read from core/:
 * the per-CPU per-class counters (counters.h) summed over CPUs, the central
 * lists' gauges, the flush totals.
 *
 * Exact: every figure of a class when the program is quiescent; with threads
 * running, each figure is exact in itself but the snapshot is not a single
 * instant (counters are read without stopping the CPUs).
 *
 *     in_use = objs_out - local - victim        (objects in the program's hands)
 */
#ifndef POOLALLOC_STATS_H
#define POOLALLOC_STATS_H

#include <stdint.h>

#include "../core/counters.h"
#include "../core/sizeclass.h"

struct stats_class {
    uint32_t size;
    uint64_t in_use;      /* objects held by the program */
    uint64_t local;       /* objects in CPU caches */
    uint64_t victim;      /* objects in CPU victims */
    uint64_t central;     /* free objects in spans not released */
    uint64_t spans;       /* spans with resident pages */
    uint64_t cap;         /* cache capacity per CPU, objects */
    struct cache_counters ctr;
};

struct stats_snapshot {
    uint64_t pid;
    const char *mode;
    unsigned cpus;            /* CPUs whose cache exists */
    uint64_t passthrough_allocs, passthrough_bytes, passthrough_frees;
    uint64_t flushes, returned_bytes, released_spans;
    uint64_t reserved_bytes, metadata_bytes;
    struct stats_class cls[SC_COUNT];
};

/* A request that went to the C library (n bytes). Lock-free, cheap. */
void stats_passthrough_alloc(uint64_t n);
void stats_passthrough_free(void);

void stats_snapshot(struct stats_snapshot *s);

/* Writes the per-class summary to fd, with write(2) only. */
void stats_print_summary(int fd);

#endif
