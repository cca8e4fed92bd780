/* SPDX-License-Identifier: MIT */
/*
 * stress.c - sampling where it is hardest, for the sampling tests: run with
 * POOLALLOC_SAMPLE=1 (nearly every allocation sampled, so every path of the
 * sampler runs all the time):
 *
 *   - worker threads allocate with every entry point (malloc, calloc,
 *     realloc, memalign, posix_memalign, aligned_alloc, valloc), fill each
 *     block with a pattern and check it on realloc and free, and check
 *     alignment and malloc_usable_size;
 *   - a signaler thread interrupts the workers with SIGUSR1 at random
 *     moments, and a timer (SIGALRM) interrupts whoever runs; both handlers
 *     allocate, check and free, so a handler lands inside the sampler,
 *     inside libunwind and inside glibc. They ask only for what poolalloc
 *     serves from its pools (<= 1 KiB, alignment <= 256): glibc's malloc is
 *     not async-signal-safe, so this program runs only under poolalloc,
 *     which never samples a handler's request while the interrupted code is
 *     inside glibc's allocator;
 *   - an unwinder thread uses libunwind itself (unw_backtrace) and glibc's
 *     backtrace()/backtrace_symbols(), which load libgcc_s and allocate
 *     from inside the unwinders;
 *   - one fork in the middle: the child frees blocks it inherited (sampled
 *     ones among them), allocates, and exits.
 *
 *   stress SECONDS THREADS   prints "ready PID", runs, frees everything, prints
 *                            "done OPS", then waits for end of input or "quit".
 * Exit 0; 4 = a content, alignment or size check failed (message on stderr);
 * 5 = out of memory; 6 = the fork child failed.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <execinfo.h>
#include <libunwind.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS   256
#define WORKERS 16

struct block {
    unsigned char *p;
    size_t n;
    unsigned char fill;
};

struct worker {
    pthread_t t;
    struct block b[SLOTS];
    uint64_t rng, ops;
    volatile int stop;
};

static struct worker workers[WORKERS];
static int nworkers;
static volatile int stop, unwinder_stop;
static volatile sig_atomic_t handler_runs;

static void die(int code, const char *msg)
{
    if (write(2, msg, strlen(msg)) < 0 || write(2, "\n", 1) < 0)
        _exit(code);
    _exit(code);
}

static uint64_t next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

static size_t pick_size(uint64_t *s, int small)
{
    uint64_t r = next(s);
    if (small)
        return 1 + (r >> 8) % 1024;
    switch (r % 16) {
    case 0: return 1 + r % 16;
    case 1: return 1 + (r >> 8) % 40000;    /* past POOLALLOC_MAX_SIZE sometimes */
    case 2: return 100000 + (r >> 8) % 100000;   /* large: glibc */
    default: return 1 + (r >> 8) % 1024;
    }
}

static void check(const struct block *b, const char *what)
{
    if (!b->p)
        return;
    if (malloc_usable_size(b->p) < b->n)
        die(4, what);
    for (size_t i = 0; i < b->n; i += 1 + i / 4)
        if (b->p[i] != b->fill)
            die(4, what);
    if (b->n && b->p[b->n - 1] != b->fill)
        die(4, what);
}

static void put(struct block *b, void *p, size_t n, unsigned char fill)
{
    if (!p && n)
        die(5, "out of memory");
    b->p = p;
    b->n = n;
    b->fill = fill;
    if (p)
        memset(p, fill, n);
}

/* One random operation on slot b. small: only what a signal handler may
 * ask of poolalloc (pool sizes, alignment <= 256; see the top). */
static void op(struct block *b, uint64_t *s, int small)
{
    uint64_t r = next(s);
    size_t n = pick_size(s, small);
    unsigned char fill = (unsigned char)(r >> 40);
    if (b->p) {
        if (r % 3 == 0) {
            check(b, "realloc: content");
            unsigned char *q = realloc(b->p, n);
            if (!q)
                die(5, "out of memory");
            size_t keep = n < b->n ? n : b->n;
            for (size_t i = 0; i < keep; i += 1 + i / 4)
                if (q[i] != b->fill)
                    die(4, "realloc: content not carried over");
            put(b, q, n, fill);
        } else {
            check(b, "free: content");
            free(b->p);
            b->p = NULL;
        }
        return;
    }
    void *p = NULL;
    size_t align = (size_t)16 << (r >> 20) % (small ? 5 : 9);   /* 16 .. 256 or 4096 */
    switch ((r >> 8) % (small ? 4 : 7)) {
    case 0:
        align = 16;
        p = calloc(1 + (r >> 32) % 8, (n + 7) / 8);
        n = (1 + (r >> 32) % 8) * ((n + 7) / 8);
        for (size_t i = 0; p && i < n; i += 1 + i / 4)
            if (((unsigned char *)p)[i])
                die(4, "calloc: not zero");
        break;
    case 1:
        p = memalign(align, n);
        break;
    case 2:
        if (posix_memalign(&p, align, n) != 0)
            die(5, "posix_memalign failed");
        break;
    case 3:
        p = aligned_alloc(align, (n + align - 1) / align * align);
        n = (n + align - 1) / align * align;
        break;
    case 4:
        p = valloc(n);
        align = 4096;
        break;
    default:
        p = malloc(n);
        align = 16;
        break;
    }
    if (p && ((uintptr_t)p & (align - 1)))
        die(4, "misaligned block");
    put(b, p, n, fill);
}

/* Signal handlers allocate too: they land anywhere, the sampler included. */
static void on_signal(int sig)
{
    uint64_t s = (uint64_t)(uintptr_t)&s ^ (uint64_t)sig ^ (uint64_t)handler_runs * 7919;
    struct block b = {0};
    for (int i = 0; i < 4; i++) {
        op(&b, &s, 1);
        op(&b, &s, 1);
    }
    if (b.p) {
        check(&b, "handler: content");
        free(b.p);
    }
    handler_runs = handler_runs + 1;
}

/* The threads take both signals while they work, not while they exit:
 * glibc frees a thread's cache at its exit, inside its own allocator, where
 * a handler's sampled request (served by glibc) would wait for the lock the
 * thread holds (as a handler's malloc does with glibc alone). */
static void handlers(int how)
{
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGALRM);
    pthread_sigmask(how, &both, NULL);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    handlers(SIG_UNBLOCK);
    while (!stop && !w->stop) {
        for (int k = 0; k < 64; k++)
            op(&w->b[next(&w->rng) % SLOTS], &w->rng, 0);
        w->ops += 64;
    }
    handlers(SIG_BLOCK);
    return NULL;
}

static void *signaler(void *arg)
{
    (void)arg;
    handlers(SIG_UNBLOCK);
    uint64_t s = 12345;
    while (!stop) {
        pthread_kill(workers[next(&s) % (uint64_t)nworkers].t, SIGUSR1);
        struct timespec ts = {0, (long)(50000 + next(&s) % 200000)};
        nanosleep(&ts, NULL);
    }
    handlers(SIG_BLOCK);
    return NULL;
}

/* The program's own unwinding, with libunwind and with glibc. */
static void *unwinder(void *arg)
{
    (void)arg;
    handlers(SIG_UNBLOCK);
    while (!stop && !unwinder_stop) {
        void *f[64];
        int n = unw_backtrace(f, 64);
        int m = backtrace(f, 64);
        char **names = backtrace_symbols(f, m);
        if (n <= 0 || m <= 0 || !names)
            die(4, "unwinding failed");
        free(names);
    }
    handlers(SIG_BLOCK);
    return NULL;
}

static void fork_once(void)
{
    pid_t c = fork();
    if (c == 0) {
        /* Inherited blocks, sampled or not, go back from the child. */
        struct worker *w = &workers[0];
        uint64_t s = 99;
        for (int i = 0; i < SLOTS; i++) {
            check(&w->b[i], "child: inherited content");
            free(w->b[i].p);
            w->b[i].p = NULL;
        }
        for (int i = 0; i < 20000; i++)
            op(&w->b[i % SLOTS], &s, 0);
        for (int i = 0; i < SLOTS; i++)
            free(w->b[i].p);
        _exit(0);
    }
    int st = 0;
    if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die(6, "fork child failed");
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3;
    nworkers = argc > 2 ? atoi(argv[2]) : 4;
    if (nworkers < 1 || nworkers > WORKERS)
        nworkers = 4;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    /* The handlers do not nest: one that interrupted the other inside a
     * glibc call would be a handler inside glibc (see the top). */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    /* Not in this thread, which forks: a handler that allocates in the
     * middle of fork() waits for the glibc locks fork holds (with glibc
     * alone as well). The threads it starts unblock them. */
    handlers(SIG_BLOCK);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t sig_t, unw_t;
    for (int i = 0; i < nworkers; i++) {
        workers[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        pthread_create(&workers[i].t, NULL, work, &workers[i]);
    }
    pthread_create(&sig_t, NULL, signaler, NULL);
    pthread_create(&unw_t, NULL, unwinder, NULL);
    struct timespec half = {(time_t)(secs / 2), (long)((secs / 2 - (time_t)(secs / 2)) * 1e9)};
    nanosleep(&half, NULL);
    /* Fork while the other workers allocate (and sample, and unwind): the
     * child takes worker 0's blocks, so worker 0 stops first, and so does
     * the unwinder thread, whose libunwind locks the child would inherit
     * (the program's own use of libunwind across fork is its own affair). */
    unwinder_stop = 1;
    pthread_join(unw_t, NULL);
    workers[0].stop = 1;
    pthread_join(workers[0].t, NULL);
    fork_once();
    workers[0].stop = 0;
    unwinder_stop = 0;
    pthread_create(&workers[0].t, NULL, work, &workers[0]);
    pthread_create(&unw_t, NULL, unwinder, NULL);
    nanosleep(&half, NULL);
    stop = 1;
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i].t, NULL);
    pthread_join(sig_t, NULL);
    pthread_join(unw_t, NULL);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    uint64_t ops = 0;
    for (int i = 0; i < nworkers; i++) {
        for (int k = 0; k < SLOTS; k++) {
            check(&workers[i].b[k], "final: content");
            free(workers[i].b[k].p);
            workers[i].b[k].p = NULL;
        }
        ops += workers[i].ops;
    }
    printf("done %llu ops, %d handler runs\n", (unsigned long long)ops, (int)handler_runs);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) && strcmp(line, "quit\n") != 0)
        ;
    return 0;
}
