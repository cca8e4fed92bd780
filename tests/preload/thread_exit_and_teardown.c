/* SPDX-License-Identifier: MIT */
/*
 * thread_exit_and_teardown — allocation around the edges of a thread's and a
 * process's life: hundreds of short-lived threads (joined and detached) whose blocks
 * outlive them, pthread key destructors that free and allocate while the thread is
 * being torn down (several destructor rounds), and atexit handlers / destructors that
 * allocate after main has returned.
 *
 * An allocator that keeps per-thread or per-CPU state must hand a dead thread's blocks
 * and caches on correctly, and must still work while glibc runs TLS destructors and
 * exit handlers.  Blocks carry a pattern and are checked wherever they end up.
 *
 * Last, the exit race: 30 times, a fresh copy of this program (re-executed with the
 * argument "exit-race") starts 4 threads that allocate without pause and returns from
 * main a few milliseconds later, half the time with POOLALLOC_STATS=1 so that the exit
 * summary is written while the threads still allocate.  Each copy must exit with
 * status 0 within 10 s: no crash, no hang in the allocator's exit path.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define TEST "thread_exit_and_teardown"

enum { WAVES = 50, PER_WAVE = 8, BLOCKS = 200, KEPT = 100, DETACHED = 64 };

struct handed {
    unsigned char *p;
    size_t n;
    unsigned seed;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handed pile[WAVES * PER_WAVE * KEPT + DETACHED * KEPT];
static size_t npile;
static pthread_key_t key;
static atomic_int destructor_rounds, destructor_threads;
static atomic_int detached_done;
static _Thread_local unsigned char *tls_block;
static unsigned char *exit_block; /* made in main, checked and freed by the atexit handler */

static unsigned char pat(unsigned seed, size_t i)
{
    return (unsigned char)(seed * 97u + i * 3u + (i >> 10) + 9u);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(seed, i);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(seed, i))
            return 0;
    return 1;
}

/* Value stored under `key`: a block whose first word counts destructor rounds. */
struct keyed {
    unsigned round;
    unsigned seed;
    unsigned char data[300];
};

/*
 * Runs at thread exit, after the thread's own code: checks the keyed block, frees it,
 * allocates and frees more (teardown allocation), and for the first two rounds sets a
 * new value so that glibc calls the destructor again.
 */
static void key_destructor(void *v)
{
    struct keyed *k = v;
    atomic_fetch_add(&destructor_rounds, 1);
    if (k->round == 0)
        atomic_fetch_add(&destructor_threads, 1);
    if (!intact(k->data, sizeof k->data, k->seed))
        FAILF("pthread key value damaged at thread exit (round %u)", k->round);
    unsigned round = k->round, seed = k->seed;
    free(k);
    void *tmp[16];
    for (int i = 0; i < 16; i++) {
        tmp[i] = malloc((size_t)(i * 123) + 1);
        if (tmp[i])
            memset(tmp[i], i, (size_t)(i * 123) + 1);
    }
    for (int i = 0; i < 16; i++)
        free(tmp[i]);
    if (tls_block) {
        if (!intact(tls_block, 5000, seed))
            FAILF("thread-local block damaged at thread exit");
        free(tls_block);
        tls_block = NULL;
    }
    if (round < 2) {
        struct keyed *again = malloc(sizeof *again);
        if (!again) {
            FAILF("malloc in a key destructor failed");
            return;
        }
        again->round = round + 1;
        again->seed = seed;
        fill(again->data, sizeof again->data, seed);
        pthread_setspecific(key, again);
    }
}

static void *short_lived(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t rng = id * 0x9E3779B9ull + 1;
    struct handed mine[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        size_t n = pt_rand(&rng) % 8 == 0 ? 1000 + pt_rand(&rng) % 60000 : pt_rand(&rng) % 400;
        mine[i].p = malloc(n);
        mine[i].n = n;
        mine[i].seed = id * 1000 + (unsigned)i;
        if (!mine[i].p) {
            FAILF("malloc(%zu) failed in a short-lived thread", n);
            return NULL;
        }
        fill(mine[i].p, n, mine[i].seed);
    }
    /* Free half here, leave the other half to the main thread after this one is gone. */
    for (int i = 0; i < BLOCKS; i++) {
        if (!intact(mine[i].p, mine[i].n, mine[i].seed))
            FAILF("block damaged inside its own thread");
        if (i % 2)
            free(mine[i].p);
    }
    pthread_mutex_lock(&lock);
    for (int i = 0; i < BLOCKS; i += 2)
        pile[npile++] = mine[i];
    pthread_mutex_unlock(&lock);

    struct keyed *k = malloc(sizeof *k);
    if (k) {
        k->round = 0;
        k->seed = id;
        fill(k->data, sizeof k->data, id);
        pthread_setspecific(key, k);
    }
    tls_block = malloc(5000);
    if (tls_block)
        fill(tls_block, 5000, id);
    return NULL;
}

static void *detached_thread(void *arg)
{
    short_lived(arg);
    atomic_fetch_add(&detached_done, 1);
    return NULL;
}

static void verify_and_free_pile(void)
{
    for (size_t i = 0; i < npile; i++) {
        if (!intact(pile[i].p, pile[i].n, pile[i].seed)) {
            FAILF("block of %zu bytes from an exited thread damaged (seed %u)", pile[i].n,
                  pile[i].seed);
        }
        free(pile[i].p);
    }
    npile = 0;
}

static void at_exit_handler(void)
{
    /* After main returned: the allocator must still serve and take blocks. */
    if (!exit_block || !intact(exit_block, 20000, 4242)) {
        fprintf(stderr, "FAIL: block made in main damaged at exit time\n");
        _exit(1);
    }
    free(exit_block);
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = malloc((size_t)(i % 500) + 1);
        if (!p) {
            fprintf(stderr, "FAIL: malloc in an atexit handler failed\n");
            _exit(1);
        }
        fill(p, (size_t)(i % 500) + 1, (unsigned)i);
        unsigned char *q = realloc(p, 3000);
        if (!q || !intact(q, (size_t)(i % 500) + 1, (unsigned)i)) {
            fprintf(stderr, "FAIL: realloc in an atexit handler lost content\n");
            _exit(1);
        }
        free(q);
    }
}

__attribute__((destructor)) static void late_destructor(void)
{
    char *s = strdup("allocation in a destructor after exit handlers");
    if (!s || strcmp(s, "allocation in a destructor after exit handlers") != 0) {
        fprintf(stderr, "FAIL: strdup in a destructor\n");
        _exit(1);
    }
    free(s);
}

static void *allocate_forever(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *keep[64] = {0};
    for (;;) {
        uint64_t r = pt_rand(&rng);
        unsigned i = (unsigned)(r % 64);
        free(keep[i]);
        keep[i] = malloc((size_t)((r >> 8) % 3000));
        if (keep[i])
            memset(keep[i], 1, (size_t)((r >> 8) % 3000) ? 1 : 0);
    }
    return NULL;
}

/* The re-executed copy: allocate in 4 threads, leave main while they run. */
static int exit_race_child(unsigned seed)
{
    for (unsigned t = 0; t < 4; t++) {
        pthread_t th;
        if (pthread_create(&th, NULL, allocate_forever, (void *)(uintptr_t)(seed * 4 + t + 1)))
            return 3;
    }
    usleep(1000 + (seed % 8) * 1000);
    return 0; /* exit() runs with the threads still inside malloc and free */
}

static void exit_race(const char *self)
{
    int bad = 0;
    for (unsigned i = 0; i < 30 && bad < 3; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            FAILF("fork failed");
            return;
        }
        if (pid == 0) {
            char seed[16];
            snprintf(seed, sizeof seed, "%u", i);
            if (i % 2) {
                setenv("POOLALLOC_STATS", "1", 1);
                int fd = open("/dev/null", O_WRONLY);
                if (fd >= 0)
                    dup2(fd, 2);
            }
            execl(self, self, "exit-race", seed, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        double deadline = pt_now() + 10;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (pt_now() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                FAILF("exit race %u%s: the process hung in exit for 10 s", i,
                      i % 2 ? " (POOLALLOC_STATS=1)" : "");
                bad++;
                status = 0;
                break;
            }
            usleep(1000);
        }
        if (WIFSIGNALED(status)) {
            FAILF("exit race %u%s: killed by signal %d while exiting", i,
                  i % 2 ? " (POOLALLOC_STATS=1)" : "", WTERMSIG(status));
            bad++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            FAILF("exit race %u: exit status %d", i, WEXITSTATUS(status));
            bad++;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exit-race") == 0)
        return exit_race_child((unsigned)atoi(argv[2]));
    pt_init(TEST);
    if (pthread_key_create(&key, key_destructor) != 0) {
        FAILF("pthread_key_create failed");
        return pt_finish(TEST);
    }
    exit_block = malloc(20000);
    fill(exit_block, 20000, 4242);
    atexit(at_exit_handler);

    unsigned id = 1;
    for (int w = 0; w < WAVES; w++) {
        pthread_t th[PER_WAVE];
        for (int t = 0; t < PER_WAVE; t++)
            if (pthread_create(&th[t], NULL, short_lived, (void *)(uintptr_t)id++) != 0)
                FAILF("pthread_create failed");
        for (int t = 0; t < PER_WAVE; t++)
            pthread_join(th[t], NULL);
        /* Every few waves, take over what the dead threads left. */
        if (w % 5 == 4)
            verify_and_free_pile();
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int t = 0; t < DETACHED; t++) {
        pthread_t th;
        if (pthread_create(&th, &attr, detached_thread, (void *)(uintptr_t)id++) != 0) {
            FAILF("pthread_create (detached) failed");
            atomic_fetch_add(&detached_done, 1);
        }
    }
    pthread_attr_destroy(&attr);
    double deadline = pt_now() + 30;
    while (atomic_load(&detached_done) < DETACHED && pt_now() < deadline)
        usleep(1000);
    CHECK(atomic_load(&detached_done) == DETACHED, "detached threads did not finish");
    usleep(50000); /* let the last detached threads run their key destructors */
    pthread_mutex_lock(&lock);
    verify_and_free_pile();
    pthread_mutex_unlock(&lock);

    int threads = WAVES * PER_WAVE + DETACHED;
    int ran = atomic_load(&destructor_threads), rounds = atomic_load(&destructor_rounds);
    printf("%d threads, %d ran key destructors, %d destructor rounds\n", threads, ran, rounds);
    CHECK(ran >= WAVES * PER_WAVE, "only %d of %d joined threads ran their key destructor", ran,
          WAVES * PER_WAVE);
    CHECK(rounds >= 3 * WAVES * PER_WAVE, "only %d destructor rounds", rounds);

    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        exit_race(self);
    } else {
        FAILF("readlink /proc/self/exe failed");
    }
    return pt_finish(TEST);
}
