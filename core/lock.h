/*
 * lock.h - the one lock of the allocator: a test-and-set spinlock that yields.
 *
 * Critical sections under it are short and never block or call into libc
 * (the only syscalls under a lock are mprotect on a span grab), so spinning
 * is right; after a few dozen spins the waiter yields, so a holder that was
 * preempted gets the CPU back instead of burning it. All-zero is unlocked,
 * which is also how fork's child resets it.
 */
#ifndef POOLALLOC_LOCK_H
#define POOLALLOC_LOCK_H

#include <sched.h>
#include <stdatomic.h>

#include "util.h"

typedef struct {
    atomic_int held;
} pa_lock;

void lock_wait_slow(pa_lock *l);

static inline void lock_take(pa_lock *l)
{
    if (likely(!atomic_exchange_explicit(&l->held, 1, memory_order_acquire)))
        return;
    lock_wait_slow(l);
}

/* 1 if taken, 0 if someone holds it; never waits. */
static inline int lock_try(pa_lock *l)
{
    return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

static inline void lock_give(pa_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

/* After fork, in the only thread of the child: whoever held it is gone. */
static inline void lock_reset(pa_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_relaxed);
}

#endif
