/* SPDX-License-Identifier: MIT */
/* init.c - lazy init, constructor, destructor, fork handlers (see preload.h). */
#define _GNU_SOURCE
#include "preload.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/flush.h"
#include "../core/lock.h"
#include "../core/cpu.h"
#include "../core/log.h"
#include "../core/region.h"
#include "../sampler/sample.h"
#include "../server/server.h"
#include "../stats/stats.h"
#include "libc_heap.h"
#include "reentry.h"

enum { INIT_NONE, INIT_BUSY, INIT_DONE };

struct opt_values opt_g;
static int init_state;
static size_t (*libc_usable)(void *);
static int summary_fd = -1;            /* private copy of stderr, for the summary */
static struct stat summary_st;

/* Under AT_SECURE (a set-uid or set-gid program, or one with file
 * capabilities) the environment belongs to the user who started it, not to
 * the program's owner: every POOLALLOC_* variable is ignored, as glibc
 * ignores its MALLOC_* tunables there, so that nobody can have such a
 * program print its heap or call sites on their terminal. The defaults run,
 * and the stats server does not start (server_start). */
static const char *env_get(const char *name)
{
    if (getauxval(AT_SECURE))
        return NULL;
    return getenv(name);
}

static void warn_line(const char *line)
{
    struct logbuf b = {0};
    log_str(&b, line);
    log_str(&b, "\n");
    log_flush(&b, 2);
}

static void log_init(void)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: init pid ");
    log_u64(&b, (uint64_t)getpid());
    log_str(&b, ": mode ");
    log_str(&b, cpu_mode_name());
    if (*cpu_fallback_reason) {
        log_str(&b, " (");
        log_str(&b, cpu_fallback_reason);
        log_str(&b, ")");
    }
    log_str(&b, ", max_size ");
    log_u64(&b, core_cfg.max_size);
    log_str(&b, ", cpu_cache ");
    log_u64(&b, core_cfg.cpu_cache);
    log_str(&b, ", flush_ms ");
    log_u64(&b, core_cfg.flush_ms);
    log_str(&b, ", start_ms ");
    log_u64(&b, opt_g.start_ms);
    log_str(&b, ", start_allocs ");
    log_u64(&b, opt_g.start_allocs);
    log_str(&b, "\n");
    log_flush(&b, 2);
}

/* The pools have started (or not): when, and the region they got. */
static void log_start(int ok, uint64_t requests, uint64_t age_ms)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: start pid ");
    log_u64(&b, (uint64_t)getpid());
    log_str(&b, ": after ");
    log_u64(&b, requests);
    log_str(&b, " requests and ");
    log_u64(&b, age_ms);
    log_str(&b, " ms; ");
    if (ok) {
        log_str(&b, "region ");
        log_u64(&b, region_g.size >> 20);
        log_str(&b, " MiB (");
        log_u64(&b, region_g.size ? (uint64_t)1 << (region_g.slice_shift - 20) : 0);
        log_str(&b, " MiB per class)\n");
    } else {
        log_str(&b, "no pools, every request goes to the C library\n");
    }
    log_flush(&b, 2);
}

/*
 * The start (docs/how-it-works.md, Start-up). Init only reads the options and
 * picks the mode; the gate stays closed, so every request goes to the C
 * library and visits init_slow() (an allocation; a free, init_slow_no_start),
 * where the start is decided:
 *   - the pools (the region, the caches) start at the POOLALLOC_START_ALLOCS-th
 *     allocation: from there on they pay for themselves;
 *   - the flush thread starts then too, or at the first allocation that finds
 *     the process POOLALLOC_START_MS old; it makes the stats socket and starts
 *     sampling (start_late) once the process has lived START_MS, waking for
 *     it without the program's help.
 * So a process that ends in its first moments makes no thread, no socket and
 * no large mapping, and its exit has nothing to undo. A fork child starts the
 * same way, its clock and count from the fork (its gate held meanwhile: the
 * pools are its parent's copy), or once it has freed a real amount of what
 * it inherited (init_free_miss). START_MS=0: everything at init, the threads
 * in the constructor.
 */
enum { START_WAIT, START_DONE };

/* Written by fork and by every request before the start: PA_FORKPAGE. */
static int start_state PA_FORKPAGE;         /* the pools: START_WAIT until start_now() ran here */
static int start_thread_done PA_FORKPAGE;   /* the flush thread was asked for in this process */
static pa_lock start_lock PA_FORKPAGE;      /* start_now(); fork waits for it */
static uint64_t start_t0_ms PA_FORKPAGE;    /* CLOCK_MONOTONIC_COARSE at init or fork */
static uint64_t start_requests PA_FORKPAGE; /* requests seen while waiting */
static int start_ctor_done;           /* the constructor has run */
static int sample_started;            /* sample_start() ran in this address space */
static int server_wanted;
static int start_forked PA_FORKPAGE;  /* this process is a fork child */
static int start_child_misses PA_FORKPAGE;  /* a child's frees that missed, before its thread */

/* A fork child makes its socket no sooner than this after the fork, even with
 * START_MS=0: a child that forks only to exec has done so by then, and exec
 * would leave the socket file behind. */
#define INIT_CHILD_SOCKET_MS 100

static uint64_t coarse_ms(void)
{
    /* The coarse clock (a tick's resolution) is read from the vDSO without
     * reading the TSC: this runs on every request before the start. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The flush thread is wanted for flushing and for the stats server; it then
 * starts sampling too. With neither (docs/limits.md: for programs that must
 * stay single-threaded) the process makes no thread at all, and sampling
 * starts in the constructor. */
static int thread_wanted(void)
{
    return opt_g.flush_ms || server_wanted;
}

/* On the flush thread, once the process has lived START_MS: a clean context
 * (no allocator lock, every signal blocked, not inside malloc), as server_start
 * and sample_start want. */
static void start_late_now(int lazy)
{
    if (!sample_started) {
        sample_started = 1;
        sample_start(opt_g.sample, (int)opt_g.verbose, lazy);
    }
    server_start();
}

/* On the flush thread, at every wake: libunwind when a first sample is due
 * (after a lazy start), and glibc's heap trimmed once the pass-through is
 * idle (libc_heap.h). */
static void late_tick(void)
{
    sample_tend();
    libc_heap_tick();
}

/* On the flush thread, once the process has lived START_MS. */
static void start_late(void)
{
    start_late_now(1);
}

/* The flush thread, with `late` (start_late, or nothing) to run once the
 * process has lived START_MS (a fork child: at least INIT_CHILD_SOCKET_MS
 * after the fork), and the flush period once the pools run. Only once the
 * constructor has run: before it, libc may not be ready for a thread. Holds
 * start_lock. */
static void start_thread(void (*late)(void))
{
    if (!start_ctor_done || !thread_wanted())
        return;
    uint64_t period = core_pools_ready() ? opt_g.flush_ms : 0;
    if (start_thread_done) {
        if (period)
            flush_thread_start(period, 0, NULL);   /* the running thread takes the period */
        return;
    }
    start_thread_done = 1;
    uint64_t wait = opt_g.start_ms;
    if (start_forked && wait < INIT_CHILD_SOCKET_MS)
        wait = INIT_CHILD_SOCKET_MS;
    flush_thread_start(period, start_t0_ms + wait, late);
}

/* glibc's heap set up for the pass-through (libc_heap.h) once the flush
 * thread, which trims it, runs: with the pools, or at START_MS without them
 * (a program that makes few requests, all glibc's: python3 with pymalloc).
 * start_lock held. */
static void heap_tune_once(void)
{
    static int tried;
    if (tried || !flush_thread_runs())
        return;
    tried = 1;
    if (libc_heap_tune(opt_g.flush_ms) && opt_g.verbose)
        warn_line("poolalloc: glibc's heap: mmap threshold 32 MiB, trim threshold "
                  "64 MiB, trimmed when the pass-through is idle");
}

/* The pools, then the flush thread (with_pools 0: the thread alone, the
 * process having lived START_MS). From init (START_MS=0), the constructor,
 * an allocation's slow path, or a fork child that inherited pools. */
static void start_now(int with_pools, void (*late)(void))
{
    if (!lock_try(&start_lock))
        return;   /* another thread starts, or a handler interrupted this one */
    if (with_pools && __atomic_load_n(&start_state, __ATOMIC_RELAXED) == START_WAIT) {
        int fresh = !core_pools_ready();
        int ok = core_start_pools() == 0;
        if (opt_g.verbose && (fresh || !ok))
            log_start(ok, __atomic_load_n(&start_requests, __ATOMIC_RELAXED),
                      coarse_ms() - start_t0_ms);
        __atomic_store_n(&start_state, START_DONE, __ATOMIC_RELEASE);
    }
    start_thread(late);
    heap_tune_once();
    lock_give(&start_lock);
}

/* Before the pools start, on every allocation: is it time for them, or for the
 * thread? Not from a request nested in the allocator on this thread
 * (reentry.h, R2): the next one will do. */
static PA_NOINLINE void start_check(void)
{
    uint64_t n = __atomic_add_fetch(&start_requests, 1, __ATOMIC_RELAXED);
    int pools = n >= opt_g.start_allocs;
    if (!pools && (start_thread_done || coarse_ms() - start_t0_ms < opt_g.start_ms))
        return;
    if (reentry_nested() || !start_ctor_done)
        return;
    start_now(pools, start_late);
}

/*
 * Fork. The library registers one pthread_atfork (init_run), whose handlers
 * run every layer's in one order. glibc runs the prepare handlers before the
 * fork, then in each process the parent's or the child's:
 *
 *   prepare  sampler, start_lock, core
 *   parent   core, start_lock, sampler
 *   child    core, server, start_lock and the child's start, sampler
 *
 * A prepare step that waits for other threads runs before the steps that
 * would stop them; parent and child let go in the reverse order:
 *   - The sampler first: it waits for the threads unwinding for a sample,
 *     and libunwind mallocs as it unwinds. Were the core's locks held by this
 *     thread already, those mallocs would wait for them, and the sampler for
 *     those threads, until it gives up (a second) and forks with libunwind's
 *     locks held. It runs on every fork, sampling started or not, so that a
 *     sampler started while a fork is prepared cannot unwind into the fork.
 *   - start_lock before the core: start_now() holds it while it makes the
 *     pools and the flush thread, which take the core's locks; in the other
 *     order a starting thread and the forking one would wait for each other.
 *     No fork in the middle of a start, so the child never inherits half of
 *     one (unless a signal handler forks on the thread that is starting: it
 *     cannot wait for itself). Everyone else only tries start_lock.
 *   - The core last: it waits until no thread is in a slow path from inside
 *     glibc's allocator, then holds every allocator lock; this thread's own
 *     requests pass through to glibc from there until parent or child
 *     (reentry.h).
 *   - The child: the core first (its locks reset), so that what follows may
 *     allocate; the server forgets its parent's listener and clients before
 *     this child's start can make its own; the sampler last, so that the
 *     forking thread takes no sample in any of our handlers. The child
 *     starts no thread here (init_fork_child).
 * The program's own handlers, registered after ours, run their prepare
 * before ours and their parent and child after ours: they meet open pools.
 */
static int start_lock_forking PA_FORKPAGE;   /* init_fork_prepare took start_lock */

static void init_fork_prepare(void)
{
    sample_fork_prepare();
    /* A single-threaded process cannot be starting in another thread (and a
     * lock written here is a page copied in both processes). */
    start_lock_forking = !__libc_single_threaded && !lock_mine(&start_lock);
    if (start_lock_forking)
        lock_take(&start_lock);
    core_fork_prepare();
}

static void init_fork_parent(void)
{
    core_fork_parent();
    if (start_lock_forking)
        lock_give(&start_lock);
    sample_fork_parent();
}

/* A fork child starts like a new process, its clock and count from now: its
 * gate is held (its pools are its parent's copy), so a child that forks only
 * to exec makes nothing, no thread and no socket it could not remove. One
 * that inherited pools gets its flush thread as a new process does, at an
 * allocation (start_check), or, since it may only free what it inherited,
 * once its frees have missed the cache CHILD_FREE_MISSES times
 * (init_free_miss): about that many batches, a few MiB, stay unflushed in a
 * child that frees less and then only sleeps. Not at the fork: a thread made
 * there is made in every child, and most children exec at once, which ends
 * the thread again (a fifth of what a fork of a warm program cost). */
#define CHILD_FREE_MISSES 64

static void init_fork_child(void)
{
    core_fork_child();
    server_fork_child();
    if (start_lock_forking)
        lock_reset(&start_lock);
    start_forked = 1;
    start_t0_ms = coarse_ms();
    start_requests = 0;
    start_thread_done = 0;
    stats_mark_start();   /* uptime from the fork */
    if (start_state == START_DONE || core_pools_ready()) {
        core_hold();
        __atomic_store_n(&start_state, START_WAIT, __ATOMIC_RELAXED);
        start_child_misses = 1;   /* counting, from 1 (0: not a child with pools) */
    }
    sample_fork_child();
}

/* Init if nobody has; then, for an allocation (may_start), the start check.
 * A free never starts anything: glibc frees while it holds locks that
 * pthread_create takes (the stack cache lock, when a thread's TLS is freed at
 * its exit or join), and the flush thread started there would wait for its
 * own caller. No allocation is made under those locks, and a process has
 * nothing in its pools to free before an allocation has started them; a fork
 * child that inherits pools gets its thread in init_fork_child. */
static void init_run(int may_start)
{
    int state = __atomic_load_n(&init_state, __ATOMIC_ACQUIRE);
    if (likely(state == INIT_DONE)) {
        if (may_start && __atomic_load_n(&start_state, __ATOMIC_ACQUIRE) == START_WAIT)
            start_check();
        return;
    }
    int expect = INIT_NONE;
    if (state != INIT_NONE ||
        !__atomic_compare_exchange_n(&init_state, &expect, INIT_BUSY, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    opt_load(&opt_g, env_get, warn_line);
    /* A misspelled name would be ignored without a word (set-uid programs
     * ignore the environment altogether: env_get). */
    if (!getauxval(AT_SECURE))
        opt_warn_unknown(environ, warn_line);
    struct core_config cfg = {
        .max_size = opt_g.max_size,
        .cpu_cache = opt_g.cpu_cache,
        .flush_ms = opt_g.flush_ms,
        .verbose = (int)opt_g.verbose,
        .check = (int)opt_g.check,
    };
    core_configure(&cfg);
    server_wanted = server_configure(&opt_g);
    start_t0_ms = coarse_ms();
    stats_mark_start();
    /* The one pthread_atfork (the fork handlers above). May allocate: that
     * request passes through (state is INIT_BUSY). */
    pthread_atfork(init_fork_prepare, init_fork_parent, init_fork_child);
    if (opt_g.verbose)
        log_init();
    __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
    if (!opt_g.start_ms)
        start_now(1, NULL);   /* the pools now; the rest from the constructor */
}

void init_slow(void)
{
    init_run(1);
}

void init_slow_no_start(void)
{
    init_run(0);
}

/* 1 unless `caller` is known to lie outside the C library and the dynamic
 * loader: they free while holding the lock that starting a thread takes (the
 * stack cache's, as a thread's TLS is freed at its exit or join), so a
 * thread started from such a free would wait for its own caller. An address
 * in this library means free() was not left by a tail call (malloc.c,
 * free_miss_owned): its caller is unknown. */
static int caller_may_hold_libc_locks(const void *caller)
{
    Dl_info at, other;
    if (!caller)
        return 1;
    if (!dladdr(caller, &at))
        return 0;   /* code no object claims (generated code): not theirs */
    if (at.dli_fbase == (void *)getauxval(AT_BASE))
        return 1;   /* the dynamic loader */
    if (dladdr((void *)init_free_miss, &other) && at.dli_fbase == other.dli_fbase)
        return 1;   /* ours */
    return dladdr((void *)__libc_free, &other) && at.dli_fbase == other.dli_fbase;
}

void init_free_miss(const void *caller)
{
    init_run(0);
    if (likely(!start_child_misses) || start_thread_done)
        return;
    if (start_child_misses < CHILD_FREE_MISSES) {
        start_child_misses++;
        return;
    }
    /* Not nested in our own calls (reentry.h, R2), and not from code that
     * may hold the stack cache lock; the next miss asks again. */
    if (reentry_nested() || !start_ctor_done || caller_may_hold_libc_locks(caller))
        return;
    start_now(0, start_late);
}

/* With POOLALLOC_STATS=1 only: keep a close-on-exec copy of stderr at a high
 * descriptor, because many programs (coreutils' sort, ls...) close stderr
 * before exit handlers run. The copy is used at exit only if it still names
 * the same file: if the program closed it and reused the number, it is left
 * alone. */
static void keep_stderr(void)
{
    struct stat st;
    if (fstat(2, &st) != 0)
        return;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 1000);
    if (fd < 0)
        fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
    if (fd < 0)
        return;
    summary_fd = fd;
    summary_st = st;
}

static int summary_target(void)
{
    struct stat st;
    if (fcntl(2, F_GETFD) != -1)
        return 2;
    if (summary_fd >= 0 && fstat(summary_fd, &st) == 0 && st.st_dev == summary_st.st_dev &&
        st.st_ino == summary_st.st_ino)
        return summary_fd;
    return -1;
}

/* Runs before main, after libc is up: the clean context in which a thread
 * can be started and dlsym called. With the default start it makes nothing:
 * the start comes later (start_now). */
__attribute__((constructor)) static void init_ctor(void)
{
    init_slow();
    /* glibc's own malloc_usable_size, for the blocks we pass through (not
     * RTLD_NEXT's: Debian's redis-server links jemalloc, which crashes on a
     * glibc block). NULL: init_libc_usable() reads glibc's chunk header. */
    libc_usable = (size_t(*)(void *))libc_own("malloc_usable_size");
    if (opt_g.stats)
        keep_stderr();
    flush_set_tick(late_tick);
    __atomic_store_n(&start_ctor_done, 1, __ATOMIC_RELEASE);
    /* No thread will ever run start_late(): sampling starts here (a clean
     * context), as it must not inside malloc. */
    if (!thread_wanted() && opt_g.sample) {
        sample_started = 1;
        sample_start(opt_g.sample, (int)opt_g.verbose, 0);
    }
    if (!opt_g.start_ms) {
        /* Everything at start: the socket and sampling (libunwind too) here,
         * before main, then the flush thread. */
        if (thread_wanted())
            start_late_now(0);
        start_now(1, NULL);
    }
}

__attribute__((destructor)) static void init_dtor(void)
{
    server_stop();
    if (!opt_g.stats)
        return;
    int fd = summary_target();
    if (fd >= 0)
        stats_print_summary(fd);
}

size_t init_libc_usable(void *p)
{
    if (libc_usable)
        return libc_usable(p);
    return libc_chunk_usable(p);   /* before the constructor */
}
