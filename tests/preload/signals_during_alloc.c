/* SPDX-License-Identifier: MIT */
/*
 * signals_during_alloc — malloc/free/realloc keep working while signals land in the
 * middle of them at ~10 kHz (SIGALRM from ITIMER_REAL, SIGPROF from ITIMER_PROF, the
 * way sampling profilers drive a program).
 *
 * Two threads run a bounded loop of random allocations with content checks; the main
 * thread blocks both signals so that every signal interrupts an allocating thread.
 * The handlers only count (no allocation).  A signal that lands inside a restartable
 * sequence or a lock must not corrupt a block, lose one or hang the program: the
 * runner's timeout catches a hang, the content checks catch the rest, and the counts
 * prove that signals were really delivered while the loops ran.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#define TEST "signals_during_alloc"

enum { THREADS = 2, SLOTS = 64 };

static atomic_ulong alrm_count, prof_count, in_worker_count;
static _Thread_local int is_worker;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGALRM)
        atomic_fetch_add_explicit(&alrm_count, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&prof_count, 1, memory_order_relaxed);
    if (is_worker)
        atomic_fetch_add_explicit(&in_worker_count, 1, memory_order_relaxed);
    errno = saved;
}

struct blk {
    unsigned char *p;
    size_t n;
    unsigned char tag;
};

static int intact(const struct blk *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i] != (unsigned char)(b->tag + i))
            return 0;
    return 1;
}

static void fill(struct blk *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->p[i] = (unsigned char)(b->tag + i);
}

static unsigned long ops_per_thread;

static void *worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
    struct blk t[SLOTS] = {{0}};
    is_worker = 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (unsigned long i = 0; i < ops_per_thread; i++) {
        uint64_t r = pt_rand(&rng);
        struct blk *b = &t[(r >> 8) % SLOTS];
        size_t n = (r >> 20) % 8 == 0 ? (size_t)((r >> 24) % 40000) : (size_t)((r >> 24) % 300);
        if (b->p && !intact(b)) {
            FAILF("block %p (%zu bytes) changed while signals were delivered", (void *)b->p,
                  b->n);
            break;
        }
        switch (r % 4) {
        case 0:
        case 1:
            free(b->p);
            b->p = malloc(n);
            break;
        case 2:
            if (b->p) {
                unsigned char *q = realloc(b->p, n + 1);
                if (q && b->n && !intact(&(struct blk){q, b->n < n + 1 ? b->n : n + 1, b->tag}))
                    FAILF("realloc lost content under signals");
                b->p = q;
                n = n + 1;
            } else {
                b->p = calloc(1, n);
                for (size_t k = 0; b->p && k < n; k++)
                    if (b->p[k]) {
                        FAILF("calloc(1, %zu) not zeroed under signals", n);
                        break;
                    }
            }
            break;
        default:
            free(b->p);
            b->p = NULL;
            continue;
        }
        if (!b->p) {
            FAILF("allocation of %zu bytes failed under signals (errno %d)", n, pt_errno());
            break;
        }
        b->n = n;
        b->tag = (unsigned char)r;
        fill(b);
    }
    for (int i = 0; i < SLOTS; i++) {
        if (t[i].p && !intact(&t[i]))
            FAILF("block changed (final check)");
        free(t[i].p);
    }
    return NULL;
}

int main(void)
{
    pt_init(TEST);
    const char *env_ops = getenv("SIGNALS_OPS");
    ops_per_thread = env_ops ? strtoul(env_ops, NULL, 0) : 1000000;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGPROF, &sa, NULL);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
            FAILF("pthread_create failed");
            return pt_finish(TEST);
        }

    struct itimerval it = {{0, 100}, {0, 100}}; /* 100 us: 10 kHz */
    double t0 = pt_now();
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer(ITIMER_REAL)");
    CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0, "setitimer(ITIMER_PROF)");
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    setitimer(ITIMER_PROF, &off, NULL);
    double dt = pt_now() - t0;

    unsigned long a = atomic_load(&alrm_count), p = atomic_load(&prof_count);
    unsigned long w = atomic_load(&in_worker_count);
    printf("%lu ops in %.2f s with %lu SIGALRM and %lu SIGPROF delivered (%.0f /s)\n",
           ops_per_thread * THREADS, dt, a, p, (double)(a + p) / dt);
    /* The kernel coalesces pending signals and ITIMER_PROF ticks with the scheduler
     * (a few hundred per second here), so the floors are low; but signals must have
     * arrived, and all of them in the allocating threads. */
    CHECK(a >= 100 && a >= (unsigned long)(dt * 500), "only %lu SIGALRM in %.2f s", a, dt);
    CHECK(p >= 20 && p >= (unsigned long)(dt * 20), "only %lu SIGPROF in %.2f s", p, dt);
    CHECK(w == a + p, "%lu of %lu signals ran outside the allocating threads", a + p - w, a + p);
    return pt_finish(TEST);
}
