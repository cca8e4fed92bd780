/* SPDX-License-Identifier: MIT */
/*
 * torture.c - the randomized multithreaded torture of the whole malloc family. The
 * stress tier (tests/stress/run.sh) runs it on plain glibc (to prove the checks), under
 * LD_PRELOAD=libpoolalloc.so, under GLIBC_TUNABLES=glibc.pthread.rseq=0 (the locked
 * fallback) and as a 10-minute soak with its RSS watched from outside; the preload tier
 * (tests/preload/run.sh) runs a few seconds of it as threads_fork_random_torture, in
 * each of its settings. The files: torture.h.
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
 *     block it inherited, frees some, allocates with threads of its own (the storm's
 *     first child always with two), forks a grandchild (the first child always, the
 *     others sometimes) that verifies the child's blocks again, and exits (half with
 *     exit(), half with _exit());
 *   - blocks are handed between threads through shared cells (cross-thread frees), and
 *     a worker's table outlives its thread: the next round's thread on that table frees
 *     what the last one left (frees of blocks whose allocating thread has exited).
 *
 * Every live block carries a pattern that depends only on its id (torture_blocks.h). A
 * block is verified before every free and realloc, when it arrives from another thread,
 * in fork children and grandchildren, and at the end; some blocks are grown to their
 * malloc_usable_size and the whole usable area is patterned and checked, and realloc
 * must keep min(old usable, new size) bytes. Memory handed out twice, moved wrongly, a
 * usable size that overlaps a neighbour, or a byte scribbled on by the allocator shows up
 * as a changed byte, reported with thread, block id, size, address and offset.
 *
 * A crash prints a backtrace on stderr (tests/stress/run.sh symbolizes it with
 * addr2line); a run without progress for the watchdog period prints what the main thread
 * was doing and every thread's stack (gdb when installed), then exits 3. A hung fork child
 * prints its stacks and exits 4, or is sent SIGQUIT and killed (torture_fork.c).
 *
 * usage: torture [-s SEED] [-t SECONDS] [-r ROUND_MS] [-T MIN-MAX] [-f MAX_FORKS]
 *                [-C] [-w WATCHDOG_S] [-v] [-L KIB_PER_S] [-X]
 *   -s  seed (default: time ^ pid; always printed for a rerun)
 *   -t  total run time, seconds (default 10)         -r  round length, ms (default 1000)
 *   -T  thread counts (default 2-64)                  -f  largest fork storm (default 8; 0: none)
 *   -C  no thread churn                               -w  watchdog period, s (default 60)
 *   -v  one line per round and per fork child, and the count of each call at the end
 * Self-tests of the checks themselves (tests/stress/run.sh runs them and expects them to
 * fail): -L leaks KIB_PER_S KiB a second in 1 KiB blocks (the soak's RSS rule must catch
 * it); -X flips one byte of a live block after the first round, as a stray write by the
 * allocator would (the pattern check must report it).
 * Exit: 0 all held, 1 a broken rule, 2 usage, 3 watchdog (no progress), a signal = crash.
 * Last line on stdout: "torture: ok ..." or "torture: FAILED ...".
 */
#define _GNU_SOURCE
#include "torture.h"

#include <math.h>
#include <sched.h>

#define TEST "torture"

PT_SHARED_DEFINE;

size_t page_size;
uint64_t run_seed;
int verbose;

struct options {
    uint64_t seed;
    double seconds;
    unsigned round_ms;
    int tmin, tmax, max_forks, churn;
    unsigned long leak_kib_per_s; /* -L */
    int inject_corruption;        /* -X */
};

/* The run so far: what the rounds did, for the final checks and the summary. */
struct run {
    uint64_t rng;
    double t0, t_end;
    unsigned long rounds, migrations, leaked;
    int seen_min, seen_max;
    struct storm_stats storms;
    cpu_set_t allowed;
    int cpus[CPU_SETSIZE], ncpu;
};

static void usage(void)
{
    fprintf(stderr, "usage: torture [-s SEED] [-t SECONDS] [-r ROUND_MS] [-T MIN-MAX] "
                    "[-f MAX_FORKS] [-C] [-w WATCHDOG_S] [-v] [-L KIB_PER_S] [-X]\n");
    exit(2);
}

/* The command line into o (and verbose, watchdog_s); anything wrong exits 2. */
static void parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20),
                          .seconds = 10, .round_ms = 1000, .tmin = 2, .tmax = MAXT,
                          .max_forks = 8, .churn = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            verbose = 1;
            continue;
        }
        if (!strcmp(a, "-C")) {
            o->churn = 0;
            continue;
        }
        if (!strcmp(a, "-X")) {
            o->inject_corruption = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "-s"))
            o->seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "-t"))
            o->seconds = strtod(v, NULL);
        else if (!strcmp(a, "-r"))
            o->round_ms = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(a, "-f"))
            o->max_forks = (int)strtol(v, NULL, 0);
        else if (!strcmp(a, "-w"))
            watchdog_s = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(a, "-L"))
            o->leak_kib_per_s = strtoul(v, NULL, 0);
        else if (!strcmp(a, "-T")) {
            char *end;
            o->tmin = (int)strtol(v, &end, 10);
            if (*end != '-')
                usage();
            o->tmax = (int)strtol(end + 1, &end, 10);
            if (*end)
                usage();
        } else
            usage();
    }
    if (o->tmin < 1 || o->tmax > MAXT || o->tmin > o->tmax || o->round_ms < 10 ||
        o->max_forks < 0 || o->max_forks > MAX_STORM || o->seconds <= 0 || watchdog_s < 5)
        usage();
}

/* The next round's thread count: the smallest, then the largest, then random counts
 * uniform in log space (as many rounds near 2 as near 64). */
static int round_threads(const struct options *o, struct run *r)
{
    int n;
    if (r->rounds == 0)
        n = o->tmin;
    else if (r->rounds == 1)
        n = o->tmax;
    else
        n = (int)(o->tmin * pow((double)o->tmax / o->tmin,
                                (double)(pt_rand(&r->rng) >> 11) / 9007199254740992.0) +
                  0.5);
    n = n < o->tmin ? o->tmin : n > o->tmax ? o->tmax : n;
    r->seen_min = n < r->seen_min ? n : r->seen_min;
    r->seen_max = n > r->seen_max ? n : r->seen_max;
    return n;
}

/* Pin one of the n running workers to a random CPU (one time in eight: to all of them
 * again). */
static void migrate_one(struct run *r, int n)
{
    if (r->ncpu < 2 || n < 1)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    if (pt_rand(&r->rng) % 8)
        CPU_SET(r->cpus[pt_rand(&r->rng) % (unsigned)r->ncpu], &one);
    else
        one = r->allowed;
    int t = (int)(pt_rand(&r->rng) % (unsigned)n);
    if (atomic_load(&tables[t].running) &&
        pthread_setaffinity_np(tables[t].thread, sizeof one, &one) == 0)
        r->migrations++;
}

/* -X: flip a byte in the middle of a live block of table 0, as a stray write would. */
static void flip_a_byte(void)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &tables[0].slots[i];
        if (atomic_load(&s->state) == STABLE && s->size >= 64) {
            s->p[s->size / 2] ^= 0x20;
            printf("torture: -X: flipped byte %zu of block %p (id %#llx)\n", s->size / 2,
                   (void *)s->p, (unsigned long long)s->id);
            return;
        }
    }
}

/* One round: start the workers and the churn thread, migrate workers and fork one storm
 * until the round's end, stop and join them all. */
static void run_round(const struct options *o, struct run *r)
{
    int n = round_threads(o, r);
    atomic_store(&stop_round, 0);
    atomic_store(&main_stage, "starting a round's threads");
    int started[MAXT];
    for (int t = 0; t < n; t++)
        started[t] = start_on(&tables[t], 0, o->seed ^ r->rounds);
    pthread_t churner;
    uint64_t churn_seed = pt_rand(&r->rng);
    int churning = o->churn && pthread_create(&churner, NULL, churn_main, &churn_seed) == 0;
    atomic_store(&main_stage, "running a round");
    double now = pt_now();
    double r_end = now + o->round_ms / 1000.0;
    r_end = r_end < r->t_end ? r_end : r->t_end;
    double storm_at = o->max_forks
                          ? now + (r_end - now) * (double)(pt_rand(&r->rng) % 80) / 100
                          : r_end + 1;
    unsigned long forks_before = r->storms.forks;
    while (pt_now() < r_end && atomic_load(&pt_failures) == 0) {
        if (o->max_forks && pt_now() >= storm_at) {
            fork_storm(1 + (int)(pt_rand(&r->rng) % (unsigned)o->max_forks),
                       o->seed ^ (r->rounds << 8), &r->storms);
            storm_at = r_end + 1;
            continue;
        }
        migrate_one(r, n);
        while (o->leak_kib_per_s &&
               (double)r->leaked < (pt_now() - r->t0) * (double)o->leak_kib_per_s) {
            char *p = malloc(1024); /* -L: never freed, on purpose */
            if (!p)
                break;
            memset(p, 0x4c, 1024);
            r->leaked++;
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
    r->rounds++;
    if (o->inject_corruption && r->rounds == 1)
        flip_a_byte();
    /* Now and then the main thread's long-lived blocks are replaced. */
    if (r->rounds % 7 == 0 && main_blocks_verify("main thread block between rounds")) {
        for (int i = 0; i < MAIN_BLOCKS; i++)
            free(main_blocks[i].p);
        main_blocks_make(&r->rng, r->rounds << 16);
    }
    if (verbose)
        printf("  round %lu: %d threads, %lu forks, %lu churned threads so far, %lu ops\n",
               r->rounds, n, r->storms.forks - forks_before, atomic_load(&churned),
               atomic_load(&progress));
}

/* Verify and free every block still held: the tables, the hand-off cells, the main
 * thread's. */
static void free_everything(void)
{
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
}

/* The final checks and the summary line; returns the exit status. */
static int finish(const struct options *o, const struct run *r, double dt)
{
    struct counters sum = {0};
    for (int t = 0; t < NTABLES; t++) {
        for (int k = 0; k < OP_NOPS; k++)
            sum.op[k] += tables[t].c.op[k];
        sum.cross_frees += tables[t].c.cross_frees;
        sum.orphan_frees += tables[t].c.orphan_frees;
        sum.small += tables[t].c.small;
        sum.small_owned += tables[t].c.small_owned;
        sum.big += tables[t].c.big;
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
    const struct storm_stats *st = &r->storms;
    for (int k = 0; k < OP_NOPS && dt > 2 && clean; k++)
        CHECK(sum.op[k] > 0, "no %s call was made", op_names[k]);
    CHECK(!clean || sum.cross_frees > 0, "no block was freed by another thread than its allocator");
    CHECK(!clean || sum.orphan_frees > 0 || r->rounds < 2,
          "no block was freed after its allocating thread had exited");
    CHECK(!clean || !o->churn || atomic_load(&churned) > 0, "no short-lived thread was churned");
    CHECK(!clean || !o->max_forks || st->forks > 0, "no fork storm ran");
    CHECK(!clean || !st->forks || st->child_threads > 0, "no fork child ran threads of its own");
    CHECK(!clean || !st->forks || st->grandchildren > 0, "no fork child forked a grandchild");
    CHECK(!clean || r->rounds < 2 || (r->seen_min == o->tmin && r->seen_max == o->tmax),
          "thread counts %d..%d do not span %d..%d", r->seen_min, r->seen_max, o->tmin, o->tmax);
    if (pt_preloaded() && !getenv("POOLALLOC_MAX_SIZE"))
        CHECK(sum.small_owned * 10 >= sum.small * 9,
              "only %llu of %llu requests of 1..1024 bytes came from poolalloc's pools",
              (unsigned long long)sum.small_owned, (unsigned long long)sum.small);
    int failures = atomic_load(&pt_failures);
    printf("torture: %s seed=%llu: %.1f s, %lu rounds, threads %d..%d, %llu ops (%.2f M/s), "
           "%llu cross-thread frees (%llu after the allocating thread exited), %lu churned "
           "threads, %lu forks (%lu failed; %lu child threads, %lu grandchildren), %lu "
           "migrations, %.1f GiB requested (%llu blocks >= 1 MiB), %.1f%% of small requests "
           "pool-owned\n",
           failures ? "FAILED" : "ok", (unsigned long long)o->seed, dt, r->rounds, r->seen_min,
           r->seen_max, (unsigned long long)all, (double)all / dt / 1e6,
           (unsigned long long)sum.cross_frees, (unsigned long long)sum.orphan_frees,
           atomic_load(&churned), st->forks, st->failed, st->child_threads, st->grandchildren,
           r->migrations, (double)sum.bytes / (1 << 30), (unsigned long long)sum.big,
           sum.small ? 100.0 * (double)sum.small_owned / (double)sum.small : 0.0);
    if (failures)
        fprintf(stderr, "torture: %d failure(s), seed=%llu\n", failures,
                (unsigned long long)o->seed);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct options o;
    parse_options(argc, argv, &o);
    pt_init(TEST);
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_seed = o.seed;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    printf("torture: seed=%llu seconds=%g round_ms=%u threads=%d-%d max_forks=%d churn=%d "
           "(rerun: %s -s %llu ...)\n",
           (unsigned long long)o.seed, o.seconds, o.round_ms, o.tmin, o.tmax, o.max_forks,
           o.churn, argv[0], (unsigned long long)o.seed);
    watch_install();
    fork_tally_init();

    for (int t = 0; t < NTABLES; t++)
        tables[t].index = t;
    struct run r = {.rng = o.seed, .seen_min = MAXT + 1};
    main_blocks_make(&r.rng, 0);

    pthread_t dog;
    if (pthread_create(&dog, NULL, watchdog, NULL) != 0) {
        FAILF("pthread_create (watchdog) failed");
        return 1;
    }
    if (sched_getaffinity(0, sizeof r.allowed, &r.allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &r.allowed))
                r.cpus[r.ncpu++] = c;

    r.t0 = pt_now();
    r.t_end = r.t0 + o.seconds;
    while (pt_now() < r.t_end && atomic_load(&pt_failures) == 0)
        run_round(&o, &r);
    atomic_store(&main_stage, "checking and freeing everything");
    atomic_store(&run_done, 1);
    pthread_join(dog, NULL);
    free_everything();
    return finish(&o, &r, pt_now() - r.t0);
}
