/* SPDX-License-Identifier: MIT */
/*
 * torture.c - the stress tier's randomized multithreaded torture of the whole malloc
 * family, run by tests/stress/run.sh on plain glibc (to prove the checks), under
 * LD_PRELOAD=libpoolalloc.so, under GLIBC_TUNABLES=glibc.pthread.rseq=0 (the locked
 * fallback) and as a 10-minute soak with its RSS watched from outside.
 *
 * The run is a sequence of rounds. Each round starts a number of worker threads (the
 * first round the smallest count, the second the largest, then random counts between,
 * 2..64 by default), lets them run seeded random malloc-family calls for a while, and
 * stops and joins them. While a round runs:
 *   - a churn thread creates and joins short-lived threads continuously (each does a
 *     few hundred to a few thousand operations and exits, some leaving their blocks
 *     behind for the next thread to free);
 *   - the main thread moves random workers between CPUs, and once per round forks a
 *     storm of children without waiting between forks; every child verifies every
 *     block it inherited, frees some, allocates with threads of its own, sometimes forks
 *     a grandchild, and exits (half with exit(), half with _exit());
 *   - blocks are handed between threads through shared cells (cross-thread frees), and
 *     a worker's table outlives its thread: the next round's thread on that table frees
 *     what the last one left (frees of blocks whose allocating thread has exited).
 *
 * Every live block carries a pattern that depends only on its id: bytes [0,8) hold the
 * id, [8,16) the block's size (when it has 16 bytes), every other byte i is byte i of
 * the id's pattern stream. A block is verified before every free and realloc, when it
 * arrives from another thread, in fork children and at the end; some blocks are grown to
 * their malloc_usable_size and the whole usable area is patterned and checked, and
 * realloc must keep min(old usable, new size) bytes. Memory handed out twice, moved
 * wrongly, a usable size that overlaps a neighbour, or a byte scribbled on by the
 * allocator shows up as a changed byte, reported with thread, block id, size, address and
 * offset.
 *
 * A crash prints a backtrace on stderr (tests/stress/run.sh symbolizes it with
 * addr2line); a run without progress for the watchdog period prints what the main thread
 * was doing and every thread's stack (gdb when installed), then exits 3. A hung fork child
 * is sent SIGQUIT (it prints its stack) and killed.
 *
 * usage: torture [-s SEED] [-t SECONDS] [-r ROUND_MS] [-T MIN-MAX] [-f MAX_FORKS]
 *                [-C] [-w WATCHDOG_S] [-v] [-L KIB_PER_S] [-X]
 *   -s  seed (default: time ^ pid; always printed for a rerun)
 *   -t  total run time, seconds (default 10)         -r  round length, ms (default 1000)
 *   -T  thread counts (default 2-64)                  -f  largest fork storm (default 8; 0: none)
 *   -C  no thread churn                               -w  watchdog period, s (default 60)
 *   -v  one line per round
 * Self-tests of the checks themselves (tests/stress/run.sh runs them and expects them to
 * fail): -L leaks KIB_PER_S KiB a second in 1 KiB blocks (the soak's RSS rule must catch
 * it); -X flips one byte of a live block after the first round, as a stray write by the
 * allocator would (the pattern check must report it).
 * Exit: 0 all held, 1 a broken rule, 2 usage, 3 watchdog (no progress), a signal = crash.
 * Last line on stdout: "torture: ok ..." or "torture: FAILED ...".
 */
#define _GNU_SOURCE
#include "../preload/support/preload_test.h"
#include "../lib/torture_blocks.h"

#include <execinfo.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define TEST "torture"

enum {
    MAXT = 64,          /* most worker threads */
    NCHURN = 4,         /* churn thread tables */
    NTABLES = MAXT + NCHURN,
    SLOTS = 256,        /* live blocks per table */
    XCHG = 128,         /* hand-off cells */
    MAIN_BLOCKS = 64,   /* held by the main thread across everything */
    CHILD_OPS = 4000,   /* operations per fork-child thread */
    MAX_STORM = 32,
};

#define ID_MAGIC 0xB10Cull
#define MAX_BLOCK ((size_t)4 << 20)

enum { OP_MALLOC, OP_CALLOC, OP_MEMALIGN, OP_POSIX_MEMALIGN, OP_ALIGNED_ALLOC, OP_VALLOC,
       OP_PVALLOC, OP_REALLOCARRAY_NEW, OP_REALLOC_NEW, OP_FREE, OP_REALLOC, OP_REALLOCARRAY,
       OP_USABLE_GROW, OP_VERIFY, OP_OVERFLOW, OP_GIVE, OP_NOPS };
static const char *const op_names[OP_NOPS] = {
    "malloc",  "calloc",        "memalign", "posix_memalign", "aligned_alloc", "valloc",
    "pvalloc", "reallocarray0", "realloc0", "free",           "realloc",       "reallocarray",
    "usable-grow", "verify",    "overflow", "handoff"};

struct counters {
    uint64_t op[OP_NOPS];
    uint64_t cross_frees;   /* freed a block another thread allocated */
    uint64_t orphan_frees;  /* ... whose allocating thread had exited */
    uint64_t small;         /* requests of 1..1024 bytes */
    uint64_t small_owned;   /* ... served from poolalloc's pools */
    uint64_t bytes;
};

/* A table of blocks and the thread that currently runs on it. */
struct worker {
    int index;      /* table number: owner field of ids */
    _Atomic unsigned gen; /* thread generation on this table: (index, gen) names a thread */
    uint64_t rng;
    uint64_t next_id;
    uint64_t ops;   /* 0: run until stop */
    struct slot slots[SLOTS];
    struct counters c;
    pthread_t thread;
    _Atomic int running;
};

static struct worker tables[NTABLES];
static _Atomic(unsigned char *) xchg[XCHG];
static struct slot main_blocks[MAIN_BLOCKS];
static atomic_int stop_round;
static atomic_ulong progress;       /* operations done, for the watchdog */
static atomic_ulong churned;        /* short-lived threads created and joined */
static size_t page_size;
static uint64_t run_seed;
static int verbose;
static unsigned long leak_kib_per_s; /* -L */
static int inject_corruption;        /* -X */
static _Atomic(const char *) main_stage = "starting";

static int owner_of(uint64_t id)
{
    return (int)((id >> 40) & 0xff);
}

static unsigned gen_of(uint64_t id)
{
    return (unsigned)((id >> 28) & 0xfff);
}

static int verify_slot(const struct slot *s, const char *when, int thread)
{
    long off = layout_check(s->p, s->size, s->id, s->size);
    if (off < 0)
        return 1;
    /* How far the damage goes helps tell a stray write from a block handed out twice. */
    size_t bad = 0;
    for (size_t i = (size_t)off; i < s->size; i++)
        bad += s->p[i] != expected(s->id, s->size, i);
    FAILF("%s: thread %d, block id %#llx (allocated by table %d gen %u) size %zu at %p: "
          "byte %ld is %#x, expected %#x (%zu of %zu bytes from there differ)",
          when, thread, (unsigned long long)s->id, owner_of(s->id), gen_of(s->id), s->size,
          (void *)s->p, off, s->p[off], expected(s->id, s->size, (size_t)off), bad,
          s->size - (size_t)off);
    return 0;
}

/* ---- random choices --------------------------------------------------------------- */

static uint64_t new_id(struct worker *w)
{
    return (ID_MAGIC << 48) | ((uint64_t)(w->index & 0xff) << 40) |
           ((uint64_t)(w->gen & 0xfff) << 28) | (w->next_id++ & 0xfffffff);
}

/* Count a request toward the "pools really served it" check. */
static void note_small(struct worker *w, const void *p, size_t n)
{
    if (n >= 1 && n <= 1024) {
        w->c.small++;
        w->c.small_owned += pt_owns(p) == 1;
    }
}

/* Allocate a new block into an empty slot with a randomly chosen entry point. */
static void op_alloc(struct worker *w, struct slot *s)
{
    size_t n = rand_size(&w->rng);
    unsigned pick = (unsigned)(pt_rand(&w->rng) % 100);
    size_t align = basic_align(n);
    void *p = NULL;
    int op;
    if (pick < 38) {
        op = OP_MALLOC;
        p = malloc(n);
    } else if (pick < 52) {
        op = OP_CALLOC;
        size_t k = 1 + pt_rand(&w->rng) % 8;
        n = n / k * k;
        align = basic_align(n);
        p = calloc(n / k, k);
        if (p && !all_zero(p, n))
            FAILF("calloc(%zu, %zu) returned %p: memory that is not zero", n / k, k, p);
    } else if (pick < 60) {
        op = OP_MEMALIGN;
        size_t a = (size_t)16 << (pt_rand(&w->rng) % 9);
        if (pt_rand(&w->rng) % 50 == 0)
            a = 65536;
        align = a > align ? a : align;
        p = memalign(a, n);
    } else if (pick < 67) {
        op = OP_POSIX_MEMALIGN;
        size_t a = (size_t)8 << (pt_rand(&w->rng) % 10);
        align = a > align ? a : align;
        int rc = posix_memalign(&p, a, n);
        if (rc != 0) {
            FAILF("posix_memalign(%zu, %zu) returned %d", a, n, rc);
            p = NULL;
        }
    } else if (pick < 74) {
        op = OP_ALIGNED_ALLOC;
        size_t a = (size_t)16 << (pt_rand(&w->rng) % 9);
        n = (n + a - 1) / a * a; /* C11: a multiple of the alignment */
        align = a > basic_align(n) ? a : basic_align(n);
        p = aligned_alloc(a, n);
    } else if (pick < 77) {
        op = OP_VALLOC;
        align = page_size;
        p = valloc(n);
    } else if (pick < 80) {
        op = OP_PVALLOC;
        align = page_size;
        p = pvalloc(n);
        /* pvalloc rounds the request up to whole pages. Not pvalloc(0): glibc 2.36
         * masks with -(pagesize - 1) and gives 0 bytes a small block, not a page. */
        n = (n + page_size - 1) / page_size * page_size;
    } else if (pick < 89) {
        op = OP_REALLOCARRAY_NEW;
        size_t k = 1 + pt_rand(&w->rng) % 4;
        n = n / k * k;
        align = basic_align(n);
        p = reallocarray(NULL, n / k, k);
    } else {
        op = OP_REALLOC_NEW;
        p = realloc(NULL, n);
    }
    w->c.op[op]++;
    w->c.bytes += n;
    if (!check_new(p, n, align, op_names[op]))
        return;
    note_small(w, p, n);
    s->p = p;
    s->size = n;
    s->align = align;
    s->id = new_id(w);
    layout_fill(s->p, n, s->id);
}

/* Resize a live block: min(old patterned size, n) bytes must survive. */
static void resize(struct worker *w, struct slot *s, size_t n, int use_array)
{
    size_t old = s->size;
    unsigned char *q;
    if (use_array) {
        size_t k = 1 + pt_rand(&w->rng) % 4;
        n = n / k * k;
        q = reallocarray(pt_opaque(s->p), n / k, k);
        w->c.op[OP_REALLOCARRAY]++;
    } else {
        q = realloc(pt_opaque(s->p), n);
        w->c.op[OP_REALLOC]++;
    }
    w->c.bytes += n;
    if (n == 0 && q == NULL) {
        s->p = NULL; /* realloc(p, 0) freed the block (glibc behaviour) */
        return;
    }
    if (!check_new(q, n, basic_align(n), use_array ? "reallocarray" : "realloc")) {
        s->p = NULL; /* lost on failure; the failure is counted */
        return;
    }
    size_t keep = old < n ? old : n;
    long off = layout_check(q, keep, s->id, old);
    if (off >= 0)
        FAILF("realloc %zu -> %zu (id %#llx, %p -> %p): kept byte %ld changed", old, n,
              (unsigned long long)s->id, (void *)s->p, (void *)q, off);
    s->p = q;
    s->size = n;
    s->align = basic_align(n);
    if (n >= 16) {
        uint64_t hdr[2] = {s->id, n};
        memcpy(q, hdr, 16);
    }
    size_t start = (old >= 16 && n >= 16) ? keep : 0;
    if (n >= 16 && start < 16)
        start = 16;
    pattern_fill(q, start, n, s->id);
}

/* Grow the patterned area to the whole malloc_usable_size: the bytes beyond the request
 * belong to the block too, and writing them must not touch any other block. */
static void usable_grow(struct worker *w, struct slot *s)
{
    size_t u = malloc_usable_size(s->p);
    w->c.op[OP_USABLE_GROW]++;
    if (u < s->size) {
        FAILF("malloc_usable_size(%p) = %zu, less than the %zu bytes in use", (void *)s->p, u,
              s->size);
        return;
    }
    if (u > MAX_BLOCK)
        return; /* keep the hand-off header's sanity bound */
    size_t old = s->size;
    s->size = u;
    if (u >= 16) {
        uint64_t hdr[2] = {s->id, u};
        memcpy(s->p, hdr, 16);
    }
    size_t start = old >= 16 ? old : 0;
    if (u >= 16 && start < 16)
        start = 16;
    pattern_fill(s->p, start, u, s->id);
}

/* Requests that overflow must fail cleanly and leave the block alone. */
static void overflow_probe(struct worker *w, struct slot *s)
{
    w->c.op[OP_OVERFLOW]++;
    errno = 0;
    void *p = calloc(pt_size(SIZE_MAX / 8 + 1), 16);
    CHECK(p == NULL && pt_errno() == ENOMEM, "calloc overflowing size_t returned %p, errno %d",
          p, pt_errno());
    errno = 0;
    p = reallocarray(pt_opaque(s->p), pt_size(SIZE_MAX / 2), 3);
    CHECK(p == NULL && pt_errno() == ENOMEM,
          "reallocarray(%p) overflowing size_t returned %p, errno %d", (void *)s->p, p,
          pt_errno());
    errno = 0;
    p = realloc(pt_opaque(s->p), pt_size(SIZE_MAX - 4096));
    CHECK(p == NULL && pt_errno() == ENOMEM, "realloc(%p, SIZE_MAX - 4096) returned %p, errno %d",
          (void *)s->p, p, pt_errno());
    verify_slot(s, "after failed overflowing reallocs", w->index);
}

/* Receive a block another thread gave away: read its header, verify, free it. */
static void take_and_free(unsigned char *p, struct worker *me, struct counters *c)
{
    uint64_t hdr[2];
    memcpy(hdr, p, 16);
    struct slot s = {.p = p, .id = hdr[0], .size = (size_t)hdr[1]};
    if ((s.id >> 48) != ID_MAGIC || s.size < 16 || s.size > MAX_BLOCK ||
        malloc_usable_size(p) < s.size) {
        FAILF("handed-off block %p has a broken header: id %#llx size %zu (usable %zu)",
              (void *)p, (unsigned long long)s.id, s.size, malloc_usable_size(p));
        return; /* do not free what we cannot trust */
    }
    int ok = verify_slot(&s, "handed-off block", me ? me->index : -1);
    if (ok && c && me) {
        int owner = owner_of(s.id);
        if (owner != me->index || gen_of(s.id) != (me->gen & 0xfff))
            c->cross_frees++;
        if (owner < NTABLES && (gen_of(s.id) != (tables[owner].gen & 0xfff) ||
                                !atomic_load_explicit(&tables[owner].running,
                                                      memory_order_relaxed)))
            c->orphan_frees++;
    }
    free(p);
}

/* Free a slot's block, counting a free of another thread's block. */
static void free_slot(struct worker *w, struct slot *s)
{
    if (owner_of(s->id) == w->index && gen_of(s->id) != (w->gen & 0xfff)) {
        w->c.cross_frees++;
        w->c.orphan_frees++; /* the thread that allocated it has been joined */
    }
    free(s->p);
    w->c.op[OP_FREE]++;
    s->p = NULL;
}

/* One random operation on this worker's table. */
static void step(struct worker *w)
{
    uint64_t r = pt_rand(&w->rng);
    struct slot *s = &w->slots[(r >> 10) % SLOTS];
    unsigned pick = (unsigned)(r % 1000);
    int live = atomic_load_explicit(&s->state, memory_order_relaxed) == STABLE;

    slot_busy(s);
    if (pick < 300) {
        if (live && verify_slot(s, "before free (replaced)", w->index))
            free_slot(w, s);
        s->p = NULL;
        op_alloc(w, s);
    } else if (!live) {
        /* nothing to do on an empty slot */
    } else if (pick < 520) {
        if (verify_slot(s, "before free", w->index))
            free_slot(w, s);
        else
            s->p = NULL; /* leave a damaged block alone: its header may be garbage */
    } else if (pick < 720) {
        /* A realloc chain: small steps that stay in a class, big ones that cross it. */
        int steps = 1 + (int)(pt_rand(&w->rng) % 4);
        for (int k = 0; k < steps && s->p; k++) {
            if (!verify_slot(s, "before realloc", w->index)) {
                s->p = NULL;
                break;
            }
            size_t n;
            if (pt_rand(&w->rng) & 1) {
                long d = (long)(pt_rand(&w->rng) % 129) - 64;
                n = (long)s->size + d > 0 ? (size_t)((long)s->size + d) : 1;
            } else {
                n = rand_size(&w->rng);
            }
            resize(w, s, n, 0);
        }
    } else if (pick < 760) {
        if (verify_slot(s, "before reallocarray", w->index))
            resize(w, s, rand_size(&w->rng), 1);
        else
            s->p = NULL;
    } else if (pick < 800) {
        if (verify_slot(s, "before growing to the usable size", w->index))
            usable_grow(w, s);
    } else if (pick < 850) {
        verify_slot(s, "on touch", w->index);
        if (!aligned_to(s->p, s->align))
            FAILF("block %p lost its %zu alignment", (void *)s->p, s->align);
        size_t u = malloc_usable_size(s->p);
        if (u < s->size)
            FAILF("malloc_usable_size(%p) shrank to %zu below %zu", (void *)s->p, u, s->size);
        w->c.op[OP_VERIFY]++;
    } else if (pick < 853) {
        overflow_probe(w, s);
    } else if (s->size >= 16) {
        /* Give the block away; free whatever the cell held (often another thread's). */
        if (verify_slot(s, "before hand-off", w->index)) {
            unsigned char *old = atomic_exchange(&xchg[(r >> 40) % XCHG], s->p);
            w->c.op[OP_GIVE]++;
            s->p = NULL;
            if (old)
                take_and_free(old, w, &w->c);
        } else {
            s->p = NULL;
        }
    }
    slot_set(s, s->p ? STABLE : EMPTY);
}

/* Verify and free everything in a table (nobody else runs on it). */
static void table_drain(struct worker *w, const char *when)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &w->slots[i];
        if (atomic_load(&s->state) != STABLE)
            continue;
        slot_busy(s);
        if (verify_slot(s, when, w->index))
            free(s->p);
        s->p = NULL;
        slot_set(s, EMPTY);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (uint64_t i = 0; w->ops ? i < w->ops : !atomic_load_explicit(&stop_round,
                                                                       memory_order_relaxed);
         i++) {
        step(w);
        if ((i & 255) == 255)
            atomic_fetch_add_explicit(&progress, 256, memory_order_relaxed);
        if (atomic_load_explicit(&pt_failures, memory_order_relaxed) > 30)
            break;
    }
    atomic_store(&w->running, 0);
    return NULL;
}

static int start_on(struct worker *w, uint64_t ops, uint64_t seed)
{
    w->gen++;
    w->ops = ops;
    w->rng = seed ^ ((uint64_t)w->index << 32) ^ ((uint64_t)w->gen * 0x100000001B3ull);
    atomic_store(&w->running, 1);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        atomic_store(&w->running, 0);
        FAILF("pthread_create (table %d): error %d", w->index, rc);
        return 0;
    }
    return 1;
}

/* ---- thread churn ----------------------------------------------------------------- */

/* Creates and joins short-lived threads until the round stops. Each thread does a few
 * hundred to a few thousand operations on a churn table; half the time the table is
 * drained by the exiting thread, otherwise the next thread on it frees what is left. */
static void *churn_main(void *arg)
{
    uint64_t rng = *(uint64_t *)arg;
    while (!atomic_load(&stop_round) && atomic_load(&pt_failures) <= 30) {
        int n = 1 + (int)(pt_rand(&rng) % NCHURN);
        int started[NCHURN] = {0};
        for (int i = 0; i < n; i++)
            started[i] = start_on(&tables[MAXT + i], 100 + pt_rand(&rng) % 3000, rng);
        for (int i = 0; i < n; i++) {
            if (!started[i])
                continue;
            pthread_join(tables[MAXT + i].thread, NULL);
            atomic_fetch_add(&churned, 1);
            if (pt_rand(&rng) & 1)
                table_drain(&tables[MAXT + i], "churn table after its thread exited");
        }
    }
    return NULL;
}

/* ---- crash reports, watchdog -------------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
        return;
}

static void print_stack(const char *who)
{
    void *frames[64];
    int n = backtrace(frames, 64);
    say("torture: stack of %s (pid %d, tid %d):\n", who, (int)getpid(), (int)gettid());
    backtrace_symbols_fd(frames, n, 2);
}

static void on_crash(int sig)
{
    /* snprintf into a stack buffer and backtrace (primed at start) do not allocate. */
    say("torture: CRASH signal %d (%s) seed=%llu\n", sig, strsignal(sig),
        (unsigned long long)run_seed);
    print_stack("the crashing thread");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_quit(int sig)
{
    (void)sig;
    print_stack("a thread asked for its stack");
}

/* Attach gdb for every thread's stack (posix_spawn: runs no fork handlers, so it works
 * while the allocator is deadlocked). Returns 0 when gdb is not there. */
static int gdb_stacks(void)
{
    static const char gdb[] = "/usr/bin/gdb";
    if (access(gdb, X_OK) != 0)
        return 0;
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *argv[] = {(char *)gdb, "-p", pid, "-batch", "-nx", "-ex", "set pagination off",
                    "-ex", "thread apply all bt 30", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t child;
    extern char **environ;
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    (void)environ;
    if (posix_spawn(&child, gdb, &fa, NULL, argv, envp) != 0)
        return 0;
    for (int i = 0; i < 600; i++) {   /* 60 s */
        if (waitpid(child, NULL, WNOHANG) == child)
            return 1;
        usleep(100000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 1;
}

static atomic_int run_done;
static unsigned watchdog_s = 60;

/* No progress for watchdog_s seconds: name the stage and the seed, show every thread's
 * stack, exit 3. Allocates nothing (the allocator may be what is stuck). */
static void *watchdog(void *arg)
{
    (void)arg;
    unsigned long last = atomic_load(&progress);
    double since = pt_now();
    while (!atomic_load(&run_done)) {
        usleep(200000);
        unsigned long now = atomic_load(&progress);
        if (now != last) {
            last = now;
            since = pt_now();
        } else if (pt_now() - since > watchdog_s) {
            say("torture: FAIL no progress for %u s after %lu ops, main thread: %s; deadlock? "
                "seed=%llu\n",
                watchdog_s, now, atomic_load(&main_stage), (unsigned long long)run_seed);
            if (!gdb_stacks())
                for (int t = 0; t < NTABLES; t++)
                    if (atomic_load(&tables[t].running)) {
                        pthread_kill(tables[t].thread, SIGQUIT);
                        usleep(50000);
                    }
            say("torture: FAILED (watchdog) seed=%llu\n", (unsigned long long)run_seed);
            _exit(3);
        }
    }
    return NULL;
}

/* ---- fork storms ----------------------------------------------------------------------- */

static void main_blocks_make(uint64_t *rng, uint64_t base)
{
    for (int i = 0; i < MAIN_BLOCKS; i++) {
        struct slot *s = &main_blocks[i];
        s->size = 16 + rand_size(rng) % 40000;
        s->p = malloc(s->size);
        s->id = (ID_MAGIC << 48) | ((uint64_t)0xfe << 40) | (base + (uint64_t)i);
        s->align = 16;
        if (!check_new(s->p, s->size, 16, "malloc (main thread)"))
            exit(1);
        layout_fill(s->p, s->size, s->id);
    }
}

static int main_blocks_verify(const char *when)
{
    int ok = 1;
    for (int i = 0; i < MAIN_BLOCKS; i++)
        ok &= verify_slot(&main_blocks[i], when, -1);
    return ok;
}

/* A fork child that is still running after 45 s: every thread's stack (gdb), exit 4. */
static void child_alarm(int sig)
{
    (void)sig;
    say("torture: fork child %d: FAIL still running after 45 s (deadlock after fork?)\n",
        (int)getpid());
    if (!gdb_stacks())
        print_stack("the fork child's main thread");
    _exit(4);
}

/*
 * In a fork child: verify everything inherited (the main thread's blocks, every block
 * that was STABLE in any table when fork ran, the hand-off cells), free about half of
 * it, run 0-2 threads of fresh work, sometimes fork a grandchild, verify what was kept,
 * and exit 0 only if every check held. Never returns.
 */
static __attribute__((noreturn)) void child_main(uint64_t seed)
{
    uint64_t rng = seed;
    int failures_before = atomic_load(&pt_failures);
    signal(SIGALRM, child_alarm);
    alarm(45);
    /* The parent's threads are gone here: tables in use by them stay as they were. */
    for (int t = 0; t < NTABLES; t++)
        atomic_store(&tables[t].running, 0);
    atomic_store(&stop_round, 0);
    main_blocks_verify("fork child: main thread block");
    static struct slot kept[NTABLES * SLOTS];
    size_t nkept = 0;
    unsigned long inherited = 0;
    for (int t = 0; t < NTABLES; t++)
        for (int i = 0; i < SLOTS; i++) {
            struct slot *s = &tables[t].slots[i];
            if (atomic_load_explicit(&s->state, memory_order_acquire) != STABLE)
                continue;
            inherited++;
            if (!verify_slot(s, "fork child: inherited block", t))
                continue;
            if (pt_rand(&rng) & 1)
                free(s->p);
            else
                kept[nkept++] = *s;
        }
    for (int i = 0; i < XCHG; i++) {
        unsigned char *p = atomic_exchange(&xchg[i], NULL);
        if (p)
            take_and_free(p, NULL, NULL);
    }
    for (int i = 0; i < MAIN_BLOCKS; i += 2) {
        free(main_blocks[i].p);
        main_blocks[i].p = malloc(main_blocks[i].size);
        if (check_new(main_blocks[i].p, main_blocks[i].size, 16, "malloc (fork child)"))
            layout_fill(main_blocks[i].p, main_blocks[i].size, main_blocks[i].id);
    }
    /* Fresh work on the first tables (their inherited blocks were handled above). */
    int nthreads = (int)(pt_rand(&rng) % 3);
    for (int t = 0; t < MAXT; t++)
        memset(tables[t].slots, 0, sizeof tables[t].slots);
    for (int t = 0; t < nthreads; t++) {
        tables[t].index = 100 + t;
        start_on(&tables[t], CHILD_OPS, rng);
    }
    for (int t = 0; t < nthreads; t++)
        pthread_join(tables[t].thread, NULL);
    if (nthreads == 0) {
        tables[0].index = 100;
        tables[0].ops = CHILD_OPS;
        tables[0].rng = rng;
        worker_main(&tables[0]);
    }
    if (pt_rand(&rng) % 4 == 0) {
        /* A grandchild: one more generation of inherited state. */
        pid_t g = fork();
        if (g == 0) {
            alarm(40);
            tables[2].index = 200;
            tables[2].ops = CHILD_OPS;
            tables[2].rng = rng ^ 0x6A7D;
            worker_main(&tables[2]);
            for (size_t i = 0; i < nkept; i++)
                verify_slot(&kept[i], "grandchild: kept inherited block", -1);
            table_drain(&tables[2], "grandchild: at exit");
            _exit(atomic_load(&pt_failures) != failures_before);
        }
        int st = -1;
        if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAILF("fork child %d: grandchild failed (status %#x)", (int)getpid(), st);
    }
    for (size_t i = 0; i < nkept; i++)
        if (verify_slot(&kept[i], "fork child: kept inherited block after child work", -1))
            free(kept[i].p);
    for (int t = 0; t < 3; t++)
        table_drain(&tables[t], "fork child: at exit");
    main_blocks_verify("fork child: main thread block after child work");
    int bad = atomic_load(&pt_failures) != failures_before;
    if (pt_rand(&rng) & 1)
        exit(bad); /* atexit handlers and the allocator's destructors run */
    _exit(bad);
}

struct storm_stats {
    unsigned long forks, failed;
};

/* Fork n children back to back while the workers run, then wait for all of them with a
 * deadline; a hung child is asked for its stack and killed. */
static void fork_storm(int n, uint64_t seed, struct storm_stats *st)
{
    pid_t pids[MAX_STORM];
    int live = 0;
    fflush(stdout);
    fflush(stderr);
    atomic_store(&main_stage, "inside fork() (a storm)");
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            FAILF("fork failed: errno %d", errno);
            break;
        }
        if (pid == 0)
            child_main(seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull));
        pids[live++] = pid;
        st->forks++;
    }
    atomic_store(&main_stage, "waiting for fork children (60 s deadline)");
    double deadline = pt_now() + 60.0;
    int left = live;
    while (left > 0) {
        int status;
        pid_t r = waitpid(-1, &status, WNOHANG);
        if (r > 0) {
            int mine = 0;
            for (int i = 0; i < live; i++)
                if (pids[i] == r) {
                    pids[i] = -1;
                    mine = 1;
                }
            if (!mine)
                continue;
            left--;
            if (WIFSIGNALED(status)) {
                FAILF("fork child %d killed by signal %d (%s)", (int)r, WTERMSIG(status),
                      strsignal(WTERMSIG(status)));
                st->failed++;
            } else if (WEXITSTATUS(status) == 4) {
                FAILF("fork child %d hung for 45 s (deadlock after fork?): its stacks are above",
                      (int)r);
                st->failed++;
            } else if (WEXITSTATUS(status) != 0) {
                FAILF("fork child %d exited with status %d", (int)r, WEXITSTATUS(status));
                st->failed++;
            }
            continue;
        }
        if (pt_now() > deadline) {
            for (int i = 0; i < live; i++)
                if (pids[i] > 0) {
                    kill(pids[i], SIGQUIT);
                    usleep(500000);
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                    FAILF("fork child %d hung for 60 s (deadlock after fork?), killed",
                          (int)pids[i]);
                    st->failed++;
                }
            break;
        }
        usleep(2000);
    }
    atomic_store(&main_stage, "running a round");
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: torture [-s SEED] [-t SECONDS] [-r ROUND_MS] [-T MIN-MAX] "
                    "[-f MAX_FORKS] [-C] [-w WATCHDOG_S] [-v] [-L KIB_PER_S] [-X]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    double seconds = 10;
    unsigned round_ms = 1000;
    int tmin = 2, tmax = MAXT, max_forks = 8, churn = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            verbose = 1;
            continue;
        }
        if (!strcmp(a, "-C")) {
            churn = 0;
            continue;
        }
        if (!strcmp(a, "-X")) {
            inject_corruption = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "-s"))
            seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "-t"))
            seconds = strtod(v, NULL);
        else if (!strcmp(a, "-r"))
            round_ms = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(a, "-f"))
            max_forks = atoi(v);
        else if (!strcmp(a, "-w"))
            watchdog_s = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(a, "-L"))
            leak_kib_per_s = strtoul(v, NULL, 0);
        else if (!strcmp(a, "-T")) {
            if (sscanf(v, "%d-%d", &tmin, &tmax) != 2)
                usage();
        } else
            usage();
    }
    if (tmin < 1 || tmax > MAXT || tmin > tmax || round_ms < 10 || max_forks < 0 ||
        max_forks > MAX_STORM || seconds <= 0 || watchdog_s < 5)
        usage();

    pt_init(TEST);
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_seed = seed;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    printf("torture: seed=%llu seconds=%g round_ms=%u threads=%d-%d max_forks=%d churn=%d "
           "(rerun: %s -s %llu ...)\n",
           (unsigned long long)seed, seconds, round_ms, tmin, tmax, max_forks, churn, argv[0],
           (unsigned long long)seed);
    /* Load libgcc's unwinder now: backtrace() must not allocate inside a handler. */
    void *prime[4];
    backtrace(prime, 4);
    struct sigaction sa = {0};
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_NODEFER | SA_RESETHAND;
    int crash_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (unsigned i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++)
        sigaction(crash_sigs[i], &sa, NULL);
    signal(SIGQUIT, on_quit);
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);

    for (int t = 0; t < NTABLES; t++)
        tables[t].index = t;
    uint64_t rng = seed;
    main_blocks_make(&rng, 0);

    pthread_t dog;
    if (pthread_create(&dog, NULL, watchdog, NULL) != 0) {
        FAILF("pthread_create (watchdog) failed");
        return 1;
    }
    cpu_set_t allowed;
    int cpus[CPU_SETSIZE], ncpu = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[ncpu++] = c;

    double t0 = pt_now(), t_end = t0 + seconds;
    unsigned long rounds = 0, migrations = 0, leaked = 0;
    int seen_min = MAXT + 1, seen_max = 0;
    struct storm_stats storms = {0};
    while (pt_now() < t_end && atomic_load(&pt_failures) == 0) {
        int n;
        if (rounds == 0)
            n = tmin;
        else if (rounds == 1)
            n = tmax;
        else /* uniform in log space: as many rounds near 2 as near 64 */
            n = (int)(tmin * pow((double)tmax / tmin,
                                 (double)(pt_rand(&rng) >> 11) / 9007199254740992.0) + 0.5);
        n = n < tmin ? tmin : n > tmax ? tmax : n;
        seen_min = n < seen_min ? n : seen_min;
        seen_max = n > seen_max ? n : seen_max;
        atomic_store(&stop_round, 0);
        atomic_store(&main_stage, "starting a round's threads");
        int started[MAXT];
        for (int t = 0; t < n; t++)
            started[t] = start_on(&tables[t], 0, seed ^ rounds);
        pthread_t churner;
        uint64_t churn_seed = pt_rand(&rng);
        int churning = churn && pthread_create(&churner, NULL, churn_main, &churn_seed) == 0;
        atomic_store(&main_stage, "running a round");
        double now = pt_now();
        double r_end = now + round_ms / 1000.0;
        r_end = r_end < t_end ? r_end : t_end;
        double storm_at = max_forks ? now + (r_end - now) * (double)(pt_rand(&rng) % 80) / 100
                                    : r_end + 1;
        unsigned long forks_before = storms.forks;
        while (pt_now() < r_end && atomic_load(&pt_failures) == 0) {
            if (pt_now() >= storm_at) {
                fork_storm(1 + (int)(pt_rand(&rng) % (unsigned)max_forks),
                           seed ^ (rounds << 8), &storms);
                storm_at = r_end + 1;
                continue;
            }
            if (ncpu > 1 && n > 0) {
                cpu_set_t one;
                CPU_ZERO(&one);
                if (pt_rand(&rng) % 8)
                    CPU_SET(cpus[pt_rand(&rng) % (unsigned)ncpu], &one);
                else
                    one = allowed;
                int t = (int)(pt_rand(&rng) % (unsigned)n);
                if (atomic_load(&tables[t].running) &&
                    pthread_setaffinity_np(tables[t].thread, sizeof one, &one) == 0)
                    migrations++;
            }
            while (leak_kib_per_s && (double)leaked < (pt_now() - t0) * leak_kib_per_s) {
                char *p = malloc(1024); /* -L: never freed, on purpose */
                if (!p)
                    break;
                memset(p, 0x4c, 1024);
                leaked++;
            }
            usleep(1000);
        }
        atomic_store(&main_stage, "joining a round's threads");
        atomic_store(&stop_round, 1);
        for (int t = 0; t < n; t++)
            if (started[t])
                pthread_join(tables[t].thread, NULL);
        if (churning)
            pthread_join(churner, NULL);
        rounds++;
        if (inject_corruption && rounds == 1)
            for (int i = 0; i < SLOTS; i++) {
                struct slot *s = &tables[0].slots[i];
                if (atomic_load(&s->state) == STABLE && s->size >= 64) {
                    s->p[s->size / 2] ^= 0x20; /* -X: the stray write a check must see */
                    printf("torture: -X: flipped byte %zu of block %p (id %#llx)\n",
                           s->size / 2, (void *)s->p, (unsigned long long)s->id);
                    break;
                }
            }
        /* Now and then the main thread's long-lived blocks are replaced. */
        if (rounds % 7 == 0 && main_blocks_verify("main thread block between rounds")) {
            for (int i = 0; i < MAIN_BLOCKS; i++)
                free(main_blocks[i].p);
            main_blocks_make(&rng, rounds << 16);
        }
        if (verbose)
            printf("  round %lu: %d threads, %lu forks, %lu churned threads so far, %lu ops\n",
                   rounds, n, storms.forks - forks_before, atomic_load(&churned),
                   atomic_load(&progress));
    }
    atomic_store(&main_stage, "checking and freeing everything");
    atomic_store(&run_done, 1);
    pthread_join(dog, NULL);
    for (int t = 0; t < NTABLES; t++)
        table_drain(&tables[t], "at the end");
    for (int i = 0; i < XCHG; i++) {
        unsigned char *p = atomic_exchange(&xchg[i], NULL);
        if (p)
            take_and_free(p, NULL, NULL);
    }
    main_blocks_verify("main thread block at the end");
    for (int i = 0; i < MAIN_BLOCKS; i++)
        free(main_blocks[i].p);
    double dt = pt_now() - t0;

    struct counters sum = {0};
    for (int t = 0; t < NTABLES; t++) {
        for (int k = 0; k < OP_NOPS; k++)
            sum.op[k] += tables[t].c.op[k];
        sum.cross_frees += tables[t].c.cross_frees;
        sum.orphan_frees += tables[t].c.orphan_frees;
        sum.small += tables[t].c.small;
        sum.small_owned += tables[t].c.small_owned;
        sum.bytes += tables[t].c.bytes;
    }
    uint64_t all = 0;
    for (int k = 0; k < OP_NOPS; k++) {
        if (verbose)
            printf("  %-14s %12llu\n", op_names[k], (unsigned long long)sum.op[k]);
        all += sum.op[k];
    }
    /* Every ingredient must have happened, or the run proved less than it claims (not
     * asked after a failure, which ends the run early). */
    int clean = atomic_load(&pt_failures) == 0;
    for (int k = 0; k < OP_NOPS && dt > 2 && clean; k++)
        CHECK(sum.op[k] > 0, "no %s call was made", op_names[k]);
    CHECK(!clean || sum.cross_frees > 0, "no block was freed by another thread than its allocator");
    CHECK(!clean || sum.orphan_frees > 0 || rounds < 2,
          "no block was freed after its allocating thread had exited");
    CHECK(!clean || !churn || atomic_load(&churned) > 0, "no short-lived thread was churned");
    CHECK(!clean || !max_forks || storms.forks > 0, "no fork storm ran");
    CHECK(!clean || rounds < 2 || (seen_min == tmin && seen_max == tmax),
          "thread counts %d..%d do not span %d..%d", seen_min, seen_max, tmin, tmax);
    if (pt_preloaded() && !getenv("POOLALLOC_MAX_SIZE"))
        CHECK(sum.small_owned * 10 >= sum.small * 9,
              "only %llu of %llu requests of 1..1024 bytes came from poolalloc's pools",
              (unsigned long long)sum.small_owned, (unsigned long long)sum.small);
    int failures = atomic_load(&pt_failures);
    printf("torture: %s seed=%llu: %.1f s, %lu rounds, threads %d..%d, %llu ops (%.2f M/s), "
           "%llu cross-thread frees (%llu after the allocating thread exited), %lu churned "
           "threads, %lu forks (%lu failed), %lu migrations, %.1f GiB requested, "
           "%.1f%% of small requests pool-owned\n",
           failures ? "FAILED" : "ok", (unsigned long long)seed, dt, rounds, seen_min, seen_max,
           (unsigned long long)all, (double)all / dt / 1e6,
           (unsigned long long)sum.cross_frees, (unsigned long long)sum.orphan_frees,
           atomic_load(&churned), storms.forks, storms.failed, migrations,
           (double)sum.bytes / (1 << 30),
           sum.small ? 100.0 * (double)sum.small_owned / (double)sum.small : 0.0);
    if (failures)
        fprintf(stderr, "torture: %d failure(s), seed=%llu\n", failures,
                (unsigned long long)seed);
    return failures ? 1 : 0;
}
