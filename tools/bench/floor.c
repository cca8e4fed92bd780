/*
 * floor.c - the floor of a per-CPU rseq fast path: what one pop and one push of a
 * pointer on this CPU's stack cost, each a complete restartable sequence, and
 * nothing else. For tools/bench/bench.py --fastpath (the "rseq floor" row).
 *
 *   floor [N]      N pop+push pairs (0 or absent: 30 000 000, as micro pingpong;
 *                  bench.py asks for 250 000 000, a loop of ~0.3 s like the others)
 *
 * Why it exists: poolalloc's malloc and free are, at best, one such pop and one
 * such push (core/rseq_x86_64.h) plus everything around them: the call through
 * the GOT, the size class, the page map of free(), the capacity and double-free
 * checks, the counters. No per-CPU rseq allocator here can do a malloc+free pair
 * in less than this program's pair, so the target "a pair in <= 0.5x the fastest
 * peer" is judged against it: if the floor itself is above half the best peer,
 * the target cannot be met by this design on this machine; if it is far below,
 * the distance between this row and poolalloc's is what the rest of the fast path
 * costs.
 *
 * Output, one line of key=value words like micro's:
 *
 *   case=floor value=2.41 unit=ns/pair cpu_s=0.072 check=30000000 empty=0
 *
 * value = wall ns per pair, check = pairs run (equal to micro pingpong's check for
 * the same N), empty = pops that found the stack empty (see below). If glibc did
 * not register rseq (__rseq_size == 0: GLIBC_TUNABLES=glibc.pthread.rseq=0,
 * valgrind, a kernel without rseq) there is no floor to measure: it prints one
 * line saying so, with no value=, and exits 0.
 *
 * The loop has the shape of micro.c's bench_pingpong_loop: take an object, pass it
 * through KEEP (an empty asm that claims to change it), store one byte into it,
 * give it back; timed the same way (CLOCK_MONOTONIC around the loop). Unlike a
 * malloc, pop and push are inlined: no call, no argument set-up, so the floor is
 * strictly below any malloc+free pair. Left out on purpose: the size class, the
 * page map, every check (push has no capacity test: each stack can hold all the
 * objects there are), every counter.
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
 * instructions, push 9.
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

/* Hides p from the optimiser: after this it may be any pointer (as in micro.c). */
#define KEEP(p) __asm__ volatile("" : "+r"(p))

#define CACHE_LINE 128
#define OBJS_PER_CPU 64
#define OBJ_SIZE 32
#define DEFAULT_N 30000000L   /* micro pingpong's default */

#ifdef __clang__
#define NOCLONE
#else
#define NOCLONE __attribute__((noclone))
#endif

/* One CPU's stack, in the layout the sequences (and poolalloc's) rely on:
 * u32 count at offset 0, void **slots at offset 8. Padded to a cache line.
 * count <= OBJS_PER_CPU * floor_ncpu, the size of slots. */
struct floor_stack {
    uint32_t count;
    uint32_t pad;
    void **slots;
} __attribute__((aligned(CACHE_LINE)));

_Static_assert(offsetof(struct floor_stack, count) == 0, "the sequences load count at 0");
_Static_assert(offsetof(struct floor_stack, slots) == 8, "the sequences load slots at 8");

/* By CPU number (cpu_id < CPU_SETSIZE); entries [0, floor_ncpu) are set. A static
 * array, so its address is a constant the sequences need not load. */
static struct floor_stack *floor_stacks[CPU_SETSIZE];
static int floor_ncpu;

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

/* Pops the top of this CPU's stack; NULL if it is empty. off = __rseq_offset. */
static inline __attribute__((always_inline)) void *floor_pop(ptrdiff_t off)
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
                     : [off] "r"(off), [tab] "r"(floor_stacks)
                     : "memory", "cc");
    return res;
}

/* Pushes p on this CPU's stack (which always has room). off = __rseq_offset. */
static inline __attribute__((always_inline)) void floor_push(ptrdiff_t off, void *p)
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
                     : [off] "r"(off), [tab] "r"(floor_stacks), [p] "r"(p)
                     : "memory", "cc");
}

/* The measured loop, micro's bench_pingpong_loop with pop/push for malloc/free.
 * A pop finds its stack empty only after OBJS_PER_CPU more migrations one way
 * than the other between a pop and its push; it then skips the push (counted in
 * *empty) so that the number of objects stays what it was. */
__attribute__((noinline)) NOCLONE static uint64_t floor_loop(long n, ptrdiff_t off, long *empty)
{
    long missed = 0;
    for (long i = 0; i < n; i++) {
        unsigned char *p = floor_pop(off);
        if (__builtin_expect(p == NULL, 0)) {
            missed++;
            continue;
        }
        KEEP(p);
        p[0] = (unsigned char)i;
        floor_push(off, p);
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

/* One stack per possible CPU, each holding OBJS_PER_CPU objects of OBJ_SIZE bytes
 * and room for every object there is. Exits 1 on failure. */
static void floor_setup(void)
{
    floor_ncpu = get_nprocs_conf();
    if (floor_ncpu < 1 || floor_ncpu > CPU_SETSIZE) {
        fprintf(stderr, "floor: %d possible CPUs, this program handles 1..%d\n", floor_ncpu,
                CPU_SETSIZE);
        exit(1);
    }
    size_t total = (size_t)OBJS_PER_CPU * (size_t)floor_ncpu;
    unsigned char *objs = aligned_alloc(CACHE_LINE, total * OBJ_SIZE);
    if (!objs) {
        fprintf(stderr, "floor: out of memory\n");
        exit(1);
    }
    for (int c = 0; c < floor_ncpu; c++) {
        struct floor_stack *s = aligned_alloc(CACHE_LINE, sizeof *s);
        void **slots = aligned_alloc(CACHE_LINE, total * sizeof *slots);
        if (!s || !slots) {
            fprintf(stderr, "floor: out of memory\n");
            exit(1);
        }
        s->count = 0;
        s->slots = slots;
        for (int i = 0; i < OBJS_PER_CPU; i++)
            s->slots[s->count++] = objs + ((size_t)c * OBJS_PER_CPU + (size_t)i) * OBJ_SIZE;
        floor_stacks[c] = s;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0)
        n = DEFAULT_N;
    if (__rseq_size == 0) {
        printf("floor: glibc did not register rseq (__rseq_size is 0: "
               "GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind, or no rseq in the kernel); "
               "nothing measured\n");
        return 0;
    }
    floor_setup();
    if (sched_getcpu() >= floor_ncpu) {   /* cpu_id beyond the table: not expected */
        fprintf(stderr, "floor: running on CPU %d of %d possible\n", sched_getcpu(), floor_ncpu);
        return 1;
    }
    long empty = 0;
    double c0 = cpu_s(), t0 = now_s();
    uint64_t check = floor_loop(n, __rseq_offset, &empty);
    double ns = (now_s() - t0) * 1e9 / (double)n, cpu = cpu_s() - c0;
    printf("case=floor value=%.4f unit=ns/pair cpu_s=%.6f check=%llu empty=%ld\n", ns, cpu,
           (unsigned long long)check, empty);
    return 0;
}
