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
 * while it is not, or while the core wants the preload layer to stop by its
 * slow path once (core_attend): one compare on the fast path covers both.
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

/* Builds every table and reserves the region. Returns 0, or -1 when the pools
 * cannot be used at all (then core_gate stays 0 and core_owns() is false).
 * Not thread-safe: the preload layer serialises it. */
int core_init(const struct core_config *cfg);

/* Starts what must run in a clean context (the flush thread). */
void core_start_background(void);

/* Called from the preload slow path when core_gate is 0 but the core is
 * ready: does what the core asked for (start a fork child's flush thread),
 * then opens the gate again. No allocator lock may be held. */
void core_attend(void);

/* Asks for one core_attend() at the next request. */
void core_request_attention(void);

/* pthread_atfork handlers. */
void core_fork_prepare(void);
void core_fork_parent(void);
void core_fork_child(void);

#endif
