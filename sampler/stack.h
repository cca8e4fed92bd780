/* SPDX-License-Identifier: MIT */
/*
 * stack.h - the sampler's stack table: the stack a sampled allocation came
 * from, unwound with libunwind (loaded at start, RTLD_LOCAL), the
 * allocator's own frames left out, and numbered as a site. Part of sampler/,
 * not its face: sample.c asks it for the site of each sample and passes its
 * sites on to the readers of sample.h, which includes this header for a
 * site's shape (SAMPLE_DEPTH, SAMPLE_SITES, struct sample_stack) and never
 * the reverse.
 *
 * Rules (sample.h states the sampler's as a whole):
 *   - A site is a unique stack of at most SAMPLE_DEPTH return addresses,
 *     written once into zeroed memory, then read-only; its `ready` flag
 *     (release) publishes it. Sites are numbered densely from 1; site 0 is
 *     the "unknown stack" site, for a stack that could not be captured or
 *     stored.
 *   - The index has 2 * SAMPLE_SITES slots (at most half full), each 0
 *     (free), claimed (its stack being written) or a site id. A slot is
 *     claimed by CAS: no lock. A slot that stays claimed (its writer stopped,
 *     or interrupted by the signal handler that now looks) sends the sample to
 *     site 0 after a bounded wait, as does a full table.
 *   - No thread starts unwinding while a fork is being prepared, and the
 *     fork waits (at most a second) for those under way: libunwind's locks
 *     are never held in a child by a thread that is not there.
 * Nothing here calls malloc; libunwind may, inside stack_site_of_caller()
 * (the caller marks the thread busy: such a malloc is never sampled).
 */
#ifndef POOLALLOC_STACK_H
#define POOLALLOC_STACK_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLE_DEPTH     32      /* frames kept per stack */
#define SAMPLE_SITES     8192    /* stack table: site ids 0 .. SAMPLE_SITES-1 */

/* A site's stack, as the table keeps it and the readers of sample.h see it
 * (sample_site_stack). */
struct sample_stack {
    uint64_t hash;
    uint32_t depth;
    uint32_t ready;                  /* 1 once frame[] is written */
    uintptr_t frame[SAMPLE_DEPTH];   /* return addresses, innermost first */
};

/* splitmix64's finalizer: the last step of a stack's hash, and the seed of
 * the countdown's generator (sample.c). */
static inline uint64_t stack_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Once (sample_start, or sample_tend when the first sample is due): loads
 * libunwind.so.8 and finds its calls, and notes this library's code, whose
 * frames a stack leaves out. NULL, or why sampling must stay off (the words
 * sample_state() shows). Nothing unwinds until stack_publish(). */
const char *stack_load(void);

/* The bytes the stack tables take (page multiples), and where they go: m,
 * zeroed memory of that size in the sampler's one mapping. Before the first
 * sample. */
size_t stack_tables_bytes(void);
void stack_tables_at(char *m);

/* Makes libunwind open its validation pipe and moves it out of the
 * program's way (unwind_fds.h): 1 moved, 0 nothing to move, -1 failed,
 * STACK_PIPE_LATER a fork is being prepared (nothing done: ask again).
 * Before the first sample. */
#define STACK_PIPE_LATER (-2)
int stack_move_pipe(void);

/* After stack_load() and stack_move_pipe(): stacks may be unwound. Before,
 * stack_site_of_caller() gives site 0 and notes that a stack was wanted
 * (stack_wanted()). */
void stack_publish(void);
int stack_wanted(void);

/* The site of the caller of malloc: libunwind's return addresses, the
 * allocator's own frames (the sampler, malloc's slow half) left out. 0 when
 * the stack could not be captured or stored, or a fork is being prepared.
 * *walked counts the stacks this thread has unwound (its first ones are
 * walked with unw_step: stack.c says why). */
uint32_t stack_site_of_caller(unsigned *walked);

/* Site ids given so far are 0 .. stack_nsites() - 1. */
unsigned stack_nsites(void);
/* The stack of site id (0 < id < stack_nsites()), or NULL while it is
 * being written. */
const struct sample_stack *stack_get(unsigned id);

/* The unwinding half of the sampler's fork handlers (sample.h): prepare
 * stops new unwinding and waits for the unwinding under way, at most a
 * second; parent and child let unwinding go on. */
void stack_fork_prepare(void);
void stack_fork_parent(void);
void stack_fork_child(void);

#endif
