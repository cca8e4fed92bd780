/* flush.c - the generation step and the flush thread (see flush.h). */
#define _GNU_SOURCE
#include "flush.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include "cache.h"
#include "central.h"
#include "lock.h"
#include "orphan.h"

static pa_lock flush_lock;            /* one generation step at a time */
static void (*flush_hook)(void);
static uint64_t flush_generations, flush_returned;
static uint64_t flush_period_ms;
static int flush_thread_running;
static int flush_thread_failed;       /* pthread_create said no: do not retry */

/* One generation; idle_only: release only the idle empty spans (central.h)
 * instead of every empty one. */
static size_t generation(int idle_only)
{
    size_t bytes = 0;
    lock_take(&flush_lock);
    /* Before the drain (central.h). A class with no span yet has nothing to
     * age; one that gets its first span during the drain can only have spans
     * emptied in the drain's time, and those go. */
    if (idle_only)
        for (unsigned c = 0; c < SC_COUNT; c++)
            if (__atomic_load_n(&central_g[c].spans_made, __ATOMIC_RELAXED))
                central_age(c);
    for (unsigned i = 0; i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = __atomic_load_n(&cache_cpus[i], __ATOMIC_ACQUIRE);
        if (!cc)
            continue;
        cache_flush_cpu(cc);
    }
    for (unsigned c = 0; c < SC_COUNT; c++)
        if (__atomic_load_n(&central_g[c].spans_made, __ATOMIC_RELAXED))
            bytes += idle_only ? central_release_idle(c) : central_release(c);
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

void flush_set_hook(void (*fn)(void))
{
    __atomic_store_n(&flush_hook, fn, __ATOMIC_RELEASE);
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

/* Wakes every ORPHAN_CHECK_MS to see whether the program has left (orphan.h),
 * and runs a generation every period (none when the period is 0: the thread
 * then only watches, for a stats server's sake). */
static void *flush_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "poolalloc-flush", 0, 0, 0);
    orphan_own_thread();
    struct timespec next_flush;
    clock_gettime(CLOCK_MONOTONIC, &next_flush);
    add_ms(&next_flush, flush_period_ms);
    for (;;) {
        struct timespec wake;
        clock_gettime(CLOCK_MONOTONIC, &wake);
        add_ms(&wake, ORPHAN_CHECK_MS);
        if (flush_period_ms && before(&next_flush, &wake))
            wake = next_flush;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) != 0)
            ;
        if (orphan_alone())
            exit(0);   /* what glibc does when the last thread ends */
        if (!flush_period_ms || before(&wake, &next_flush))
            continue;
        add_ms(&next_flush, flush_period_ms);
        if (before(&next_flush, &wake)) {   /* fell behind (a stopped process) */
            next_flush = wake;
            add_ms(&next_flush, flush_period_ms);
        }
        flush_run_periodic();
        void (*hook)(void) = __atomic_load_n(&flush_hook, __ATOMIC_ACQUIRE);
        if (hook)
            hook();
    }
    return NULL;
}

static int start_thread(void)
{
    if (flush_thread_running)
        return 0;
    /* The thread is created with every signal blocked, so the program's
     * signals are never delivered to it; the caller's mask is restored. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    int rc = pthread_create(&t, &attr, flush_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        flush_thread_running = 1;
    else
        flush_thread_failed = 1;
    return rc == 0 ? 0 : -1;
}

int flush_start(uint64_t period_ms)
{
    flush_period_ms = period_ms;
    if (period_ms == 0)
        return 0;
    return start_thread();
}

int flush_watch_start(void)
{
    return start_thread();
}

int flush_thread_wanted(void)
{
    return flush_period_ms && !flush_thread_running && !flush_thread_failed;
}

void flush_lock_for_fork(void)
{
    lock_take(&flush_lock);
}

void flush_unlock_after_fork(int child)
{
    if (child) {
        lock_reset(&flush_lock);
        flush_thread_running = 0;
        orphan_forget_after_fork();
    } else {
        lock_give(&flush_lock);
    }
}
