/* SPDX-License-Identifier: MIT */
/*
 * core.h - the allocator as one unit: configuration, init, fork, and the
 * gate the preload layer tests on every request.
 *
 * core/ knows nothing of environment variables, sockets or symbols: the
 * preload layer fills a struct core_config and calls core_init() once.
 *
 *     1 <= n <= core_gate   =>  the request may be served by cache_alloc()
 *
 * core_gate is the configured max_size while the allocator is ready, and 0
 * while it is not (before core_start_pools, which the preload layer defers
 * until a process has lived a while or allocated a real amount), while it is
 * held (core_hold: a fork child until its own start): one compare on the fast
 * path covers them all, and every request meanwhile visits the preload slow
 * path, where the start is decided.
 * core_gate_small is the same for requests of at most SC_SMALL_MAX bytes
 * (min(max_size, SC_SMALL_MAX), or 0), so that malloc's common case makes
 * one compare that also picks the small size table.
 */
#ifndef POOLALLOC_CORE_H
#define POOLALLOC_CORE_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct core_config {
    size_t max_size;    /* largest request served from pools (<= SC_MAX_SIZE) */
    size_t cpu_cache;   /* per-CPU cache budget, bytes */
    uint64_t flush_ms;  /* flush period; 0 = never */
    int verbose;
    int no_rseq;        /* 1: the LOCKED fallback even where rseq works */
    int check;          /* 1: POOLALLOC_CHECK: no caching, so every free reaches its span */
};

extern size_t core_gate PA_HIDDEN;
extern size_t core_gate_small PA_HIDDEN;
extern struct core_config core_cfg;

/* Builds every table and reserves the region: core_configure() then
 * core_start_pools(). Returns 0, or -1 when the pools cannot be used at all
 * (then core_gate stays 0 and core_owns() is false). Not thread-safe: the
 * caller serialises it. */
int core_init(const struct core_config *cfg);

/* The first half of core_init(): keeps the configuration, builds the size
 * tables and picks the mode (cpu_init: two membarrier calls, microseconds);
 * reserves nothing, maps nothing, and leaves the gate closed, so that
 * every request goes to the C library until core_start_pools(). -1 if the
 * configuration allows no pools (max_size 0). */
int core_configure(const struct core_config *cfg);

/* The second half: reserves the region, builds the
 * central lists and the caches, and opens the gate. In a fork child whose gate
 * is held (core_hold) it only opens the gate again. Returns 0, or -1 (the gate
 * stays closed; a failure is not retried). No allocator lock may be held: the
 * preload layer calls it from the constructor or from its slow path, and
 * serialises it. */
int core_start_pools(void);

/* 1 once core_start_pools() has succeeded in this address space. */
int core_pools_ready(void);

/* Starts the flush thread if the pools run and a period is set, from a clean
 * context with no allocator lock held. 0, or -1 if the thread could not be
 * made. */
int core_start_background(void);

/* Closes the gate until the next core_start_pools(): every request goes to
 * the C library meanwhile (and visits the preload slow path). For a fork
 * child, which starts like a new process. */
void core_hold(void);

/* Called from the preload slow path when core_gate is 0: opens the gate if
 * the pools run and are not held (cheap when not). No allocator lock may be
 * held. */
void core_attend(void);

/* pthread_atfork handlers. */
void core_fork_prepare(void);
void core_fork_parent(void);
void core_fork_child(void);

#endif
