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

/* ---- memory: the first object of each size ------------------------------------------- */

/* What a size a program asks for once costs it beyond the object: after 30,000
 * requests of 24 bytes (every allocator warm, poolalloc's pools started), one object
 * of each of n sizes (16 to 128 bytes by 16, then a quarter more each step: 16..4 KiB
 * for n = 24), written whole and kept. value = (VmRSS growth - the bytes asked for) /
 * n, in KiB: a page of data, of bookkeeping, of a per-CPU stack, per size class the
 * allocator keeps apart. Pinned to the CPU it starts on. */
void case_classes_first(long n, struct result *r)
{
    static void *keep[64];
    if (n > 64)
        n = 64;
    /* On one CPU: a second CPU's cache would be a second figure. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);
    for (int i = 0; i < 30000; i++)
        free(xmalloc(24));
    long base = status_kib("VmRSS");
    size_t size = 16, asked = 0;
    for (long i = 0; i < n; i++) {
        keep[i] = xmalloc(size);
        memset(keep[i], (int)(i + 1), size);
        asked += size;
        size = size < 128 ? size + 16 : size + size / 4;
    }
    long grown = status_kib("VmRSS") - base;
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        sum += ((unsigned char *)keep[i])[0];
        free(keep[i]);
    }
    r->value = ((double)grown - (double)asked / 1024.0) / (double)n;
    r->unit = "KiB";
    r->check = sum + asked;
    r->extra_name[0] = "grown_kib";
    r->extra[0] = grown;
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
