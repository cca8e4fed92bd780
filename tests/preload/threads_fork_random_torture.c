/* SPDX-License-Identifier: MIT */
/*
 * threads_fork_random_torture — 8 threads of seeded random malloc-family calls, blocks
 * handed between threads, and fork() while they run.
 *
 * The main thread forks twice while the workers run (the children verify what they
 * inherited and allocate with threads of their own, one forks a grandchild), and in
 * between keeps moving random workers from CPU to CPU with pthread_setaffinity_np.
 *
 * Every live block carries a pattern that depends only on its id (never on its
 * address): bytes [0,8) hold the id, [8,16) the size (when the block has 16 bytes),
 * every other byte i is byte i of the id's pattern stream.  A block is verified before
 * each realloc and free, when it arrives from another thread, in a fork child, and at
 * the end, so memory handed out twice, moved wrongly or scribbled on by the allocator
 * shows up as a changed byte.
 *
 * Run: threads_fork_random_torture [SEED]   (or TORTURE_SEED=...; TORTURE_OPS=ops/thread)
 */
#define _GNU_SOURCE
#include "support/preload_test.h"
#include "../lib/torture_blocks.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define TEST "threads_fork_random_torture"

enum {
    NTHREADS = 8,
    SLOTS = 384,         /* live blocks per thread */
    XCHG = 64,           /* shared hand-off cells */
    CHILD_THREADS = 2,   /* threads a fork child starts */
    CHILD_OPS = 20000,   /* ops per child thread */
    MAIN_BLOCKS = 64,    /* blocks the main thread holds across the forks */
    FORKS = 2,           /* at 30 % and 60 % of the run */
};

#define ID_MAGIC 0xB10Cull
#define MAX_BLOCK ((size_t)2 << 20)

struct counters {
    uint64_t op[16];
    uint64_t cross_frees;  /* freed a block another thread allocated */
    uint64_t bytes;        /* bytes requested */
    uint64_t big;          /* blocks of 1 MiB and more */
};

enum { OP_MALLOC, OP_CALLOC, OP_MEMALIGN, OP_POSIX_MEMALIGN, OP_ALIGNED_ALLOC, OP_VALLOC,
       OP_REALLOCARRAY_NEW, OP_REALLOC_NEW, OP_FREE, OP_REALLOC, OP_REALLOCARRAY, OP_VERIFY,
       OP_GIVE, OP_NOPS };
static const char *const op_names[OP_NOPS] = {
    "malloc",       "calloc",        "memalign", "posix_memalign", "aligned_alloc",
    "valloc",       "reallocarray0", "realloc0", "free",           "realloc",
    "reallocarray", "verify",        "handoff"};

struct worker {
    int index;
    uint64_t rng;
    uint64_t ops;
    uint64_t next_id;
    struct slot slots[SLOTS];
    struct counters c;
    pthread_t thread;
};

static struct worker workers[NTHREADS];
static _Atomic(unsigned char *) xchg[XCHG];
static atomic_ulong progress; /* ops done by all workers, drives the forks */
static size_t page_size;

static void report_bad(const char *when, const struct slot *s, long off, int thread)
{
    FAILF("%s: thread %d block id %#llx size %zu at %p: byte %ld is %#x, expected %#x", when,
          thread, (unsigned long long)s->id, s->size, (void *)s->p, off, s->p[off],
          expected(s->id, s->size, (size_t)off));
}

static int verify_slot(const struct slot *s, const char *when, int thread)
{
    long off = layout_check(s->p, s->size, s->id, s->size);
    if (off >= 0) {
        report_bad(when, s, off, thread);
        return 0;
    }
    return 1;
}

/* ---- random choices ---------------------------------------------------------------- */

/* rand_size, counting the big ones. */
static size_t rand_size_counted(uint64_t *rng, struct counters *c)
{
    size_t n = rand_size(rng);
    if (n >= TORTURE_BIG)
        c->big++;
    return n;
}

/* Allocate a new block into an empty slot with a randomly chosen entry point. */
static void op_alloc(struct worker *w, struct slot *s)
{
    size_t n = rand_size_counted(&w->rng, &w->c);
    unsigned pick = (unsigned)(pt_rand(&w->rng) % 100);
    size_t align = basic_align(n);
    void *p = NULL;
    int op;
    if (pick < 40) {
        op = OP_MALLOC;
        p = malloc(n);
    } else if (pick < 55) {
        op = OP_CALLOC;
        size_t k = 1 + pt_rand(&w->rng) % 8;
        n = n / k * k;
        align = basic_align(n);
        p = calloc(n / k, k);
        if (p && !all_zero(p, n))
            FAILF("calloc(%zu, %zu) returned memory that is not zero", n / k, k);
    } else if (pick < 63) {
        op = OP_MEMALIGN;
        size_t a = (size_t)16 << (pt_rand(&w->rng) % 9);
        if (pt_rand(&w->rng) % 50 == 0)
            a = 65536;
        align = a > align ? a : align;
        p = memalign(a, n);
    } else if (pick < 71) {
        op = OP_POSIX_MEMALIGN;
        size_t a = (size_t)8 << (pt_rand(&w->rng) % 10);
        align = a > align ? a : align;
        int rc = posix_memalign(&p, a, n);
        if (rc != 0) {
            FAILF("posix_memalign(%zu, %zu) returned %d", a, n, rc);
            p = NULL;
        }
    } else if (pick < 78) {
        op = OP_ALIGNED_ALLOC;
        size_t a = (size_t)16 << (pt_rand(&w->rng) % 9);
        n = (n + a - 1) / a * a; /* C11: size a multiple of the alignment */
        align = a > basic_align(n) ? a : basic_align(n);
        p = aligned_alloc(a, n);
    } else if (pick < 82) {
        op = OP_VALLOC;
        align = page_size;
        p = valloc(n);
    } else if (pick < 90) {
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
    s->p = p;
    s->size = n;
    s->align = align;
    s->id = (ID_MAGIC << 48) | ((uint64_t)w->index << 40) | w->next_id++;
    layout_fill(s->p, n, s->id);
}

/* Resize a live block: its kept prefix must survive, the rest is laid out anew. */
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
        /* realloc(p, 0) freed the block (glibc behaviour). */
        s->p = NULL;
        return;
    }
    if (!check_new(q, n, basic_align(n), use_array ? "reallocarray" : "realloc")) {
        s->p = NULL; /* leaked on failure: the failure is already counted */
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

/* Receive a block another thread gave away: read its header, verify, free it. */
static void take_and_free(unsigned char *p, int me, struct counters *c)
{
    uint64_t hdr[2];
    memcpy(hdr, p, 16);
    struct slot s = {.p = p, .id = hdr[0], .size = (size_t)hdr[1]};
    if ((s.id >> 48) != ID_MAGIC || s.size < 16 || s.size > MAX_BLOCK ||
        malloc_usable_size(p) < s.size) {
        FAILF("handed-off block %p has a broken header: id %#llx size %zu", (void *)p,
              (unsigned long long)s.id, s.size);
        return; /* do not free what we cannot trust */
    }
    if (verify_slot(&s, "handed-off block", me) && (int)((s.id >> 40) & 0xff) != me && c)
        c->cross_frees++;
    free(p);
}

/* One random operation on this worker's table. */
static void step(struct worker *w)
{
    uint64_t r = pt_rand(&w->rng);
    struct slot *s = &w->slots[(r >> 10) % SLOTS];
    unsigned pick = (unsigned)(r % 1000);
    int live = atomic_load_explicit(&s->state, memory_order_relaxed) == STABLE;

    slot_busy(s);
    if (pick < 320) {
        if (live) {
            verify_slot(s, "before free (replaced)", w->index);
            free(s->p);
            w->c.op[OP_FREE]++;
        }
        s->p = NULL;
        op_alloc(w, s);
    } else if (!live) {
        /* nothing to do on an empty slot */
    } else if (pick < 560) {
        verify_slot(s, "before free", w->index);
        free(s->p);
        w->c.op[OP_FREE]++;
        s->p = NULL;
    } else if (pick < 780) {
        /* A realloc chain: small steps that stay in a class, big ones that cross it. */
        int steps = 1 + (int)(pt_rand(&w->rng) % 4);
        for (int k = 0; k < steps && s->p; k++) {
            if (!verify_slot(s, "before realloc", w->index))
                break;
            size_t n;
            if (pt_rand(&w->rng) & 1) {
                long d = (long)(pt_rand(&w->rng) % 129) - 64;
                n = (long)s->size + d > 0 ? (size_t)((long)s->size + d) : 1;
            } else {
                n = rand_size_counted(&w->rng, &w->c);
            }
            resize(w, s, n, 0);
        }
    } else if (pick < 830) {
        if (verify_slot(s, "before reallocarray", w->index))
            resize(w, s, rand_size_counted(&w->rng, &w->c), 1);
    } else if (pick < 900) {
        verify_slot(s, "on touch", w->index);
        if (!aligned_to(s->p, s->align))
            FAILF("block %p lost its %zu alignment", (void *)s->p, s->align);
        w->c.op[OP_VERIFY]++;
    } else if (s->size >= 16) {
        /* Give the block away; free whatever the cell held (often another thread's). */
        verify_slot(s, "before hand-off", w->index);
        unsigned char *old = atomic_exchange(&xchg[(r >> 40) % XCHG], s->p);
        s->p = NULL;
        w->c.op[OP_GIVE]++;
        if (old)
            take_and_free(old, w->index, &w->c);
    }
    slot_set(s, s->p ? STABLE : EMPTY);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (uint64_t i = 0; i < w->ops; i++) {
        step(w);
        if ((i & 255) == 255)
            atomic_fetch_add_explicit(&progress, 256, memory_order_relaxed);
        if (atomic_load_explicit(&pt_failures, memory_order_relaxed) > 30)
            break;
    }
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &w->slots[i];
        if (atomic_load(&s->state) != STABLE)
            continue;
        slot_busy(s);
        verify_slot(s, "at the end", w->index);
        free(s->p);
        s->p = NULL;
        slot_set(s, EMPTY);
    }
    return NULL;
}

/* ---- watchdog ------------------------------------------------------------------------ */

static uint64_t run_seed;
static atomic_int run_done;
static _Atomic(const char *) main_stage = "starting workers"; /* what main is doing */

/*
 * A deadlocked allocator stops every worker: say so after 25 s without progress (longer
 * than a fork child's 20 s deadline), with what the main thread was doing and the seed,
 * and exit, instead of waiting for the runner's timeout.  Allocates nothing.
 */
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
        } else if (pt_now() - since > 25.0) {
            char msg[256];
            int n = snprintf(msg, sizeof msg,
                             "FAIL: no progress for 25 s after %lu ops, main thread %s: "
                             "deadlock? (seed=%llu)\n",
                             now, atomic_load(&main_stage), (unsigned long long)run_seed);
            if (n > 0 && write(2, msg, (size_t)n) < 0)
                _exit(3);
            _exit(3);
        }
    }
    return NULL;
}

/* ---- fork ---------------------------------------------------------------------------- */

static struct slot main_blocks[MAIN_BLOCKS];

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

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(1, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
        return;
}

/*
 * In the child: verify what was inherited (the main thread's blocks, every worker
 * block that was STABLE when fork ran, the hand-off cells), free part of it, run two
 * fresh workers, fork a grandchild that runs one more, verify the kept blocks again,
 * _exit with 0 only if all held.
 */
static void child_main(uint64_t seed)
{
    int failures_before = atomic_load(&pt_failures);
    main_blocks_verify("fork child: main thread block");
    unsigned long inherited = 0, freed = 0;
    static struct slot kept[NTHREADS * SLOTS];
    size_t nkept = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < SLOTS; i++) {
            struct slot *s = &workers[t].slots[i];
            if (atomic_load_explicit(&s->state, memory_order_acquire) != STABLE)
                continue;
            inherited++;
            if (!verify_slot(s, "fork child: inherited block", t))
                continue;
            if (i & 1) {
                free(s->p);
                freed++;
            } else {
                kept[nkept].p = s->p;
                kept[nkept].size = s->size;
                kept[nkept].id = s->id;
                nkept++;
            }
        }
    for (int i = 0; i < XCHG; i++) {
        unsigned char *p = atomic_exchange(&xchg[i], NULL);
        if (p) {
            take_and_free(p, -1, NULL);
            freed++;
        }
    }
    /* Replace half of the main thread's blocks with fresh ones. */
    for (int i = 0; i < MAIN_BLOCKS; i += 2) {
        free(main_blocks[i].p);
        main_blocks[i].p = malloc(main_blocks[i].size);
        if (check_new(main_blocks[i].p, main_blocks[i].size, 16, "malloc (fork child)"))
            layout_fill(main_blocks[i].p, main_blocks[i].size, main_blocks[i].id);
    }
    static struct worker cw[CHILD_THREADS];
    for (int t = 0; t < CHILD_THREADS; t++) {
        memset(&cw[t], 0, sizeof cw[t]);
        cw[t].index = 100 + t;
        cw[t].rng = seed ^ (0xC41D0000ull + (uint64_t)t);
        cw[t].ops = CHILD_OPS;
        if (pthread_create(&cw[t].thread, NULL, worker_main, &cw[t]) != 0) {
            FAILF("fork child: pthread_create failed");
            _exit(1);
        }
    }
    for (int t = 0; t < CHILD_THREADS; t++)
        pthread_join(cw[t].thread, NULL);
    /* A grandchild, forked while nothing else runs in the child: one more generation
     * of inherited state, one more worker. */
    pid_t gpid = fork();
    if (gpid == 0) {
        static struct worker gw;
        gw.index = 200;
        gw.rng = seed ^ 0x6A7D00ull;
        gw.ops = CHILD_OPS;
        worker_main(&gw);
        for (size_t i = 0; i < nkept; i++)
            verify_slot(&kept[i], "grandchild: kept inherited block", -1);
        _exit(atomic_load(&pt_failures) != failures_before);
    }
    int gstatus = -1;
    if (gpid < 0 || waitpid(gpid, &gstatus, 0) != gpid || !WIFEXITED(gstatus) ||
        WEXITSTATUS(gstatus) != 0)
        FAILF("fork child: grandchild failed (status %#x)", gstatus);
    for (size_t i = 0; i < nkept; i++) {
        verify_slot(&kept[i], "fork child: kept inherited block after child work", -1);
        free(kept[i].p);
    }
    main_blocks_verify("fork child: main thread block after child work");
    for (int i = 0; i < MAIN_BLOCKS; i++)
        free(main_blocks[i].p);
    int bad = atomic_load(&pt_failures) - failures_before;
    out("  fork child %d: %lu inherited blocks verified, %lu freed, %d child ops, %s\n",
        (int)getpid(), inherited, freed, CHILD_THREADS * CHILD_OPS, bad ? "FAILED" : "ok");
    _exit(bad ? 1 : 0);
}

/* Fork now; wait for the child with a deadline so a deadlocked child is named as such. */
static void fork_and_check(int nth, uint64_t seed)
{
    fflush(stdout);
    atomic_store(&main_stage, "inside fork()");
    pid_t pid = fork();
    if (pid < 0) {
        FAILF("fork failed: errno %d", errno);
        return;
    }
    if (pid == 0)
        child_main(seed + (uint64_t)nth);
    atomic_store(&main_stage, "waiting for a fork child (20 s deadline)");
    double deadline = pt_now() + 20.0;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0) {
            FAILF("waitpid: errno %d", errno);
            return;
        }
        if (pt_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAILF("fork child %d hung for 20 s (deadlock after fork?), killed", (int)pid);
            atomic_store(&main_stage, "back from a hung fork child");
            return;
        }
        usleep(2000);
    }
    atomic_store(&main_stage, "watching the workers");
    if (WIFSIGNALED(status))
        FAILF("fork child %d killed by signal %d", (int)pid, WTERMSIG(status));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAILF("fork child %d exited with status %d", (int)pid, WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
    pt_init(TEST);
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t seed;
    const char *env_seed = getenv("TORTURE_SEED");
    if (argc > 1)
        seed = strtoull(argv[1], NULL, 0);
    else if (env_seed)
        seed = strtoull(env_seed, NULL, 0);
    else
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    const char *env_ops = getenv("TORTURE_OPS");
    uint64_t ops = env_ops ? strtoull(env_ops, NULL, 0) : 1000000;
    printf("seed=%llu threads=%d ops/thread=%llu\n", (unsigned long long)seed, NTHREADS,
           (unsigned long long)ops);
    fprintf(stderr, "%s: seed=%llu (rerun: %s %llu)\n", TEST, (unsigned long long)seed, argv[0],
            (unsigned long long)seed);

    run_seed = seed;
    uint64_t rng = seed;
    main_blocks_make(&rng, 0);
    pthread_t dog;
    if (pthread_create(&dog, NULL, watchdog, NULL) != 0) {
        FAILF("pthread_create (watchdog) failed");
        return 1;
    }
    double t0 = pt_now();
    for (int t = 0; t < NTHREADS; t++) {
        workers[t].index = t;
        workers[t].rng = seed ^ ((uint64_t)(t + 1) * 0x100000001B3ull);
        workers[t].ops = ops;
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            FAILF("pthread_create failed");
            return 1;
        }
    }
    unsigned long total = (unsigned long)ops * NTHREADS;
    int forks = 0;
    atomic_store(&main_stage, "watching the workers");
    /* While the workers run, keep moving them between CPUs: a thread that migrates
     * in the middle of an allocation must not corrupt either CPU's cache. */
    cpu_set_t allowed;
    int cpus[CPU_SETSIZE], ncpu = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[ncpu++] = c;
    unsigned long migrations = 0;
    for (;;) {
        unsigned long done = atomic_load(&progress);
        if (atomic_load(&pt_failures) > 0 || done >= total - 512 * NTHREADS)
            break;
        if (forks < FORKS && done >= total * (unsigned long)(3 * (forks + 1)) / 10) {
            fork_and_check(forks, seed);
            forks++;
            continue;
        }
        if (ncpu > 1) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[pt_rand(&rng) % (unsigned)ncpu], &one);
            if (pthread_setaffinity_np(workers[pt_rand(&rng) % NTHREADS].thread, sizeof one,
                                       &one) == 0)
                migrations++;
        }
        usleep(500);
    }
    atomic_store(&main_stage, "joining the workers");
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(workers[t].thread, NULL);
    atomic_store(&run_done, 1);
    pthread_join(dog, NULL);
    for (int i = 0; i < XCHG; i++) {
        unsigned char *p = atomic_exchange(&xchg[i], NULL);
        if (p)
            take_and_free(p, -1, NULL);
    }
    main_blocks_verify("main thread block at the end");
    for (int i = 0; i < MAIN_BLOCKS; i++)
        free(main_blocks[i].p);
    double dt = pt_now() - t0;

    struct counters sum = {0};
    for (int t = 0; t < NTHREADS; t++) {
        for (int k = 0; k < OP_NOPS; k++)
            sum.op[k] += workers[t].c.op[k];
        sum.cross_frees += workers[t].c.cross_frees;
        sum.bytes += workers[t].c.bytes;
        sum.big += workers[t].c.big;
    }
    uint64_t all = 0;
    for (int k = 0; k < OP_NOPS; k++) {
        printf("  %-14s %10llu\n", op_names[k], (unsigned long long)sum.op[k]);
        all += sum.op[k];
    }
    printf("total ops %llu in %.2f s, %llu cross-thread frees, %.1f MiB requested, "
           "%llu blocks >= 1 MiB, %d forks, %lu forced migrations\n",
           (unsigned long long)all, dt, (unsigned long long)sum.cross_frees,
           (double)sum.bytes / (1 << 20), (unsigned long long)sum.big, forks, migrations);
    CHECK(forks == FORKS || atomic_load(&pt_failures), "only %d of %d forks ran", forks, FORKS);
    CHECK(sum.cross_frees > 0, "no block was freed by another thread than its allocator");
    if (atomic_load(&pt_failures))
        fprintf(stderr, "%s: seed=%llu\n", TEST, (unsigned long long)seed);
    return pt_finish(TEST);
}
