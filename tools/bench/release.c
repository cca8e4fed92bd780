/* SPDX-License-Identifier: MIT */
/*
 * release.c - how fast freed memory goes back to the OS, under any preloaded
 * allocator (it knows nothing of poolalloc's internals).
 *
 *     release [MIB] [seq] [busy] [guard=MS] [seed=N]
 *
 * Allocates MIB MiB (requested bytes, default 512) of 48..64-byte objects,
 * writes every byte, frees them all in random order (seq: in allocation
 * order), then polls VmRSS every 5 ms without calling the allocator until it
 * is back within 32 MiB of where it started and four flush periods have
 * passed, or MS ms have (the hang guard, default 20 s; most allocators never
 * give small objects back). Between polls the main thread sleeps, or with
 * busy spins, as a program busy on another CPU would: every madvise the
 * allocator makes then has that CPU's TLB to shoot down. Then the floor: as many bytes of touched anonymous
 * memory as the burst added to VmRSS, given back by one
 * madvise(MADV_DONTNEED), three times, timed on this thread's CPU clock.
 *
 * Prints one line of key=value words (times in ns, sizes in KiB):
 *   lib            the object malloc resolves to (a preload that did not take shows)
 *   start_kib peak_kib freed_kib final_kib
 *                  VmRSS before the burst, after it, right after the frees, at the end
 *   back_ms        ms from the last free until VmRSS <= start + 32 MiB (-1: never)
 *   rss_at_P_kib   VmRSS P ms after the last free, P = 1..4 flush periods
 *                  (POOLALLOC_FLUSH_MS, default 1000)
 *   flush_ns       CPU time of the thread named poolalloc-flush (schedstat) from
 *                  just before the frees to the end of the wait (-1: no such thread)
 *   floor_bytes floor_ns floor_wall_ns
 *                  the one-madvise floor: bytes, median thread CPU time, median wall
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLACK_KIB (32L * 1024)
#define GUARD_MS  20000L   /* default hang guard */
#define POLL_MS   5L

static void die(const char *what)
{
    fprintf(stderr, "release: %s\n", what);
    exit(2);
}

/* Reads a small /proc file into buf with open/read: no allocation while
 * polling, so the allocator under test is left alone. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return n;
}

static long rss_kib(void)
{
    char buf[4096];
    if (slurp("/proc/self/status", buf, sizeof buf) < 0)
        die("cannot read /proc/self/status");
    const char *p = strstr(buf, "\nVmRSS:");
    if (!p)
        die("no VmRSS in /proc/self/status");
    return strtol(p + 7, NULL, 10);
}

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The id of this process's thread named poolalloc-flush, or 0. */
static long flush_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    long tid = 0;
    struct dirent *e;
    while (!tid && (e = readdir(d)) != NULL) {
        char path[300], comm[64];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if (slurp(path, comm, sizeof comm) > 0 && strcmp(comm, "poolalloc-flush\n") == 0)
            tid = strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    return tid;
}

/* Nanoseconds thread tid has run on a CPU (schedstat's first field). */
static int64_t thread_cpu_ns(long tid)
{
    char path[128], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
    if (slurp(path, buf, sizeof buf) <= 0)
        die("cannot read the flush thread's schedstat");
    return strtoll(buf, NULL, 10);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *raw_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap failed");
    return p;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One madvise over `bytes` of touched memory: thread CPU and wall time. */
static void floor_once(size_t bytes, int64_t *cpu, int64_t *wall)
{
    char *m = raw_alloc(bytes);
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < bytes; off += (size_t)page)
        m[off] = 1;
    int64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
    if (madvise(m, bytes, MADV_DONTNEED) != 0)
        die("madvise failed");
    *cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    *wall = now_ns(CLOCK_MONOTONIC) - w0;
    munmap(m, bytes);
}

int main(int argc, char **argv)
{
    size_t target = (size_t)512 << 20;
    uint64_t rng = 12345;
    long guard = GUARD_MS;
    int seq = 0, busy = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "seq") == 0)
            seq = 1;
        else if (strcmp(argv[i], "busy") == 0)
            busy = 1;
        else if (strncmp(argv[i], "guard=", 6) == 0)
            guard = atol(argv[i] + 6);
        else if (strncmp(argv[i], "seed=", 5) == 0)
            rng = strtoull(argv[i] + 5, NULL, 10);
        else if ((target = (size_t)atol(argv[i]) << 20) == 0)
            die("usage: release [MIB] [seq] [busy] [guard=MS] [seed=N]");
    }
    const char *env = getenv("POOLALLOC_FLUSH_MS");
    long period = env && atol(env) > 0 ? atol(env) : 1000;
    if (!target || !rng)
        die("usage: release [MIB [SEED]] (both > 0)");

    free(malloc(1));   /* the allocator's init and threads, before the baseline */
    sleep_ms(50);
    long start = rss_kib();
    size_t cap = target / 48 + 1, count = 0, total = 0;
    unsigned char **obj = raw_alloc(cap * sizeof *obj);
    while (total < target) {
        size_t size = 48 + rng_next(&rng) % 17;
        unsigned char *p = malloc(size);
        if (!p)
            die("malloc failed");
        memset(p, (int)(count & 0xff) | 1, size);
        obj[count++] = p;
        total += size;
    }
    long peak = rss_kib();
    for (size_t i = count - 1; !seq && i > 0; i--) {   /* Fisher-Yates */
        size_t j = (size_t)(rng_next(&rng) % (i + 1));
        unsigned char *t = obj[i];
        obj[i] = obj[j];
        obj[j] = t;
    }
    unsigned long check = 0;
    long tid = flush_tid();
    int64_t cpu0 = tid ? thread_cpu_ns(tid) : 0;
    for (size_t i = 0; i < count; i++) {
        check += obj[i][0];
        free(obj[i]);
    }
    int64_t t_freed = now_ns(CLOCK_MONOTONIC);
    munmap(obj, cap * sizeof *obj);
    long freed = rss_kib();

    /* Poll until back within the slack and past four periods, or the guard. */
    long back_ms = -1, at[4] = {-1, -1, -1, -1}, rss = freed;
    for (;;) {
        long ms = (long)((now_ns(CLOCK_MONOTONIC) - t_freed) / 1000000);
        rss = rss_kib();
        for (int k = 0; k < 4; k++)
            if (at[k] < 0 && ms >= (k + 1) * period)
                at[k] = rss;
        if (back_ms < 0 && rss <= start + SLACK_KIB)
            back_ms = ms;
        if ((back_ms >= 0 && at[3] >= 0) || ms >= guard)
            break;
        if (busy) {
            int64_t until = now_ns(CLOCK_MONOTONIC) + POLL_MS * 1000000;
            while (now_ns(CLOCK_MONOTONIC) < until) {
            }
        } else {
            sleep_ms(POLL_MS);
        }
    }
    /* A period more, so that the flush that brought RSS back has finished
     * and its CPU time is counted whole. */
    if (back_ms >= 0)
        sleep_ms(period);
    int64_t flush_ns = tid ? thread_cpu_ns(tid) - cpu0 : -1;
    long final = rss_kib();

    size_t floor_bytes = (size_t)(peak > start ? peak - start : 1) << 10;
    int64_t fcpu[3], fwall[3];
    for (int k = 0; k < 3; k++)
        floor_once(floor_bytes, &fcpu[k], &fwall[k]);
    qsort(fcpu, 3, sizeof fcpu[0], cmp_i64);
    qsort(fwall, 3, sizeof fwall[0], cmp_i64);

    Dl_info info;
    void *(*volatile fn)(size_t) = malloc;
    const char *lib = dladdr((void *)fn, &info) && info.dli_fname ? info.dli_fname : "?";
    const char *slash = strrchr(lib, '/');
    printf("lib=%s objects=%zu check=%lu period_ms=%ld start_kib=%ld peak_kib=%ld "
           "freed_kib=%ld final_kib=%ld back_ms=%ld",
           slash ? slash + 1 : lib, count, check, period, start, peak, freed, final, back_ms);
    for (int k = 0; k < 4; k++)
        printf(" rss_at_%ld_kib=%ld", (k + 1) * period, at[k]);
    printf(" flush_ns=%lld floor_bytes=%zu floor_ns=%lld floor_wall_ns=%lld\n",
           (long long)flush_ns, floor_bytes, (long long)fcpu[1], (long long)fwall[1]);
    return 0;
}
