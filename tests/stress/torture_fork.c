/* SPDX-License-Identifier: MIT */
/*
 * torture_fork.c - fork while the workers run. The main thread holds MAIN_BLOCKS blocks
 * across everything; once per round it forks a storm of children back to back. A child
 * inherits every table as it was at the fork (a slot is STABLE only when its block and
 * its content agree, torture_blocks.h), verifies all of it, frees about half, runs
 * threads of its own, forks a grandchild that verifies what the child kept, and exits 0
 * only if every check held. Children say how many threads and grandchildren they ran
 * through one shared page (the tally), which the final checks read.
 *
 * Deadlines follow the watchdog period W (-w, default 60 s): a child still running
 * after 3/4 W, a grandchild after 2/3 W, prints every thread's stack and exits 4; the
 * parent kills a child still there after W.
 */
#define _GNU_SOURCE
#include "torture.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct slot main_blocks[MAIN_BLOCKS];

/* What the children did, in a MAP_SHARED page: each child adds its own. */
struct fork_tally {
    atomic_ulong child_threads; /* threads children started and joined */
    atomic_ulong grandchildren; /* grandchildren that exited 0 */
};
static struct fork_tally *tally;
static unsigned alarm_s; /* this fork child's deadline, for its report */

void main_blocks_make(uint64_t *rng, uint64_t base)
{
    for (int i = 0; i < MAIN_BLOCKS; i++) {
        struct slot *s = &main_blocks[i];
        s->size = 16 + rand_size(rng) % 40000;
        s->p = malloc(s->size);
        s->id = (ID_MAGIC << 48) | ((uint64_t)MAIN_OWNER << 40) | (base + (uint64_t)i);
        s->align = 16;
        if (!check_new(s->p, s->size, 16, "malloc (main thread)"))
            exit(1);
        layout_fill(s->p, s->size, s->id);
    }
}

int main_blocks_verify(const char *when)
{
    int ok = 1;
    for (int i = 0; i < MAIN_BLOCKS; i++)
        ok &= verify_slot(&main_blocks[i], when, -1);
    return ok;
}

void fork_tally_init(void)
{
    void *m = mmap(NULL, sizeof *tally, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED) {
        FAILF("mmap (fork tally): errno %d", errno);
        exit(1);
    }
    tally = m;
}

/* A fork child still running at its deadline: every thread's stack (gdb), exit 4. */
static void child_alarm(int sig)
{
    (void)sig;
    say("torture: fork child %d: FAIL still running after %u s (deadlock after fork?)\n",
        (int)getpid(), alarm_s);
    if (!gdb_stacks())
        print_stack("the fork child's main thread");
    _exit(4);
}

static void child_deadline(unsigned s)
{
    alarm_s = s;
    signal(SIGALRM, child_alarm);
    alarm(s);
}

/* In the grandchild: fresh work on table 2, the child's kept blocks verified again;
 * exits 0 only if no check failed since failures_before. */
static __attribute__((noreturn)) void grandchild_main(uint64_t rng, const struct slot *kept,
                                                       size_t nkept, int failures_before)
{
    child_deadline(watchdog_s * 2 / 3);
    tables[2].index = 200;
    tables[2].ops = FULL_CHILD_OPS;
    tables[2].rng = rng ^ 0x6A7D;
    worker_main(&tables[2]);
    for (size_t i = 0; i < nkept; i++)
        verify_slot(&kept[i], "grandchild: kept inherited block", -1);
    table_drain(&tables[2], "grandchild: at exit");
    _exit(atomic_load(&pt_failures) != failures_before);
}

/*
 * In a fork child: verify everything inherited (the main thread's blocks, every block
 * that was STABLE in any table when fork ran, the hand-off cells), free about half of
 * it, replace half of the main thread's blocks, run fresh work, fork a grandchild, verify
 * what was kept, free everything, and exit 0 only if every check held. A storm's first
 * child (full) runs two threads of FULL_CHILD_OPS and always forks a grandchild; the
 * others run 0-2 threads of CHILD_OPS (none: the child's main thread does the work) and
 * fork one a time in four. Never returns.
 */
static __attribute__((noreturn)) void child_main(uint64_t seed, int full)
{
    uint64_t rng = seed;
    int failures_before = atomic_load(&pt_failures);
    child_deadline(watchdog_s * 3 / 4);
    /* The parent's threads are gone here: tables in use by them stay as they were. */
    for (int t = 0; t < NTABLES; t++)
        atomic_store(&tables[t].running, 0);
    atomic_store(&stop_round, 0);
    main_blocks_verify("fork child: main thread block");
    static struct slot kept[NTABLES * SLOTS];
    size_t nkept = 0;
    unsigned long inherited = 0, freed = 0;
    for (int t = 0; t < NTABLES; t++)
        for (int i = 0; i < SLOTS; i++) {
            struct slot *s = &tables[t].slots[i];
            if (atomic_load_explicit(&s->state, memory_order_acquire) != STABLE)
                continue;
            inherited++;
            if (!verify_slot(s, "fork child: inherited block", t))
                continue;
            if (pt_rand(&rng) & 1) {
                free(s->p);
                freed++;
            } else {
                kept[nkept++] = *s;
            }
        }
    for (int i = 0; i < XCHG; i++) {
        unsigned char *p = atomic_exchange(&xchg[i], NULL);
        if (p) {
            take_and_free(p, NULL, NULL);
            freed++;
        }
    }
    for (int i = 0; i < MAIN_BLOCKS; i += 2) {
        free(main_blocks[i].p);
        main_blocks[i].p = malloc(main_blocks[i].size);
        if (check_new(main_blocks[i].p, main_blocks[i].size, 16, "malloc (fork child)"))
            layout_fill(main_blocks[i].p, main_blocks[i].size, main_blocks[i].id);
    }
    /* Fresh work on the first tables (their inherited blocks were handled above). */
    int nthreads = full ? 2 : (int)(pt_rand(&rng) % 3);
    uint64_t ops = full ? FULL_CHILD_OPS : CHILD_OPS;
    for (int t = 0; t < MAXT; t++)
        memset(tables[t].slots, 0, sizeof tables[t].slots);
    int up[2] = {0, 0}, started = 0;
    for (int t = 0; t < nthreads; t++) {
        tables[t].index = 100 + t;
        up[t] = start_on(&tables[t], ops, rng);
    }
    for (int t = 0; t < nthreads; t++)
        if (up[t]) {
            pthread_join(tables[t].thread, NULL);
            started++;
        }
    atomic_fetch_add(&tally->child_threads, (unsigned long)started);
    if (nthreads == 0) {
        tables[0].index = 100;
        tables[0].ops = ops;
        tables[0].rng = rng;
        worker_main(&tables[0]);
    }
    int grandchild = full || pt_rand(&rng) % 4 == 0;
    if (grandchild) {
        /* One more generation of inherited state, forked while nothing else runs. */
        pid_t g = fork();
        if (g == 0)
            grandchild_main(rng, kept, nkept, failures_before);
        int st = -1;
        if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAILF("fork child %d: grandchild failed (status %#x)", (int)getpid(), st);
        else
            atomic_fetch_add(&tally->grandchildren, 1);
    }
    for (size_t i = 0; i < nkept; i++)
        if (verify_slot(&kept[i], "fork child: kept inherited block after child work", -1))
            free(kept[i].p);
    for (int t = 0; t < 3; t++)
        table_drain(&tables[t], "fork child: at exit");
    if (main_blocks_verify("fork child: main thread block after child work"))
        for (int i = 0; i < MAIN_BLOCKS; i++)
            free(main_blocks[i].p);
    int bad = atomic_load(&pt_failures) != failures_before;
    if (verbose)
        printf("  fork child %d: %lu inherited blocks verified, %lu freed, %d x %llu ops on "
               "%s, %s grandchild, %s\n",
               (int)getpid(), inherited, freed, nthreads ? started : 1, (unsigned long long)ops,
               nthreads ? "threads of its own" : "its main thread", grandchild ? "a" : "no",
               bad ? "FAILED" : "ok");
    if (pt_rand(&rng) & 1)
        exit(bad); /* atexit handlers and the allocator's destructors run */
    _exit(bad);
}

/* Fork n children back to back while the workers run, then wait for all of them with a
 * deadline; a hung child is asked for its stack and killed. */
void fork_storm(int n, uint64_t seed, struct storm_stats *st)
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
            child_main(seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull), i == 0);
        pids[live++] = pid;
        st->forks++;
    }
    atomic_store(&main_stage, "waiting for fork children (deadline: the watchdog period)");
    double deadline = pt_now() + watchdog_s;
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
                FAILF("fork child %d hung for %u s (deadlock after fork?): its stacks are above",
                      (int)r, watchdog_s * 3 / 4);
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
                    FAILF("fork child %d hung for %u s (deadlock after fork?), killed",
                          (int)pids[i], watchdog_s);
                    st->failed++;
                }
            break;
        }
        usleep(2000);
    }
    st->child_threads = atomic_load(&tally->child_threads);
    st->grandchildren = atomic_load(&tally->grandchildren);
    atomic_store(&main_stage, "running a round");
}

