/* SPDX-License-Identifier: MIT */
/*
 * floor_rseq.h - the pop and the push of tools/bench's rseq floor, the only copy of
 * their assembly: floor.c inlines them into its loop (the "rseq floor" row) and
 * floor_calls.c wraps them in two functions of libfloorcall.so that floor.c, built
 * with -DFLOOR_CALLED, calls through the GOT as micro.c calls malloc and free (the
 * "rseq floor, called" row). Benchmark code only; poolalloc's own sequences are in
 * core/rseq_x86_64.h.
 *
 * ABI relied on (the same as core/rseq_x86_64.h; Linux include/uapi/linux/rseq.h,
 * glibc >= 2.35 <sys/rseq.h>):
 *   - glibc registered a struct rseq for this thread at %fs:0 + __rseq_offset;
 *     offset 4 is cpu_id (kept current by the kernel), offset 8 is rseq_cs (the
 *     active descriptor).
 *   - A descriptor struct rseq_cs {u32 version = 0; u32 flags = 0; u64 start_ip;
 *     u64 post_commit_offset; u64 abort_ip}, 32-byte aligned, in section
 *     __rseq_cs. If the thread is preempted, migrated or signalled with its IP in
 *     [start_ip, start_ip + post_commit_offset), the kernel resumes it at abort_ip.
 *   - The 4 bytes before abort_ip are glibc's signature, 0x53053053 on x86.
 * Each sequence stores the descriptor's address into rseq_cs, reads cpu_id, loads
 * that CPU's stack, and ends with one store, the commit, of the count; the abort
 * handler jumps back to before the descriptor store, so an interrupted sequence
 * runs again from the start on whatever CPU the thread is then on. pop is 11
 * instructions, push 9. Left out on purpose: the size class, the page map, every
 * check (push has no capacity test: each stack can hold all the objects there
 * are), every counter.
 */
#ifndef FLOOR_RSEQ_H
#define FLOOR_RSEQ_H

#include <stddef.h>
#include <stdint.h>

#define FLOOR_CACHE_LINE 128

/* One CPU's stack, in the layout the sequences (and poolalloc's) rely on:
 * u32 count at offset 0, void **slots at offset 8. Padded to a cache line.
 * count never exceeds the size of slots (the filler of the table sees to it). */
struct floor_stack {
    uint32_t count;
    uint32_t pad;
    void **slots;
} __attribute__((aligned(FLOOR_CACHE_LINE)));

_Static_assert(offsetof(struct floor_stack, count) == 0, "the sequences load count at 0");
_Static_assert(offsetof(struct floor_stack, slots) == 8, "the sequences load slots at 8");

/* The descriptor of the sequence between local labels 3 and 4, abort at 5. */
#define FLOOR_CS_DESCRIPTOR                                                             \
    ".pushsection __rseq_cs, \"aw\"\n\t"                                               \
    ".balign 32\n\t"                                                                   \
    "66:\n\t"                                                                          \
    ".long 0, 0\n\t"                                                                   \
    ".quad 3f, (4f - 3f), 5f\n\t"                                                      \
    ".popsection\n\t"

/* The abort handler, out of line: the signature, then back to the restart (1). */
#define FLOOR_ABORT                                                                     \
    ".pushsection .text.unlikely, \"ax\"\n\t"                                          \
    ".long 0x53053053\n\t"                                                             \
    "5:\n\t"                                                                           \
    "jmp 1b\n\t"                                                                       \
    ".popsection\n\t"

/* Pops the top of this CPU's stack; NULL if it is empty. off = __rseq_offset; tab
 * is the table of stacks by CPU number, with an entry for every CPU the thread
 * can run on. */
static inline __attribute__((always_inline)) void *floor_pop(ptrdiff_t off,
                                                            struct floor_stack *const *tab)
{
    void *res;
    uint64_t tmp, cnt;
    __asm__ volatile(FLOOR_CS_DESCRIPTOR
                     "1:\n\t"
                     "xorl %k[res], %k[res]\n\t"
                     "leaq 66b(%%rip), %[tmp]\n\t"
                     "movq %[tmp], %%fs:8(%[off])\n\t"        /* rseq_cs = &descriptor */
                     "3:\n\t"
                     "movl %%fs:4(%[off]), %k[cnt]\n\t"       /* cpu_id */
                     "movq (%[tab], %[cnt], 8), %[tmp]\n\t"   /* its stack */
                     "movl (%[tmp]), %k[cnt]\n\t"
                     "subl $1, %k[cnt]\n\t"
                     "jb 4f\n\t"                              /* empty: NULL */
                     "movq 8(%[tmp]), %[res]\n\t"
                     "movq (%[res], %[cnt], 8), %[res]\n\t"
                     "movl %k[cnt], (%[tmp])\n\t"             /* commit: count - 1 */
                     "4:\n\t"
                     FLOOR_ABORT
                     : [res] "=&r"(res), [tmp] "=&r"(tmp), [cnt] "=&r"(cnt)
                     : [off] "r"(off), [tab] "r"(tab)
                     : "memory", "cc");
    return res;
}

/* Pushes p on this CPU's stack (which always has room). off and tab as for
 * floor_pop. */
static inline __attribute__((always_inline)) void floor_push(ptrdiff_t off,
                                                            struct floor_stack *const *tab,
                                                            void *p)
{
    uint64_t tmp, cnt, slots;
    __asm__ volatile(FLOOR_CS_DESCRIPTOR
                     "1:\n\t"
                     "leaq 66b(%%rip), %[tmp]\n\t"
                     "movq %[tmp], %%fs:8(%[off])\n\t"        /* rseq_cs = &descriptor */
                     "3:\n\t"
                     "movl %%fs:4(%[off]), %k[cnt]\n\t"       /* cpu_id */
                     "movq (%[tab], %[cnt], 8), %[tmp]\n\t"   /* its stack */
                     "movl (%[tmp]), %k[cnt]\n\t"
                     "movq 8(%[tmp]), %[slots]\n\t"
                     "movq %[p], (%[slots], %[cnt], 8)\n\t"   /* above count: harmless if redone */
                     "addl $1, %k[cnt]\n\t"
                     "movl %k[cnt], (%[tmp])\n\t"             /* commit: count + 1 */
                     "4:\n\t"
                     FLOOR_ABORT
                     : [tmp] "=&r"(tmp), [cnt] "=&r"(cnt), [slots] "=&r"(slots)
                     : [off] "r"(off), [tab] "r"(tab), [p] "r"(p)
                     : "memory", "cc");
}

/*
 * libfloorcall.so (floor_calls.c): the same pop and push, each a function of its
 * own, exported, called from the program through its GOT. Their signatures are
 * malloc's and free's, so the caller sets up each call as micro.c's loop does.
 */

/* Copies glibc's __rseq_offset into the library (as poolalloc keeps its own copy)
 * and returns the library's table of stacks, by CPU number, for the caller to fill
 * before the first floorcall_pop or floorcall_push. Call only if __rseq_size != 0. */
struct floor_stack **floorcall_init(void);

/* floor_pop on the library's table; size is ignored (it is there so that the call
 * is malloc(size)'s). NULL if this CPU's stack is empty. */
void *floorcall_pop(size_t size);

/* floor_push of p on the library's table. */
void floorcall_push(void *p);

#endif
