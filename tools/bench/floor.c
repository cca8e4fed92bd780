/* SPDX-License-Identifier: MIT */
/*
 * floor.c - the floor of a per-CPU rseq fast path: what one pop and one push of a
 * pointer on this CPU's stack cost, each a complete restartable sequence, and
 * nothing else. For tools/bench/bench.py --fastpath, built twice:
 *
 *   floor [N]          pop and push inlined into the loop (the "rseq floor" row)
 *   floor-called [N]   built with -DFLOOR_CALLED: pop and push are two functions of
 *                      libfloorcall.so (floor_calls.c), called through the GOT as
 *                      micro.c calls malloc(32) and free (the "rseq floor, called" row)
 *
 * N pop+push pairs (0 or absent: 30 000 000, as micro pingpong; bench.py asks for
 * 250 000 000, a loop of ~0.3 s like the others). The sequences, and the ABI they
 * rely on, are in floor_rseq.h, the one copy both builds use.
 *
 * Why it exists: poolalloc's malloc and free are, at best, one such pop and one
 * such push (core/rseq_x86_64.h) plus everything around them: the call through
 * the GOT, the size class, the page map of free(), the capacity and double-free
 * checks, the counters. No per-CPU rseq allocator here can do a malloc+free pair
 * in less than the inline floor's pair, and none that is preloaded (so that its
 * malloc and free are two real calls from the program) in less than the called
 * floor's. The target "a pair in <= 0.5x the fastest peer" is judged against them:
 * if the called floor is above half the best peer, a preloaded allocator of this
 * design cannot meet the target on this machine; if it is far below, the distance
 * between it and poolalloc's row is what the rest of the fast path costs.
 *
 * Output, one line of key=value words like micro's:
 *
 *   case=floor value=2.41 unit=ns/pair cpu_s=0.072 check=30000000 empty=0
 *
 * (case=floor-called for the called build). value = wall ns per pair, check =
 * pairs run (equal to micro pingpong's check for the same N), empty = pops that
 * found the stack empty (see below). If glibc did not register rseq (__rseq_size
 * == 0: GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind, a kernel without rseq)
 * there is no floor to measure: it prints one line saying so, with no value=, and
 * exits 0.
 *
 * The loop has the shape of micro.c's bench_pingpong_loop: take an object, pass it
 * through KEEP (an empty asm that claims to change it), store one byte into it,
 * give it back; timed the same way (CLOCK_MONOTONIC around the loop). In the
 * inline build there is no call and no argument set-up, so that floor is strictly
 * below any malloc+free pair; the called build adds what micro's loop
 * does around malloc and free (the size argument, two indirect calls through the
 * GOT, -fno-plt like micro) and what each function must do to find its data (the
 * offset's load and the table's address; floor_calls.c).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/rseq.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "floor_rseq.h"

/* Hides p from the optimiser: after this it may be any pointer (as in micro.c). */
#define KEEP(p) __asm__ volatile("" : "+r"(p))

#define OBJS_PER_CPU 64
#define OBJ_SIZE 32
#define DEFAULT_N 30000000L   /* micro pingpong's default */

#ifdef __clang__
#define NOCLONE
#else
#define NOCLONE __attribute__((noclone))
#endif

#ifdef FLOOR_CALLED
/* Two calls into libfloorcall.so, through the GOT; the library has its own copy
 * of the offset, so off is not passed. */
#define FLOOR_CASE "floor-called"
#define FLOOR_TABLE() floorcall_init()
#define FLOOR_POP(off) ((void)(off), floorcall_pop(OBJ_SIZE))
#define FLOOR_PUSH(off, p) floorcall_push(p)
#else
/* By CPU number (cpu_id < CPU_SETSIZE); entries [0, floor_ncpu) are set. A static
 * array, so its address is a constant the sequences need not load. */
static struct floor_stack *floor_stacks[CPU_SETSIZE];
#define FLOOR_CASE "floor"
#define FLOOR_TABLE() floor_stacks
#define FLOOR_POP(off) floor_pop(off, floor_stacks)
#define FLOOR_PUSH(off, p) floor_push(off, floor_stacks, p)
#endif

static int floor_ncpu;

/* The measured loop, micro's bench_pingpong_loop with pop/push for malloc/free.
 * A pop finds its stack empty only after OBJS_PER_CPU more migrations one way
 * than the other between a pop and its push; it then skips the push (counted in
 * *empty) so that the number of objects stays what it was. */
__attribute__((noinline)) NOCLONE static uint64_t floor_loop(long n, ptrdiff_t off, long *empty)
{
    long missed = 0;
    for (long i = 0; i < n; i++) {
        unsigned char *p = FLOOR_POP(off);
        if (__builtin_expect(p == NULL, 0)) {
            missed++;
            continue;
        }
        KEEP(p);
        p[0] = (unsigned char)i;
        FLOOR_PUSH(off, p);
    }
    *empty = missed;
    return (uint64_t)n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Fills tab with one stack per possible CPU, each holding OBJS_PER_CPU objects of
 * OBJ_SIZE bytes and room for every object there is. Exits 1 on failure. */
static void floor_setup(struct floor_stack **tab)
{
    floor_ncpu = get_nprocs_conf();
    if (floor_ncpu < 1 || floor_ncpu > CPU_SETSIZE) {
        fprintf(stderr, FLOOR_CASE ": %d possible CPUs, this program handles 1..%d\n", floor_ncpu,
                CPU_SETSIZE);
        exit(1);
    }
    size_t total = (size_t)OBJS_PER_CPU * (size_t)floor_ncpu;
    unsigned char *objs = aligned_alloc(FLOOR_CACHE_LINE, total * OBJ_SIZE);
    if (!objs) {
        fprintf(stderr, FLOOR_CASE ": out of memory\n");
        exit(1);
    }
    for (int c = 0; c < floor_ncpu; c++) {
        struct floor_stack *s = aligned_alloc(FLOOR_CACHE_LINE, sizeof *s);
        void **slots = aligned_alloc(FLOOR_CACHE_LINE, total * sizeof *slots);
        if (!s || !slots) {
            fprintf(stderr, FLOOR_CASE ": out of memory\n");
            exit(1);
        }
        s->count = 0;
        s->slots = slots;
        for (int i = 0; i < OBJS_PER_CPU; i++)
            s->slots[s->count++] = objs + ((size_t)c * OBJS_PER_CPU + (size_t)i) * OBJ_SIZE;
        tab[c] = s;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0)
        n = DEFAULT_N;
    if (__rseq_size == 0) {
        printf(FLOOR_CASE ": glibc did not register rseq (__rseq_size is 0: "
               "GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind, or no rseq in the kernel); "
               "nothing measured\n");
        return 0;
    }
    floor_setup(FLOOR_TABLE());
    if (sched_getcpu() >= floor_ncpu) {   /* cpu_id beyond the table: not expected */
        fprintf(stderr, FLOOR_CASE ": running on CPU %d of %d possible\n", sched_getcpu(), floor_ncpu);
        return 1;
    }
    long empty = 0;
    double c0 = cpu_s(), t0 = now_s();
    uint64_t check = floor_loop(n, __rseq_offset, &empty);
    double ns = (now_s() - t0) * 1e9 / (double)n, cpu = cpu_s() - c0;
    printf("case=" FLOOR_CASE " value=%.4f unit=ns/pair cpu_s=%.6f check=%llu empty=%ld\n", ns, cpu,
           (unsigned long long)check, empty);
    return 0;
}
