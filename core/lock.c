/* SPDX-License-Identifier: MIT */
/* lock.c - the contended half of lock_take (see lock.h). */
#include "lock.h"

void lock_wait_slow(pa_lock *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&l->owner, memory_order_relaxed) && lock_try(l))
            return;
        if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield();
        }
    }
}
