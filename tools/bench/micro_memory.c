/* SPDX-License-Identifier: MIT */
/* micro_memory.c - the micro cases that measure memory, not time: a burst
 * freed then left idle (what goes back to the OS), and many threads each
 * holding a little (what per-thread or per-CPU caches cost). */
#define _GNU_SOURCE
#include "micro.h"

/* ---- memory: burst then idle --------------------------------------------------------- */

/* Allocates n MiB (requested bytes) of 16..256-byte objects and writes all of them,
 * frees them in random order, then sleeps 3 s without touching the allocator.
 * value = VmRSS after the sleep; also the RSS at the peak and right after the frees. */
void case_burst_idle(long n, struct result *r)
{
    size_t target = (size_t)n << 20, total = 0;
    size_t cap = target / 16 + 1, count = 0;
    unsigned char **obj = raw_alloc(cap * sizeof *obj);
    uint64_t rng = 777, sum = 0;
    long base = status_kib("VmRSS");
    while (total < target) {
        size_t size = rand_range(&rng, 16, 256);
        unsigned char *p = xmalloc(size);
        memset(p, (int)(count & 0xff), size);
        obj[count++] = p;
        total += size;
    }
    long peak = status_kib("VmRSS");
    for (size_t i = count - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = (size_t)(rand_next(&rng) % (i + 1));
        unsigned char *t = obj[i];
        obj[i] = obj[j];
        obj[j] = t;
    }
    for (size_t i = 0; i < count; i++) {
        sum += obj[i][0];
        free(obj[i]);
    }
    munmap(obj, cap * sizeof *obj);
    long freed = status_kib("VmRSS");
    struct timespec ts = {3, 0};
    while (nanosleep(&ts, &ts) != 0) {
    }
    long settled = status_kib("VmRSS");
    r->value = (double)settled / 1024.0;
    r->unit = "MiB";
    r->check = sum + count;
    r->extra_name[0] = "base_kib";
    r->extra[0] = base;
    r->extra_name[1] = "burst_kib";
    r->extra[1] = peak;
    r->extra_name[2] = "freed_kib";
    r->extra[2] = freed;
}

/* ---- memory: many threads each holding a little ---------------------------------------- */

static pthread_barrier_t hold_barrier;
static long hold_bytes;

static void *holder(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = 4242 + (uint64_t)w->id;
    size_t cap = (size_t)hold_bytes / 16 + 1, count = 0, total = 0;
    unsigned char **obj = raw_alloc(cap * sizeof *obj);
    uint64_t sum = 0;
    while (total < (size_t)hold_bytes) {
        size_t size = rand_range(&rng, 16, 256);
        unsigned char *p = xmalloc(size);
        memset(p, (int)(size & 0xff), size);
        obj[count++] = p;
        total += size;
    }
    pthread_barrier_wait(&hold_barrier); /* all alive: main measures */
    pthread_barrier_wait(&hold_barrier);
    for (size_t i = 0; i < count; i++) {
        sum += obj[i][0];
        free(obj[i]);
    }
    munmap(obj, cap * sizeof *obj);
    w->sum = sum + count;
    return NULL;
}

/* n threads (default 200), each holding 50 KiB of 16..256-byte objects; value = VmRSS
 * while all of them are alive. Thread stacks are 256 KiB. */
void case_threads_hold(long n, struct result *r)
{
    struct worker *w = raw_alloc((size_t)n * sizeof *w);
    pthread_t *t = raw_alloc((size_t)n * sizeof *t);
    pthread_attr_t attr;
    uint64_t sum = 0;
    hold_bytes = 50 * 1024;
    long base = status_kib("VmRSS");
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_barrier_init(&hold_barrier, NULL, (unsigned)n + 1);
    for (long i = 0; i < n; i++) {
        w[i].id = i;
        if (pthread_create(&t[i], &attr, holder, &w[i]))
            die("pthread_create failed");
    }
    pthread_barrier_wait(&hold_barrier);
    long held = status_kib("VmRSS");
    pthread_barrier_wait(&hold_barrier);
    for (long i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        sum += w[i].sum;
    }
    r->value = (double)held / 1024.0;
    r->unit = "MiB";
    r->check = sum;
    r->extra_name[0] = "base_kib";
    r->extra[0] = base;
    r->extra_name[1] = "after_kib";
    r->extra[1] = status_kib("VmRSS");
}
