/* SPDX-License-Identifier: MIT */
/*
 * floor_calls.c - libfloorcall.so, the called rseq floor's library: floor_rseq.h's
 * pop and push, each a function of its own that the floor program (floor.c built
 * with -DFLOOR_CALLED) calls through its GOT, as a program calls a preloaded malloc
 * and free. For tools/bench/bench.py --fastpath (the "rseq floor, called" row).
 *
 * Built -fPIC -fvisibility=hidden: the table and the offset are the library's own,
 * reached RIP-relative like poolalloc's hidden fast-path data (one load for the
 * offset, no GOT), and only the three floorcall_ functions are exported. Each call
 * then pays what a preloaded malloc or free cannot avoid: the call and return, the
 * offset's load and the table's address, on top of the sequence itself.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/rseq.h>

#include "floor_rseq.h"

#define FLOORCALL_API __attribute__((visibility("default"), noinline))

/* By CPU number; filled by the program (see floorcall_init). */
static struct floor_stack *floorcall_stacks[CPU_SETSIZE];
/* glibc's __rseq_offset, copied by floorcall_init. */
static ptrdiff_t floorcall_off;

FLOORCALL_API struct floor_stack **floorcall_init(void)
{
    floorcall_off = __rseq_offset;
    return floorcall_stacks;
}

FLOORCALL_API void *floorcall_pop(size_t size)
{
    (void)size;
    return floor_pop(floorcall_off, floorcall_stacks);
}

FLOORCALL_API void floorcall_push(void *p)
{
    floor_push(floorcall_off, floorcall_stacks, p);
}
