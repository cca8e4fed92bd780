/* SPDX-License-Identifier: MIT */
/*
 * cpu.h - the platform contract: which per-CPU cache a thread uses, and how
 * a critical section on it is made. One #if chain picks the mode at build
 * time (x86-64 has rseq sequences, others only the fallback); cpu_init()
 * picks it at run time.
 *
 * CPU_MODE_RSEQ (the default where it works): the cache of the CPU the thread
 * runs on, by cpu_id from the restartable-sequences area glibc (>= 2.35)
 * registers for every thread. Pop and push are restartable sequences
 * (rseq_x86_64.h): no lock, no atomic read-modify-write. Needs glibc's
 * registration (__rseq_size > 0) and membarrier(REGISTER_PRIVATE_EXPEDITED_RSEQ)
 * with per-CPU fences (Linux >= 5.10), which is how another thread (the flush)
 * stops a CPU's sequences before it touches that CPU's cache.
 *
 * CPU_MODE_LOCKED (fallback: GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind,
 * old kernels, non-x86): each thread is given a home cache slot, round robin,
 * and takes that slot's spinlock around every operation; if the lock is busy
 * it moves to the next slot, so threads spread out like CPUs would. The lock,
 * not the CPU, excludes, so migration never matters.
 */
#ifndef POOLALLOC_CPU_H
#define POOLALLOC_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#if defined(__x86_64__)
#define CPU_HAVE_RSEQ 1
#else
#define CPU_HAVE_RSEQ 0
#endif

enum cpu_mode {
    CPU_MODE_LOCKED,
    CPU_MODE_RSEQ,
};

extern enum cpu_mode cpu_mode;
extern ptrdiff_t cpu_rseq_offset;   /* glibc's __rseq_offset, 0 if not registered */
extern const char *cpu_fallback_reason;

/* Picks the mode: RSEQ if allowed and everything it needs works. Run once,
 * before any cache is used. */
void cpu_init(int allow_rseq);
const char *cpu_mode_name(void);

/* Number of CPUs the kernel may ever report (from /sys/.../possible). */
unsigned cpu_possible(void);

/* Restarts every restartable sequence running on `cpu` (every CPU if cpu is
 * -1) and orders it after the caller's earlier stores. RSEQ mode only. */
void cpu_fence(int cpu);

/* After fork, in the child: the membarrier registration is redone. */
void cpu_after_fork_child(void);

unsigned cpu_current_slow(void);

static inline void *cpu_thread_pointer(void)
{
#if defined(__x86_64__)
    void *tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
#else
    return __builtin_thread_pointer();
#endif
}

/* The CPU this thread runs on now (may be stale by the time it is used). */
static inline unsigned cpu_current(void)
{
    if (likely(cpu_rseq_offset)) {
        const volatile int32_t *id =
            (const volatile int32_t *)((char *)cpu_thread_pointer() + cpu_rseq_offset + 4);
        int32_t v = *id;
        if (likely(v >= 0))
            return (unsigned)v;
    }
    return cpu_current_slow();
}

#endif
