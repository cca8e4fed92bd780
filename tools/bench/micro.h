/* SPDX-License-Identifier: MIT */
/* micro.h - what the micro benchmarks share (micro.c, micro_threads.c,
 * micro_memory.c): the clocks, the deterministic random stream, the checked
 * malloc, the tags every object carries, and the result a case fills. See
 * micro.c for the program and its output. */
#ifndef POOLALLOC_BENCH_MICRO_H
#define POOLALLOC_BENCH_MICRO_H

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Hides p from the optimiser: after this it may be any pointer. */
#define KEEP(p) __asm__ volatile("" : "+r"(p))

#define CACHE_LINE 128

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread), user and system. */
static inline double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: deterministic, the same stream under every allocator. */
static inline uint64_t rand_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi]. */
static inline size_t rand_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(rand_next(s) % (uint64_t)(hi - lo + 1));
}

static inline __attribute__((noreturn)) void die(const char *what)
{
    fprintf(stderr, "micro: %s\n", what);
    exit(3);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("malloc returned NULL");
    KEEP(p);
    return p;
}

/* Memory outside the allocator under test, for pointer arrays. */
static inline void *raw_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap failed");
    return p;
}

/* One field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1. */
static inline long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

struct result {
    double value;
    const char *unit;
    uint64_t check;
    long extra[4];
    const char *extra_name[4];
};

/* Writes a tag at both ends of an object and checks it before the free: two
 * objects that overlap, or a realloc that lost data, show up as a mismatch. */
static inline void tag_write(unsigned char *p, size_t size, uint64_t tag)
{
    memcpy(p, &tag, size < sizeof tag ? size : sizeof tag);
    if (size > sizeof tag)
        p[size - 1] = (unsigned char)tag;
}

static inline uint64_t tag_check(const unsigned char *p, size_t size, uint64_t tag)
{
    if (memcmp(p, &tag, size < sizeof tag ? size : sizeof tag) != 0 ||
        (size > sizeof tag && p[size - 1] != (unsigned char)tag))
        die("object contents changed between malloc and free (overlap?)");
    return tag;
}

/* A thread of a case with threads: its number, and the checksum it leaves. */
struct worker {
    long id;
    uint64_t sum;
};

/* The cases of the other files (micro.c has the table). */
void case_prodcons(long n, struct result *r);
void case_threads(long n, struct result *r);
void case_bulk(long n, struct result *r);
void case_xbulk(long n, struct result *r);
void case_linepong(long n, struct result *r);
void case_burst_idle(long n, struct result *r);
void case_threads_hold(long n, struct result *r);
void case_classes_first(long n, struct result *r);

#endif
