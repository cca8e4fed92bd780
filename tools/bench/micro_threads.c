/* SPDX-License-Identifier: MIT */
/* micro_threads.c - the micro cases with threads: a producer and a consumer
 * (every object freed on another thread than the one that made it) and waves
 * of short-lived threads. */
#define _GNU_SOURCE
#include "micro.h"

/* ---- producer / consumer -------------------------------------------------------- */

#define RING 1024

static struct {
    _Alignas(CACHE_LINE) _Atomic long head; /* written by the producer */
    _Alignas(CACHE_LINE) _Atomic long tail; /* written by the consumer */
    _Alignas(CACHE_LINE) unsigned char *item[RING];
    long count;
} ring;

/* Spins a little, then yields: on a 2-core shared machine the other side may not
 * be running at all. */
static inline void backoff(unsigned *spins)
{
    if (++*spins > 64) {
        sched_yield();
        *spins = 0;
    }
}

static void *producer(void *arg)
{
    uint64_t rng = 12345;
    (void)arg;
    for (long i = 0; i < ring.count; i++) {
        size_t size = rand_range(&rng, 16, 256);
        unsigned char *p = xmalloc(size);
        tag_write(p, size, (uint64_t)i);
        unsigned spins = 0;
        long h = atomic_load_explicit(&ring.head, memory_order_relaxed);
        while (h - atomic_load_explicit(&ring.tail, memory_order_acquire) >= RING)
            backoff(&spins);
        ring.item[h % RING] = p;
        atomic_store_explicit(&ring.head, h + 1, memory_order_release);
    }
    return NULL;
}

/* Objects are malloc'ed on a producer thread and freed on the consumer (main)
 * thread, through a single-producer single-consumer ring. */
void case_prodcons(long n, struct result *r)
{
    pthread_t t;
    uint64_t rng = 12345, sum = 0;
    ring.count = n;
    double t0 = now_s();
    if (pthread_create(&t, NULL, producer, NULL))
        die("pthread_create failed");
    for (long i = 0; i < n; i++) {
        unsigned spins = 0;
        long tl = atomic_load_explicit(&ring.tail, memory_order_relaxed);
        while (atomic_load_explicit(&ring.head, memory_order_acquire) == tl)
            backoff(&spins);
        unsigned char *p = ring.item[tl % RING];
        size_t size = rand_range(&rng, 16, 256); /* the producer's stream, replayed */
        sum += tag_check(p, size, (uint64_t)i);
        free(p);
        atomic_store_explicit(&ring.tail, tl + 1, memory_order_release);
    }
    pthread_join(t, NULL);
    r->value = (now_s() - t0) * 1e9 / (double)n;
    r->unit = "ns/object";
    r->check = sum;
}

/* ---- many short-lived threads ----------------------------------------------------- */

#define WAVE 8

/* A short life: 64 objects of 16..512 bytes alive at once, a few hundred
 * malloc/free pairs, everything freed before the thread exits. */
static void *short_life(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = 0xABCDEF + (uint64_t)w->id;
    unsigned char *obj[64];
    size_t size[64];
    uint64_t sum = 0;
    for (int i = 0; i < 64; i++) {
        size[i] = rand_range(&rng, 16, 512);
        obj[i] = xmalloc(size[i]);
        tag_write(obj[i], size[i], (uint64_t)i);
    }
    for (int k = 0; k < 256; k++) {
        int i = k & 63;
        sum += tag_check(obj[i], size[i], (uint64_t)(k < 64 ? i : k - 64));
        free(obj[i]);
        size[i] = rand_range(&rng, 16, 512);
        obj[i] = xmalloc(size[i]);
        tag_write(obj[i], size[i], (uint64_t)k);
    }
    for (int i = 0; i < 64; i++) {
        sum += tag_check(obj[i], size[i], (uint64_t)(192 + i));
        free(obj[i]);
    }
    w->sum = sum;
    return NULL;
}

void case_threads(long n, struct result *r)
{
    struct worker w[WAVE];
    pthread_t t[WAVE];
    uint64_t sum = 0;
    long done = 0;
    double t0 = now_s();
    while (done < n) {
        int k = (int)(n - done < WAVE ? n - done : WAVE);
        for (int i = 0; i < k; i++) {
            w[i].id = done + i;
            if (pthread_create(&t[i], NULL, short_life, &w[i]))
                die("pthread_create failed");
        }
        for (int i = 0; i < k; i++) {
            pthread_join(t[i], NULL);
            sum += w[i].sum;
        }
        done += k;
    }
    r->value = (now_s() - t0) * 1e6 / (double)n;
    r->unit = "us/thread";
    r->check = sum;
}

/* ---- bulk frees, and frees of another thread's batches ------------------------------ */

#define BULK_THREADS 2
#define BULK_OBJS    100000   /* objects alive at once per thread before a bulk free */

/* A bulk case's object size: 16..224 bytes in 16-byte steps, from the
 * thread's own random stream (the same under every allocator). */
static size_t bulk_size(uint64_t *rng)
{
    return 16 * rand_range(rng, 1, 14);
}

struct bulk_arg {
    struct worker w;
    long rounds;
};

/* One thread of `bulk`: BULK_OBJS objects of mixed sizes, then all freed,
 * half in the order they came, half in reverse: the per-CPU caches cannot
 * hold them, so most frees overflow to the central lists. */
static void *bulk_worker(void *arg)
{
    struct bulk_arg *a = arg;
    uint64_t rng = 0x5EED + (uint64_t)a->w.id, sum = 0;
    unsigned char **obj = raw_alloc(BULK_OBJS * sizeof *obj);
    size_t *size = raw_alloc(BULK_OBJS * sizeof *size);
    for (long r = 0; r < a->rounds; r++) {
        for (long i = 0; i < BULK_OBJS; i++) {
            size[i] = bulk_size(&rng);
            obj[i] = xmalloc(size[i]);
            tag_write(obj[i], size[i], (uint64_t)(r + i));
        }
        for (long i = 0; i < BULK_OBJS; i += 2) {
            sum += tag_check(obj[i], size[i], (uint64_t)(r + i));
            free(obj[i]);
        }
        for (long i = BULK_OBJS - 1 - BULK_OBJS % 2; i > 0; i -= 2) {
            sum += tag_check(obj[i], size[i], (uint64_t)(r + i));
            free(obj[i]);
        }
    }
    munmap(obj, BULK_OBJS * sizeof *obj);
    munmap(size, BULK_OBJS * sizeof *size);
    a->w.sum = sum;
    return NULL;
}

/* Runs BULK_THREADS threads of `worker`, each for `rounds` rounds of
 * `per_round` objects, and fills r: wall ns per object, all threads. */
static void run_bulk(void *(*worker)(void *), long rounds, long per_round, struct result *r)
{
    struct bulk_arg a[BULK_THREADS];
    pthread_t t[BULK_THREADS];
    double t0 = now_s();
    for (int i = 0; i < BULK_THREADS; i++) {
        a[i].w.id = i;
        a[i].rounds = rounds;
        if (pthread_create(&t[i], NULL, worker, &a[i]))
            die("pthread_create failed");
    }
    uint64_t sum = 0;
    for (int i = 0; i < BULK_THREADS; i++) {
        pthread_join(t[i], NULL);
        sum += a[i].w.sum;
    }
    r->value = (now_s() - t0) * 1e9 / (double)(rounds * BULK_THREADS * per_round);
    r->unit = "ns/object";
    r->check = sum;
}

/* Rounds of `per_round` objects per thread for n objects in all, at least one. */
static long bulk_rounds(long n, long per_round)
{
    long rounds = n / ((long)BULK_THREADS * per_round);
    return rounds < 1 ? 1 : rounds;
}

/* n objects in all, over BULK_THREADS threads: a malloc and a free each. */
void case_bulk(long n, struct result *r)
{
    run_bulk(bulk_worker, bulk_rounds(n, BULK_OBJS), BULK_OBJS, r);
}

#define XBATCH 10000   /* objects one thread hands to the other at a time */

/* A batch in flight: its objects, and the round it was made in (0: none). */
static struct {
    _Alignas(CACHE_LINE) _Atomic long round;
    unsigned char *obj[XBATCH];
    size_t size[XBATCH];
} xbox[BULK_THREADS];

/* One thread of `xbulk`: makes a batch, puts it in its box, waits for the
 * other thread's batch of the same round and frees it. Every object is freed
 * on the other thread than the one that made it, XBATCH at a time. */
static void *xbulk_worker(void *arg)
{
    struct bulk_arg *a = arg;
    int self = (int)a->w.id, other = (self + 1) % BULK_THREADS;
    uint64_t rng = 0xB0B + (uint64_t)self, sum = 0;
    for (long r = 1; r <= a->rounds; r++) {
        unsigned spins = 0;
        /* The box is free once the other thread took the last batch. */
        while (atomic_load_explicit(&xbox[self].round, memory_order_acquire) != 0)
            backoff(&spins);
        for (long i = 0; i < XBATCH; i++) {
            xbox[self].size[i] = bulk_size(&rng);
            xbox[self].obj[i] = xmalloc(xbox[self].size[i]);
            tag_write(xbox[self].obj[i], xbox[self].size[i], (uint64_t)(r + i));
        }
        atomic_store_explicit(&xbox[self].round, r, memory_order_release);
        spins = 0;
        while (atomic_load_explicit(&xbox[other].round, memory_order_acquire) != r)
            backoff(&spins);
        for (long i = 0; i < XBATCH; i++) {
            sum += tag_check(xbox[other].obj[i], xbox[other].size[i], (uint64_t)(r + i));
            free(xbox[other].obj[i]);
        }
        atomic_store_explicit(&xbox[other].round, 0, memory_order_release);
    }
    a->w.sum = sum;
    return NULL;
}

/* n objects in all, each made on one thread and freed on the other. */
void case_xbulk(long n, struct result *r)
{
    run_bulk(xbulk_worker, bulk_rounds(n, XBATCH), XBATCH, r);
}

/* ---- the machine: how long one cache line takes to go to another CPU and back ---- */

static _Alignas(CACHE_LINE) _Atomic long line_turn;

/* Pins the calling thread to CPU cpu; 0 on success. */
static int pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *line_partner(void *arg)
{
    long n = *(const long *)arg;
    if (pin_to(1))
        die("cannot pin a thread to CPU 1");
    for (long i = 0; i < n; i++) {
        while (atomic_load_explicit(&line_turn, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&line_turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

/* Two threads pinned to CPUs 0 and 1 hand one cache line back and forth n
 * times: ns a round trip. No allocation: what it measures is the machine at
 * that moment, which on a shared VM changes with where the host places the
 * two vCPUs (~100 ns or ~450 ns here), and with it every case whose threads
 * share cache lines. bench.py runs it before each repetition of each case. */
void case_linepong(long n, struct result *r)
{
    pthread_t t;
    if (pin_to(0))
        die("cannot pin a thread to CPU 0");
    atomic_store(&line_turn, 0);
    if (pthread_create(&t, NULL, line_partner, &n))
        die("pthread_create failed");
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        atomic_store_explicit(&line_turn, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&line_turn, memory_order_acquire) != 2 * i + 2)
            ;
    }
    r->value = (now_s() - t0) * 1e9 / (double)n;
    pthread_join(t, NULL);
    r->unit = "ns/round-trip";
    r->check = (uint64_t)n;
}
