/* SPDX-License-Identifier: MIT */
/*
 * cache_rseq.h - RSEQ mode (see cpu.h): the slow halves that run after a
 * restartable sequence of the fast path gave up (rseq_x86_64.h). cache.c's
 * miss dispatch calls them; they call nothing above them.
 */
#ifndef POOLALLOC_CACHE_RSEQ_H
#define POOLALLOC_CACHE_RSEQ_H

#include "cache_batch.h"

/* Set while this thread is inside an RSEQ-mode slow path (or between fork's
 * prepare and parent/child handlers, core.c), so that a signal handler
 * interrupting it and calling malloc/free on the same thread never waits for
 * a lock its own thread holds: it passes through to libc, or defers the free
 * to central. (LOCKED mode tells the same by the lock's owner, lock_mine.) */
extern __thread int cache_tls_busy __attribute__((tls_model("initial-exec")));

/* Slow halves of alloc and free in RSEQ mode. NULL from alloc: pass through
 * to libc. */
void *cache_alloc_slow(unsigned cls);
void cache_free_slow(unsigned cls, void *p);

#endif
