/* SPDX-License-Identifier: MIT */
/*
 * reentry.h - who may re-enter the allocator, and what each layer does about
 * it. This is the one statement of the protocol; the code that keeps a rule
 * points here (R1..R3) instead of saying it again.
 *
 * R1. glibc (or the loader) calls back into malloc while the library is busy
 *     on the same thread:
 *     - init allocates (pthread_atfork, and dlopen/dlsym in the constructor):
 *       while init_state is INIT_BUSY the gate (core.h) stays closed, so
 *       every request, from this thread or another, passes through to glibc;
 *       free() knows glibc's blocks by address and hands them back.
 *     - start_now() allocates (the flush thread's creation) under start_lock:
 *       a request then tries start_lock and goes on without it; nobody but
 *       the fork handlers waits for it.
 *     - libunwind allocates while it unwinds for a sample: sample_tls.busy,
 *       so that request is served as usual and never sampled.
 *     sample_start() (dlopen of libunwind) runs only in a clean context: the
 *     constructor or a thread of ours, never inside malloc.
 *
 * R2. A signal handler allocates or frees on the thread it interrupted.
 *     Nothing ever waits for a lock its own thread holds:
 *     - in the pools' fast path: in RSEQ mode the kernel aborts the
 *       sequence, which starts again after the handler, so the handler's
 *       requests run as any other; in LOCKED mode the home lock is this
 *       thread's (lock_mine), so they take the next rule;
 *     - in a pools' slow path (cache_tls_busy) or under a lock of this
 *       thread's (lock_mine): an allocation passes through to glibc, a free
 *       is deferred to its central list lock-free (central_defer);
 *     - in glibc's allocator (reentry_libc_enter: cache_tls_libc,
 *       sample_tls.busy): the pools serve it (but see R3), it is never
 *       sampled (a sample is glibc's, whose lock this thread may hold), and
 *       a sampled block's own call into glibc runs with every signal
 *       blocked, so no handler runs while it holds glibc's lock;
 *     - in the sampler (sample_tls.busy): not sampled; the sampler has no
 *       lock, so it cannot wait for itself;
 *     - during init or the start: as R1; no nested request starts anything
 *       (reentry_nested(), start_check).
 *
 * R3. fork() while other threads hold allocator locks, or glibc's, or are
 *     inside libunwind. The one pthread_atfork (preload/init.c, which states
 *     the order and why) stops the sampler's unwinding, takes start_lock,
 *     then every allocator lock (core_fork_prepare); parent and child let go
 *     in the reverse order, the child by resetting them. Between prepare and
 *     the fork the forking thread's own requests pass through (it holds
 *     every lock: cache_tls_busy) and are never sampled. One circle needs
 *     more, the fork guard: a thread stopped inside glibc's allocator holds
 *     an arena lock that glibc's fork will wait for; if its signal handler
 *     then waited for a pool lock held by the forking thread, each would wait
 *     for the other for ever. So a pools' slow path entered from inside glibc
 *     (cache_tls_libc) counts itself in cache_guarded_total (this thread's
 *     share: cache_tls_guarded); the prepare handler raises
 *     cache_fork_pending (a count: two threads may fork at once) and waits
 *     for that count to drop (both sides sequentially consistent: one sees
 *     the other). A slow path that sees the fork pending waits for no lock:
 *     a free is deferred, an allocation is refused (cache_tls_refused) and
 *     served from fresh pages dressed as glibc's (passthrough.c, fork_reserve),
 *     since glibc's lock is this thread's own.
 *     A fork from a signal handler does not wait for its own thread's count
 *     (cache_tls_guarded), nor for its own start (lock_mine(start_lock)),
 *     nor for its own unwinding longer than a second. It does wait for an
 *     allocator lock its thread holds: fork is not async-signal-safe.
 */
#ifndef POOLALLOC_REENTRY_H
#define POOLALLOC_REENTRY_H

#include "../core/cache.h"
#include "../sampler/sample.h"

/* Around every pass-through call into glibc's allocator (R2, R3). A sampled
 * block's call uses the sampler's quiet pair instead (sample.h). */
static inline void reentry_libc_enter(void)
{
    sample_libc_enter();
    cache_tls_libc++;
}

static inline void reentry_libc_leave(void)
{
    cache_tls_libc--;
    sample_libc_leave();
}

/* 1 if this thread is inside the pools' slow path, glibc's allocator or the
 * sampler: a request made now is nested in one of them (a signal handler,
 * R2), and must not start anything. */
static inline int reentry_nested(void)
{
    return cache_tls_busy || cache_tls_libc || sample_tls.busy;
}

#endif
