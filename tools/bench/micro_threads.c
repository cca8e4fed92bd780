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
