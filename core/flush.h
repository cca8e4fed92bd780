/* SPDX-License-Identifier: MIT */
/*
 * flush.h - generations: every flush period each CPU's cache becomes its
 * victim and the old victim goes back to the central lists, then spans left
 * idle give their pages back to the OS.
 *
 * flush_run() and flush_run_periodic() are the whole generation step and may
 * be called by anyone not inside a cache. The flush thread runs the periodic
 * one, which gives back only idle spans: those the victims' return emptied,
 * and those empty since before the previous flush; a span the program's frees
 * emptied during the period that just ended waits for the next flush, in case
 * the program wants it again (central.h says how). So memory idle for two
 * periods has still left the pools and gone back to the OS. flush_run(), for
 * a stats request (`poolstat flush`) or a test, gives back every empty span
 * at once: who asks for a flush wants the memory back now. The flush thread
 * is a plain pthread with every signal blocked, sleeping one period between
 * runs; it touches every CPU's cache, including CPUs nobody runs on any more.
 * It also ends the process when the program has no thread left (orphan.h),
 * and it is where the preload layer's deferred start runs (flush_thread_start).
 */
#ifndef POOLALLOC_FLUSH_H
#define POOLALLOC_FLUSH_H

#include <stdint.h>
#include <stddef.h>

struct flush_totals {
    uint64_t generations;     /* flushes run */
    uint64_t returned_bytes;  /* pages given back to the OS, cumulative */
};

/* Runs one generation over every CPU and class and releases every empty
 * span. Returns bytes given back. */
size_t flush_run(void);

/* The same generation, releasing only idle spans (above): what the flush
 * thread runs every period. Returns bytes given back. */
size_t flush_run_periodic(void);

void flush_totals(struct flush_totals *t);

/* Starts the flush thread: a generation every period_ms (0: none; the thread
 * then only watches for a program that has left, orphan.h, for a stats
 * server's sake), and at_start (if not NULL) run once on the thread when
 * CLOCK_MONOTONIC reaches start_at_ms, before any generation: a clean
 * context, with no allocator lock held and every signal blocked, for work
 * that must not run inside malloc or fork (the preload layer starts the stats
 * server and sampling there). If the thread runs already, a period_ms > 0
 * becomes its period (the pools started after it) and the rest is ignored.
 * Returns 0, or -1 if the thread could not be made. Must be called with no
 * allocator lock held. */
int flush_thread_start(uint64_t period_ms, uint64_t start_at_ms, void (*at_start)(void));

/* flush_thread_start(period_ms, 0, NULL) when period_ms > 0; nothing for 0. */
int flush_start(uint64_t period_ms);

/* 1 while the thread runs in this process (not after a fork, in the child). */
int flush_thread_runs(void);

/* A call the thread makes at every wake (at most ORPHAN_CHECK_MS apart), on
 * its clean context: for the layers above (the sampler's unwinder, loaded
 * when first wanted). NULL: none. */
void flush_set_tick(void (*tick)(void));

/* For fork: the flush lock, and forgetting the thread in the child. */
void flush_lock_for_fork(void);
void flush_unlock_after_fork(int child);


#endif
