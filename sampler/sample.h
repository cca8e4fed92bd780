/* SPDX-License-Identifier: MIT */
/*
 * sample.h - allocation sampling: which allocations are sampled, the stacks
 * they came from, and the sampled objects still alive. Read by the `sites`
 * and `heap` socket requests (heapprof.c).
 *
 * The face of sampler/: the layers above (server/, preload/) include this
 * header alone; stack.h (the stack table and libunwind) and unwind_fds.h
 * are the folder's own. heapprof.c is here, with the tables it reads, not
 * beside the server or the wire format: it reads them through this header
 * alone and writes the `sites` and `heap` bodies to a sink, so the server
 * sees the sampler through one header and the wire format (which poolstat
 * links too) never depends on the sampler.
 *
 * Who talks to it: preload/malloc.c counts every request against this
 * thread's countdown (sample_tick, inlined: one TLS subtract, a store and a
 * branch) and, when the countdown runs out, calls sample_due() out of line;
 * a sampled allocation is served by glibc (never by the pools) and recorded
 * with sample_record(); free() finds it on its out-of-line path for foreign
 * pointers (sample_forget). preload/init.c calls sample_start() once, in a
 * clean context (the constructor or a thread of ours, never inside malloc),
 * whenever it chooses. Nothing on the pools' fast paths knows about sampling.
 *
 * The countdown has three states, and what each costs the program:
 *   - not started (before sample_start): sample_due() parks the countdown
 *     SAMPLE_PARK bytes away and returns 0, so a thread leaves malloc's
 *     inline path once per SAMPLE_PARK bytes it allocates; its generator is
 *     not seeded, so its first visit after the start draws a real distance.
 *   - off (POOLALLOC_SAMPLE=0, or libunwind missing): parked at INT64_MAX,
 *     one call per thread; then the inline tick is all (its branch never
 *     taken).
 *   - on: the tick, and one out-of-line call per sample. A sample costs the
 *     unwinding (libunwind's unw_backtrace, whose per-thread cache of frame
 *     layouts makes a known stack cheap; a frame it has not seen is looked
 *     up in libunwind's global cache of unwind rules, under its lock, which
 *     masks signals: two system calls), the site and live tables (a hash and
 *     one or two cache lines each, four locked adds), and glibc's allocator
 *     with signals blocked (two system calls at the malloc and two at the
 *     free). Its free meets one live-table bucket on free's foreign path;
 *     other frees of glibc blocks look the bucket up only while a sample is
 *     live. The cost is proportional to the samples taken, i.e. to the bytes
 *     allocated divided by the mean: docs/sites.md has the figures.
 *
 * Why libunwind and not frame pointers: Debian's programs and libraries are
 * built without them, and a frame-pointer walk through code that has none
 * reads whatever the register holds, which can fault in the program; DWARF
 * unwinding through .eh_frame is correct everywhere. libunwind's caching
 * policy is left as it is (global): the library is shared with a program
 * that loads libunwind.so.8 itself, and its per-thread cache is not safe for
 * a signal handler that unwinds on a thread interrupted while unwinding.
 *
 * The method is tcmalloc's: sampling points form a Poisson process over the
 * allocated bytes, with mean distance T = POOLALLOC_SAMPLE. The countdown is
 * the distance to the next point, drawn from an exponential distribution of
 * mean T; a request of X bytes that crosses it is sampled, which happens with
 * probability p(X) = 1 - exp(-X/T). A sample stands for 1/p(X) objects and
 * X/p(X) bytes (its weight): summed, those are unbiased estimates of what
 * the program allocated and holds, per stack.
 *
 * Rules:
 *   - Nothing here calls malloc: the tables are mmap'ed at start, fixed size.
 *     libunwind may malloc while it unwinds; sample_tls.busy marks a thread
 *     inside the sampler, so such a malloc (or one from a signal handler
 *     that interrupted it) is served normally and never sampled.
 *   - Lock-free: no lock anywhere, so a signal handler, a thread stopped at
 *     any point, or libunwind's own locks can never make it wait for itself.
 *     When a slot it needs is being written by another thread, or a table is
 *     full, the sample is dropped (counted in samples_dropped) or its stack
 *     goes to site 0 (the "unknown stack" site).
 *   - Stacks: a site is a unique stack of at most SAMPLE_DEPTH return
 *     addresses (the allocator's own frames left out), written once, then
 *     read-only. Sites are numbered densely from 1; site 0 holds samples
 *     whose stack could not be captured or stored.
 *   - Live objects: an 8-way set-associative table keyed by address. A slot
 *     is claimed by CAS (0 -> address) and emptied by the thread that frees
 *     that address, before glibc gets the block back, so no address is ever
 *     in the table twice. Per site:
 *         live_n    = samples recorded - samples freed        (and the same for bytes)
 *         live_wn   = sum of 1/p(X) over live samples         (estimates, fixed point)
 *     exact as a whole when the program is quiet. (Stored as totals and freed
 *     figures, live = total - freed: four locked adds per malloc and per
 *     free; see struct site_figures in sample.c.)
 */
#ifndef POOLALLOC_SAMPLE_H
#define POOLALLOC_SAMPLE_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/util.h"
#include "stack.h"   /* SAMPLE_DEPTH, SAMPLE_SITES, struct sample_stack: a site's shape */

#define SAMPLE_WN_ONE    65536   /* live_wn/total_wn are in 1/65536 objects */
/* Where a thread's countdown waits while the sampler is not started: far
 * enough that a thread allocating before the start leaves its inline path
 * once per SAMPLE_PARK bytes (a call per thousands of small requests), near
 * enough that once it is started every thread draws a real distance within
 * SAMPLE_PARK bytes of its next requests. */
#define SAMPLE_PARK      (INT64_C(256) << 10)

/* Per thread. `left` is the only field the fast path touches. */
struct sample_tls {
    int64_t left;     /* bytes until the next sampling point; < 0: call sample_due() */
    uint64_t rng;     /* xorshift state; 0: this thread has not drawn yet */
    int busy;         /* > 0: inside the sampler, or inside glibc's allocator */
    unsigned walked;  /* stacks this thread has unwound (stack.h: stack_site_of_caller) */
};

extern __thread struct sample_tls sample_tls __attribute__((tls_model("initial-exec")));
extern uint64_t sample_nlive;    /* sampled objects in the live table */

/* Counts a request of n bytes against this thread's countdown. 1 when it
 * ran out: the caller then asks sample_due() (out of line) whether this
 * allocation is the sample. A TLS subtract, a store and a branch. */
static inline __attribute__((always_inline)) int sample_tick(size_t n)
{
    int64_t left = (int64_t)((uint64_t)sample_tls.left - n);
    sample_tls.left = left;
    return unlikely(left < 0);
}

/* Around every call into glibc's allocator, pass-through or sampled: while
 * this thread is inside it, a signal handler that interrupts it is never
 * sampled, since a sample is served by glibc, whose locks the interrupted
 * code may hold. (A handler's own pass-through requests meet those locks
 * as they did before sampling existed.) */
static inline void sample_libc_enter(void)
{
    sample_tls.busy++;
}

static inline void sample_libc_leave(void)
{
    sample_tls.busy--;
}

/* The same around glibc's allocator for a sampled block, with every signal
 * blocked too (two system calls; sampled blocks are rare): no handler runs
 * while this thread holds glibc's locks for a sample. Else a handler here
 * that waits for a pool lock, held by a thread whose own handler waits for
 * glibc's lock (the core passes a handler that interrupted its slow path
 * through to glibc), would close a circle that sampling opened. */
static inline void sample_libc_enter_quiet(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
    sample_tls.busy++;
}

static inline void sample_libc_leave_quiet(const sigset_t *old)
{
    sample_tls.busy--;
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The countdown ran out on this thread. Draws the next distance and returns
 * 1 if this request (n bytes) is to be sampled: the caller serves it from
 * glibc and calls sample_record(). 0 when sampling is off (the countdown is
 * then parked out of reach) or not started (parked SAMPLE_PARK bytes away),
 * on a thread's first visit (which only draws), for n == 0, and inside the
 * sampler itself. */
int sample_due(size_t n);

/* Records p, a glibc block of n requested bytes, with the caller's stack.
 * 1 if recorded; 0 if the live table had no room (then p is a plain glibc
 * block: the caller counts it as a pass-through). */
int sample_record(void *p, size_t n);

/* What the live table knows of one sampled block. */
struct sample_obj {
    uint64_t meta;    /* size << 24 | site */
};

/* If p is a sampled block: removes it from the live table (its site's live
 * figures drop), fills *o when o is not NULL, and returns 1. 0 otherwise.
 * Call before glibc gets p back. */
int sample_forget_slow(void *p, struct sample_obj *o);

static inline int sample_forget(void *p, struct sample_obj *o)
{
    if (likely(__atomic_load_n(&sample_nlive, __ATOMIC_RELAXED) == 0))
        return 0;
    return sample_forget_slow(p, o);
}

/* Puts back what sample_forget() took (a realloc that failed). 1 if done. */
int sample_restore(void *p, const struct sample_obj *o);

/* In a clean context (dlopen allowed: the constructor or a thread of ours,
 * never inside malloc), once per process (later calls, and a fork child's,
 * do nothing): maps the tables and starts sampling with mean distance `mean`
 * bytes (0: off), and loads libunwind, or with `lazy` leaves that to
 * sample_tend() once a first sample is due: a process that allocates less
 * than a sampling distance in its life (a shell, most commands) never maps
 * libunwind, its libraries and its pipe. Samples taken before it is loaded
 * have no stack (site 0). The calling thread draws at its next request; the
 * others pick it up at their next visit (within SAMPLE_PARK bytes). On
 * failure sampling stays off; verbose says why on stderr, and at exit one
 * line of what the sampler did (samples, drops, sites, countdown calls
 * before the start). */
void sample_start(uint64_t mean, int verbose, int lazy);

/* On a thread of ours, now and then (the flush thread's every wake, at most
 * ORPHAN_CHECK_MS apart): after a lazy start, loads libunwind once a sample
 * has wanted a stack. */
void sample_tend(void);

/* Fork handlers, called by preload/init.c's (the order, and why: there) on
 * every fork, sampling started or not: prepare stops new unwinding and waits
 * for the unwinding under way (at most a second); the forking thread takes
 * no sample from there until parent (in the parent) or child (in the child)
 * lets unwinding go on. */
void sample_fork_prepare(void);
void sample_fork_parent(void);
void sample_fork_child(void);

/* ---- for the renderers (heapprof.c; a site's stack is a struct sample_stack, stack.h) ---- */

/* Figures of one site: the sampled counts, as recorded, and the estimates
 * (weighted by 1/p(X)). Objects in the w*n figures are in 1/SAMPLE_WN_ONE. */
#define SAMPLE_COUNTS(X)                                                   \
    X(live_n) X(live_bytes) X(total_n) X(total_bytes)                      \
    X(live_wn) X(live_wbytes) X(total_wn) X(total_wbytes)

struct sample_counts {
#define X(f) uint64_t f;
    SAMPLE_COUNTS(X)
#undef X
};

/* "on", "off", or why sampling could not start. */
const char *sample_state(void);
/* Mean distance between samples in bytes; 0 when sampling is not on. */
uint64_t sample_mean(void);
/* Site ids in use are 0 .. sample_nsites() - 1. */
unsigned sample_nsites(void);
/* The stack of a site, or NULL (site 0, or one still being written). */
const struct sample_stack *sample_site_stack(unsigned id);
void sample_site_counts(unsigned id, struct sample_counts *c);
/* Samples not recorded because a table was full or a slot busy. */
uint64_t sample_dropped(void);
/* Bytes mapped for the tables. */
uint64_t sample_table_bytes(void);

/* ---- the socket replies (heapprof.c): bodies written to a sink, no malloc ------------------ */

struct sink;

#define HEAPPROF_TOP 20   /* sites listed by live bytes, and by total bytes */

/* `sites`: "sampling STATE", and when it is on: totals, then `site` rows
 * (estimates and sample counts, then "@" and the return addresses) for the
 * top HEAPPROF_TOP sites by live and by total estimated bytes, then
 * `order.live` and `order.total`: their ids, largest first. See README.md,
 * "Allocation sites and heap profiles". */
void heapprof_write_sites(struct sink *o);

/* `heap`: "sampling STATE", and when it is on a gperftools heap profile
 * (legacy text, heap_v2: sampled counts, pprof scales them), each line of
 * it after the key "heap ", up to and including the "MAPPED_LIBRARIES:"
 * line; 1 then, and the caller appends /proc/self/maps the same way. */
int heapprof_write_heap(struct sink *o);

#endif
