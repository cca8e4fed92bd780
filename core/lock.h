/* SPDX-License-Identifier: MIT */
/*
 * lock.h - the one lock of the allocator: a test-and-set spinlock that yields
 * and knows its owner.
 *
 * Critical sections under it are short and never block or call into libc
 * (the only syscalls under a lock are mprotect on a span grab), so spinning
 * is right; after a few dozen spins the waiter yields, so a holder that was
 * preempted gets the CPU back instead of burning it.
 *
 * The lock word holds the owner's thread pointer (never 0), so lock_mine()
 * tells a thread that it already holds the lock: a signal handler that
 * interrupted the allocator on this thread uses that to pass through instead
 * of waiting for itself. All-zero is unlocked, which is also how fork's child
 * resets it.
 */
#ifndef POOLALLOC_LOCK_H
#define POOLALLOC_LOCK_H

#include <sched.h>
#include <stdatomic.h>

#include "cpu.h"
#include "util.h"

typedef struct {
    atomic_uintptr_t owner;
} pa_lock;

void lock_wait_slow(pa_lock *l);

static inline uintptr_t lock_self(void)
{
    return (uintptr_t)cpu_thread_pointer();
}

/* 1 if taken, 0 if someone (perhaps this thread) holds it; never waits. */
static inline int lock_try(pa_lock *l)
{
    uintptr_t free_ = 0;
    return atomic_compare_exchange_strong_explicit(&l->owner, &free_, lock_self(),
                                                   memory_order_acquire, memory_order_relaxed);
}

static inline void lock_take(pa_lock *l)
{
    if (likely(lock_try(l)))
        return;
    lock_wait_slow(l);
}

static inline void lock_give(pa_lock *l)
{
    atomic_store_explicit(&l->owner, 0, memory_order_release);
}

/* 1 if this thread holds the lock. */
static inline int lock_mine(pa_lock *l)
{
    return atomic_load_explicit(&l->owner, memory_order_relaxed) == lock_self();
}

/* After fork, in the only thread of the child: whoever held it is gone. */
static inline void lock_reset(pa_lock *l)
{
    atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
}

#endif
