/*
 * cpu.h - the platform contract: which CPU this thread runs on, and how a
 * per-CPU critical section is entered.
 *
 * The CPU number is read from the restartable-sequences area glibc (>= 2.35)
 * registers for every thread: one load at thread pointer + __rseq_offset.
 * Where glibc did not register (GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind,
 * old kernels) the kernel's number comes from sched_getcpu() instead.
 *
 * The critical section itself is, in this version, a per-CPU spinlock taken
 * on the cache of the CPU just read (cache.h): correct even if the thread
 * migrates while inside, since the lock, not the CPU, is what excludes. The
 * rseq fast path replaces exactly cache_enter/cache_leave and the pop/push
 * between them; nothing else knows how the section is made.
 *
 * ABI relied on (glibc's <sys/rseq.h>, Linux include/uapi/linux/rseq.h):
 *   struct rseq at fs:0 + __rseq_offset, __rseq_size > 0 when registered;
 *   offset 4: int32 cpu_id, >= 0 when registered, -1/-2 otherwise.
 */
#ifndef POOLALLOC_CPU_H
#define POOLALLOC_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum cpu_mode {
    CPU_MODE_LOCK_RSEQ_ID,    /* per-CPU lock, CPU number from the rseq area */
    CPU_MODE_LOCK_GETCPU,     /* per-CPU lock, CPU number from sched_getcpu */
};

extern ptrdiff_t cpu_rseq_offset;   /* 0 when rseq is not registered */
extern enum cpu_mode cpu_mode;

/* Reads glibc's registration once. Safe to call again. */
void cpu_init(void);
const char *cpu_mode_name(void);
/* Number of CPUs the kernel may ever report (from /sys/.../possible). */
unsigned cpu_possible(void);

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
