/* SPDX-License-Identifier: MIT */
/*
 * rseq_x86_64.h - the four restartable sequences of the per-CPU caches,
 * x86-64: the fast path's pop and push of one object (RSEQ_POP, RSEQ_PUSH)
 * and the slow paths' moves of a batch (RSEQ_POP_BATCH, RSEQ_PUSH_BATCH).
 * The only file with inline assembly.
 *
 * ABI relied on (Linux include/uapi/linux/rseq.h, glibc >= 2.35 <sys/rseq.h>):
 *   - glibc registered a struct rseq for this thread at %fs:0 + __rseq_offset;
 *     offset 4 is cpu_id (the CPU the thread runs on, kept current by the
 *     kernel), offset 8 is rseq_cs (pointer to the active descriptor).
 *   - A descriptor struct rseq_cs {u32 version = 0; u32 flags = 0; u64 start_ip;
 *     u64 post_commit_offset; u64 abort_ip}, 32-byte aligned, lives in section
 *     __rseq_cs. If the thread is preempted, migrated or signalled while its IP is
 *     in [start_ip, start_ip + post_commit_offset), the kernel resumes it at
 *     abort_ip instead (and clears rseq_cs).
 *   - The 4 bytes before abort_ip are the signature glibc registered with,
 *     RSEQ_SIG = 0x53053053 on x86.
 *
 * Each sequence: store the descriptor's address into rseq_cs, read cpu_id, do
 * plain loads and stores on that CPU's cache, and end with one store, the
 * commit, of the stack count. Nothing in it calls a function or makes a
 * syscall. The abort handler jumps back to before the descriptor store, so an
 * interrupted sequence simply runs again from the start, on whatever CPU the
 * thread is then on. Stores before the commit (a slot, a counter) are
 * harmless when repeated: a slot above the count is not in the stack, and a
 * counter can only over-count by the number of aborts.
 *
 * A sequence gives up (returns NULL / 0) when the stack is empty (pop) or at
 * capacity (push); the caller then takes its slow path. A CPU with no cache
 * yet, or whose cache the flush has stopped, has the parked cache in the
 * table (cache.h): every stack of it is empty with capacity 0, so every
 * sequence gives up there (or moves nothing) without a test of its own.
 */
#ifndef POOLALLOC_RSEQ_X86_64_H
#define POOLALLOC_RSEQ_X86_64_H

#include <stddef.h>
#include <stdint.h>

#define RSEQ_SIG 0x53053053
#define RSEQ_STR_(x) #x
#define RSEQ_STR(x) RSEQ_STR_(x)

/* The descriptor, emitted once per inlined copy of a sequence. */
#define RSEQ_CS_DESCRIPTOR(start, post, abort)                                             \
    ".pushsection __rseq_cs, \"aw\"\n\t"                                                   \
    ".balign 32\n\t"                                                                       \
    "66:\n\t"                                                                              \
    ".long 0, 0\n\t"                                                                       \
    ".quad " #start "f, (" #post "f - " #start "f), " #abort "f\n\t"                       \
    ".popsection\n\t"

/* The abort handler, out of line: signature, then back to the restart point. */
#define RSEQ_ABORT(abort, restart)                                                         \
    ".pushsection .text.unlikely, \"ax\"\n\t"                                              \
    ".long " RSEQ_STR(RSEQ_SIG) "\n\t"                                                     \
    #abort ":\n\t"                                                                         \
    "jmp " #restart "b\n\t"                                                                \
    ".popsection\n\t"

/*
 * The start every sequence shares: store the descriptor's address (label
 * 66, see RSEQ_CS_DESCRIPTOR) into rseq_cs; then, from label 3 where the
 * critical section begins, this CPU's cache_class entry into [tmp] and its
 * count into [cnt]. Operands it names: tmp, cnt (outputs), off, tab, cls.
 */
#define RSEQ_ENTRY                                                                         \
    "leaq 66b(%%rip), %[tmp]\n\t"                                                          \
    "movq %[tmp], %%fs:8(%[off])\n\t"                                                      \
    "3:\n\t"                                                                               \
    "movl %%fs:4(%[off]), %k[cnt]\n\t"                                                     \
    "movq (%[tab], %[cnt], 8), %[tmp]\n\t"                                                 \
    "addq %[cls], %[tmp]\n\t"                                                              \
    "movl (%[tmp]), %k[cnt]\n\t"

/*
 * Pops the top of the local stack of the class whose cache_class entry is at
 * byte offset `cls_off` inside this CPU's array of them, and adds one to the
 * counter at `ctr_off` inside that entry; if the stack is empty it jumps to
 * the C label `miss_` instead (an asm goto, like the push: no result test,
 * and result_ is only meaningful when it falls through).
 *   table:    cache_rseq_table (by CPU number, the CPU's struct cache_class array;
 *             never NULL)
 * Entry layout relied on: u32 count at 0, void **slots at 8.
 */
#define RSEQ_POP(result_, miss_, rseq_off_, table_, cls_off_, ctr_off_)                    \
    do {                                                                                   \
        uint64_t rp_tmp, rp_cnt;                                                           \
        __asm__ volatile goto(RSEQ_CS_DESCRIPTOR(3, 4, 5)                                  \
                         "1:\n\t"                                                          \
                         RSEQ_ENTRY                                                        \
                         "subl $1, %k[cnt]\n\t"                                            \
                         "jb %l[" #miss_ "]\n\t"                                           \
                         "movq 8(%[tmp]), %[res]\n\t"                                      \
                         "movq (%[res], %[cnt], 8), %[res]\n\t"                            \
                         "incq %c[ctr](%[tmp])\n\t"                                        \
                         "movl %k[cnt], (%[tmp])\n\t"                                      \
                         "4:\n\t"                                                          \
                         RSEQ_ABORT(5, 1)                                                  \
                         : [res] "=&a"(result_), [tmp] "=&r"(rp_tmp), [cnt] "=&r"(rp_cnt)  \
                         : [off] "r"(rseq_off_), [tab] "r"(table_), [cls] "r"(cls_off_),   \
                           [ctr] "i"(ctr_off_)                                             \
                         : "memory", "cc"                                                  \
                         : miss_); /* a label: cannot be parenthesised */ /* NOLINT */     \
        (void)rp_tmp, (void)rp_cnt;                                                        \
    } while (0)

/*
 * Pushes p on the local stack if it holds fewer than its capacity (the u32 at
 * cap_off in the entry) and p is not already its top (a double free, told
 * apart by the slow path; an empty stack's slot -1 is a NULL sentinel),
 * adding one to the counter at ctr_off; on any give-up it jumps to the C
 * label `miss_`. An asm goto, so no register is spent on a
 * result: callers then need no prologue. Nothing the sequence reads on a
 * restart is ever overwritten by it.
 */
#define RSEQ_PUSH(miss_, rseq_off_, table_, cls_off_, ctr_off_, cap_off_, p_)              \
    do {                                                                                   \
        uint64_t rp_tmp, rp_cnt, rp_slots;                                                 \
        __asm__ volatile goto(RSEQ_CS_DESCRIPTOR(3, 4, 5)                                  \
                     "1:\n\t"                                                              \
                     RSEQ_ENTRY                                                            \
                     "cmpl %c[cap](%[tmp]), %k[cnt]\n\t"                                   \
                     "jae %l[" #miss_ "]\n\t"                                              \
                     "movq 8(%[tmp]), %[slots]\n\t"                                        \
                     "cmpq %[p], -8(%[slots], %[cnt], 8)\n\t"                              \
                     "je %l[" #miss_ "]\n\t"                                               \
                     "movq %[p], (%[slots], %[cnt], 8)\n\t"                                \
                     "incq %c[ctr](%[tmp])\n\t"                                            \
                     "addl $1, %k[cnt]\n\t"                                                \
                     "movl %k[cnt], (%[tmp])\n\t"                                          \
                     "4:\n\t"                                                              \
                     RSEQ_ABORT(5, 1)                                                      \
                     : [tmp] "=&r"(rp_tmp), [cnt] "=&r"(rp_cnt), [slots] "=&r"(rp_slots)   \
                     : [off] "r"(rseq_off_), [tab] "r"(table_), [cls] "r"(cls_off_),       \
                       [ctr] "i"(ctr_off_), [cap] "i"(cap_off_),                           \
                       [p] "r"(p_)                                                         \
                     : "memory", "cc"                                                      \
                     : miss_); /* a label: cannot be parenthesised */ /* NOLINT */         \
        (void)rp_tmp, (void)rp_cnt, (void)rp_slots;                                        \
    } while (0)

/*
 * The slow paths' moves of a batch between this CPU's local stack and a
 * buffer, one sequence for the whole batch (a copy loop inside it) instead of
 * one sequence per object. `n_` (unsigned) is how many were moved, 0 on a
 * give-up; `ctr_off_` counts them. Nothing is checked for double frees: the
 * objects come from central or go to it.
 *
 * RSEQ_POP_BATCH: moves min(want, count) objects off the top of the stack
 * into buf[0..n), in stack order. Stores into buf before the commit are
 * harmless when repeated: only buf[0..n) of the committed run is used.
 */
#define RSEQ_POP_BATCH(n_, rseq_off_, table_, cls_off_, ctr_off_, buf_, want_)             \
    do {                                                                                   \
        uint64_t rb_tmp, rb_cnt, rb_slots, rb_i, rb_v;                                     \
        __asm__ volatile(RSEQ_CS_DESCRIPTOR(3, 4, 5)                                       \
                         "1:\n\t"                                                          \
                         "xorl %k[n], %k[n]\n\t"                                           \
                         RSEQ_ENTRY                                                        \
                         "movl %k[want], %k[n]\n\t"                                        \
                         "cmpl %k[cnt], %k[n]\n\t"                                         \
                         "cmoval %k[cnt], %k[n]\n\t"                                       \
                         "testl %k[n], %k[n]\n\t"                                          \
                         "jz 4f\n\t"                                                       \
                         "subl %k[n], %k[cnt]\n\t"                                         \
                         "movq 8(%[tmp]), %[slots]\n\t"                                    \
                         "leaq (%[slots], %[cnt], 8), %[slots]\n\t"                        \
                         "xorl %k[i], %k[i]\n\t"                                           \
                         "2:\n\t"                                                          \
                         "movq (%[slots], %[i], 8), %[v]\n\t"                              \
                         "movq %[v], (%[buf], %[i], 8)\n\t"                                \
                         "addl $1, %k[i]\n\t"                                              \
                         "cmpl %k[n], %k[i]\n\t"                                           \
                         "jb 2b\n\t"                                                       \
                         "addq %q[n], %c[ctr](%[tmp])\n\t"                                 \
                         "movl %k[cnt], (%[tmp])\n\t"                                      \
                         "4:\n\t"                                                          \
                         RSEQ_ABORT(5, 1)                                                  \
                         : [n] "=&r"(n_), [tmp] "=&r"(rb_tmp), [cnt] "=&r"(rb_cnt),        \
                           [slots] "=&r"(rb_slots), [i] "=&r"(rb_i), [v] "=&r"(rb_v)       \
                         : [off] "r"(rseq_off_), [tab] "r"(table_), [cls] "r"(cls_off_),   \
                           [ctr] "i"(ctr_off_), [buf] "r"(buf_), [want] "r"(want_)         \
                         : "memory", "cc");                                                \
        (void)rb_tmp, (void)rb_cnt, (void)rb_slots, (void)rb_i, (void)rb_v;                \
    } while (0)

/*
 * RSEQ_PUSH_BATCH: moves buf[0..n) onto the stack, n = min(want, cap - count);
 * want must be > 0. Slots above the count written before the commit are not
 * in the stack, so a restart that writes them again is harmless.
 */
#define RSEQ_PUSH_BATCH(n_, rseq_off_, table_, cls_off_, ctr_off_, cap_off_, buf_, want_)  \
    do {                                                                                   \
        uint64_t rb_tmp, rb_cnt, rb_slots, rb_i, rb_v;                                     \
        __asm__ volatile(RSEQ_CS_DESCRIPTOR(3, 4, 5)                                       \
                         "1:\n\t"                                                          \
                         "xorl %k[n], %k[n]\n\t"                                           \
                         RSEQ_ENTRY                                                        \
                         "movl %c[cap](%[tmp]), %k[i]\n\t"                                 \
                         "subl %k[cnt], %k[i]\n\t"                                         \
                         "jbe 4f\n\t"                                                      \
                         "movl %k[want], %k[n]\n\t"                                        \
                         "cmpl %k[i], %k[n]\n\t"                                           \
                         "cmoval %k[i], %k[n]\n\t"                                         \
                         "movq 8(%[tmp]), %[slots]\n\t"                                    \
                         "leaq (%[slots], %[cnt], 8), %[slots]\n\t"                        \
                         "xorl %k[i], %k[i]\n\t"                                           \
                         "2:\n\t"                                                          \
                         "movq (%[buf], %[i], 8), %[v]\n\t"                                \
                         "movq %[v], (%[slots], %[i], 8)\n\t"                              \
                         "addl $1, %k[i]\n\t"                                              \
                         "cmpl %k[n], %k[i]\n\t"                                           \
                         "jb 2b\n\t"                                                       \
                         "addl %k[n], %k[cnt]\n\t"                                         \
                         "addq %q[n], %c[ctr](%[tmp])\n\t"                                 \
                         "movl %k[cnt], (%[tmp])\n\t"                                      \
                         "4:\n\t"                                                          \
                         RSEQ_ABORT(5, 1)                                                  \
                         : [n] "=&r"(n_), [tmp] "=&r"(rb_tmp), [cnt] "=&r"(rb_cnt),        \
                           [slots] "=&r"(rb_slots), [i] "=&r"(rb_i), [v] "=&r"(rb_v)       \
                         : [off] "r"(rseq_off_), [tab] "r"(table_), [cls] "r"(cls_off_),   \
                           [ctr] "i"(ctr_off_), [cap] "i"(cap_off_), [buf] "r"(buf_),      \
                           [want] "r"(want_)                                               \
                         : "memory", "cc");                                                \
        (void)rb_tmp, (void)rb_cnt, (void)rb_slots, (void)rb_i, (void)rb_v;                \
    } while (0)

#endif
