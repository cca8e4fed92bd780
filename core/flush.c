/* SPDX-License-Identifier: MIT */
/* flush.c - the generation step and the flush thread (see flush.h). */
#define _GNU_SOURCE
#include "flush.h"

#include <stdlib.h>
#include <time.h>

#include "cache.h"
#include "central.h"
#include "lock.h"
#include "orphan.h"
#include "thread.h"

static pa_lock flush_lock PA_FORKPAGE; /* one generation step at a time */
static uint64_t flush_generations, flush_returned;
static uint64_t flush_period_ms PA_FORKPAGE;
static uint64_t flush_start_at_ms;    /* CLOCK_MONOTONIC, for flush_at_start */
static void (*flush_at_start)(void);  /* run once by the thread, then forgotten */
static int flush_thread_running PA_FORKPAGE;
static void (*flush_tick)(void);      /* run at every wake (flush_set_tick) */

/* One generation; idle_only: release only the idle empty spans (central.h)
 * instead of every empty one. */
static size_t generation(int idle_only)
{
    size_t bytes = 0;
    lock_take(&flush_lock);
    /* Before the pools start there are no caches (cache_cpus NULL) and no
     * spans: nothing to do, but the count. */
    struct cpu_cache **cpus = __atomic_load_n(&cache_cpus, __ATOMIC_ACQUIRE);
    /* Before the drain (central.h). A class with no span yet has nothing to
     * age; one that gets its first span during the drain can only have spans
     * emptied in the drain's time, and those go. */
    if (idle_only)
        for (unsigned c = 0; c < SC_COUNT; c++)
            if (__atomic_load_n(&central_g[c].spans_made, __ATOMIC_RELAXED))
                central_age(c);
    for (unsigned i = 0; cpus && i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = __atomic_load_n(&cpus[i], __ATOMIC_ACQUIRE);
        if (!cc)
            continue;
        cache_flush_cpu(cc);
    }
    for (unsigned c = 0; c < SC_COUNT; c++)
        if (__atomic_load_n(&central_g[c].spans_made, __ATOMIC_RELAXED))
            bytes += idle_only ? central_release_idle(c) : central_release(c);
    central_moves_refill();
    __atomic_store_n(&flush_generations, flush_generations + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&flush_returned, flush_returned + bytes, __ATOMIC_RELAXED);
    lock_give(&flush_lock);
    return bytes;
}

size_t flush_run(void)
{
    return generation(0);
}

size_t flush_run_periodic(void)
{
    return generation(1);
}

void flush_totals(struct flush_totals *t)
{
    t->generations = __atomic_load_n(&flush_generations, __ATOMIC_RELAXED);
    t->returned_bytes = __atomic_load_n(&flush_returned, __ATOMIC_RELAXED);
}

static void add_ms(struct timespec *t, uint64_t ms)
{
    t->tv_sec += (time_t)(ms / 1000);
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static int before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void ms_to_ts(struct timespec *t, uint64_t ms)
{
    t->tv_sec = (time_t)(ms / 1000);
    t->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* Wakes every ORPHAN_CHECK_MS to see whether the program has left (orphan.h),
 * runs flush_at_start once its time has come, and a generation every period
 * (none when the period is 0: the thread then only watches, for a stats
 * server's sake). */
static void *flush_main(void *arg)
{
    (void)arg;
    orphan_own_thread();
    void (*at_start)(void) = flush_at_start;
    struct timespec start_at, next_flush = {0, 0};
    ms_to_ts(&start_at, flush_start_at_ms);
    uint64_t period = 0;   /* the period next_flush was set for; 0: none yet */
    for (;;) {
        struct timespec wake;
        clock_gettime(CLOCK_MONOTONIC, &wake);
        if (at_start && !before(&wake, &start_at)) {
            at_start();
            at_start = NULL;
            continue;
        }
        uint64_t want = __atomic_load_n(&flush_period_ms, __ATOMIC_ACQUIRE);
        if (want != period) {   /* the first period, or the pools started since */
            period = want;
            next_flush = wake;
            add_ms(&next_flush, period);
        }
        add_ms(&wake, ORPHAN_CHECK_MS);
        if (at_start && before(&start_at, &wake))
            wake = start_at;
        if (period && before(&next_flush, &wake))
            wake = next_flush;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) != 0)
            ;
        if (orphan_alone())
            exit(0);   /* what glibc does when the last thread ends */
        void (*tick)(void) = __atomic_load_n(&flush_tick, __ATOMIC_ACQUIRE);
        if (tick)
            tick();
        if (!period || before(&wake, &next_flush))
            continue;
        add_ms(&next_flush, period);
        if (before(&next_flush, &wake)) {   /* fell behind (a stopped process) */
            next_flush = wake;
            add_ms(&next_flush, period);
        }
        flush_run_periodic();
    }
    return NULL;
}

int flush_thread_start(uint64_t period_ms, uint64_t start_at_ms, void (*at_start)(void))
{
    if (flush_thread_running) {
        /* Running without a period (for a stats server) when the pools start. */
        if (period_ms)
            __atomic_store_n(&flush_period_ms, period_ms, __ATOMIC_RELEASE);
        return 0;
    }
    flush_period_ms = period_ms;
    flush_start_at_ms = start_at_ms;
    flush_at_start = at_start;
    /* 256 KiB: at_start may dlopen (sampling loads libunwind), which wants
     * more than a generation does. */
    if (pa_thread_start(flush_main, 256 * 1024, "poolalloc-flush") != 0)
        return -1;
    flush_thread_running = 1;
    return 0;
}

int flush_start(uint64_t period_ms)
{
    if (period_ms == 0)
        return 0;
    return flush_thread_start(period_ms, 0, NULL);
}

void flush_set_tick(void (*tick)(void))
{
    __atomic_store_n(&flush_tick, tick, __ATOMIC_RELEASE);
}

int flush_thread_runs(void)
{
    return flush_thread_running;
}

void flush_lock_for_fork(void)
{
    lock_take(&flush_lock);
}

void flush_unlock_after_fork(int child)
{
    if (child) {
        /* Written only when there is something to undo: a page written in a
         * fork child is a page copied. */
        if (atomic_load_explicit(&flush_lock.owner, memory_order_relaxed))
            lock_reset(&flush_lock);
        if (flush_thread_running) {
            flush_thread_running = 0;
            flush_period_ms = 0;
            orphan_forget_after_fork();
        }
    } else {
        lock_give(&flush_lock);
    }
}
