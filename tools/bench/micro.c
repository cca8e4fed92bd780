/* SPDX-License-Identifier: MIT */
/*
 * micro.c - allocator micro benchmarks, one case per run, for tools/bench/bench.py.
 *
 *   micro CASE [N]      run CASE with N iterations (0 or absent: the case's default)
 *   micro list          the cases, their units and default N
 *
 * The allocator under test is whatever `malloc` resolves to: glibc, or a library
 * given with LD_PRELOAD. Each run prints one line of key=value words:
 *
 *   case=pingpong value=8.91 unit=ns/pair check=30000000 peak_kib=1524 lib=libc.so.6
 *
 * value is the measurement (lower is better for every case), cpu_s the CPU time of
 * the case alone (all threads, start-up and the allocator's own initialisation left
 * out; bench.py compares it across allocators where waiting for a busy CPU would
 * blur the wall time), check a checksum of the
 * data the loop wrote and read back, the same under every allocator for the same N
 * (bench.py compares it with glibc's), peak_kib is VmHWM and lib names the object
 * that `malloc` came from, so a preload that did not take is seen.
 * Memory cases add rss_kib and related keys.
 *
 * The cases with threads are in micro_threads.c, those that measure memory in
 * micro_memory.c; what they share in micro.h.
 *
 * Keeping the allocations alive: these files are compiled with -fno-builtin-malloc
 * -fno-builtin-free -fno-builtin-realloc, so GCC does not know what malloc does and
 * cannot pair and delete a malloc with its free; on top of that every pointer passes
 * through KEEP(), an empty asm that claims to change it, and every object is written
 * (and most are read back and verified) before it is freed. A verification failure
 * prints one line on stderr and exits 3: bench.py reports it as FAILED.
 */
#define _GNU_SOURCE
#include "micro.h"

/* The basename of the object `malloc` resolves to. */
static const char *malloc_lib(void)
{
    Dl_info info;
    void *(*volatile fn)(size_t) = malloc;
    if (dladdr((void *)fn, &info) && info.dli_fname) {
        const char *s = strrchr(info.dli_fname, '/');
        return s ? s + 1 : info.dli_fname;
    }
    return "unknown";
}

/* ---- single thread, same size ---------------------------------------------- */

/* GCC may clone a function with a constant argument under another name; clang
 * does not know the attribute. */
#ifdef __clang__
#define NOCLONE
#else
#define NOCLONE __attribute__((noclone))
#endif

/* The measured loop: malloc(32), one store, free. noinline and noclone so that it
 * stays one function under one name (bench.py --fastpath reads callgrind's counts
 * of it, and of the calls it makes, by this name; floor.c copies its shape). */
__attribute__((noinline)) NOCLONE uint64_t bench_pingpong_loop(long n)
{
    for (long i = 0; i < n; i++) {
        unsigned char *p = malloc(32);
        KEEP(p);
        p[0] = (unsigned char)i;
        free(p);
    }
    return (uint64_t)n;
}

static void case_pingpong(long n, struct result *r)
{
    double t0 = now_s();
    r->check = bench_pingpong_loop(n);
    r->value = (now_s() - t0) * 1e9 / (double)n;
    r->unit = "ns/pair";
}

/* Allocates k objects of 32 bytes, then frees them in the same order; n objects in
 * all (rounded up to whole batches). */
static void batch(long n, long k, struct result *r)
{
    static unsigned char *slot[10000];
    long rounds = (n + k - 1) / k;
    uint64_t sum = 0;
    double t0 = now_s();
    for (long j = 0; j < rounds; j++) {
        for (long i = 0; i < k; i++) {
            unsigned char *p = malloc(32);
            KEEP(p);
            p[0] = (unsigned char)(i + j);
            slot[i] = p;
        }
        for (long i = 0; i < k; i++) {
            sum += slot[i][0];
            free(slot[i]);
        }
    }
    r->value = (now_s() - t0) * 1e9 / (double)(rounds * k);
    r->unit = "ns/object";
    r->check = sum;
}

static void case_batch1(long n, struct result *r) { batch(n, 1, r); }
static void case_batch100(long n, struct result *r) { batch(n, 100, r); }
static void case_batch10000(long n, struct result *r) { batch(n, 10000, r); }

/* ---- random sizes with a live set --------------------------------------------- */

/* A live set of `live` objects; each op frees one at random and puts a new one of
 * a size pick() chooses in its place. */
static void random_sizes(long ops, long live, size_t (*pick)(uint64_t *rng), struct result *r)
{
    unsigned char **slot = raw_alloc((size_t)live * sizeof *slot);
    size_t *size = raw_alloc((size_t)live * sizeof *size);
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0;
    for (long i = 0; i < live; i++) {
        size[i] = pick(&rng);
        slot[i] = xmalloc(size[i]);
        tag_write(slot[i], size[i], (uint64_t)i);
    }
    uint64_t *tags = raw_alloc((size_t)live * sizeof *tags);
    for (long i = 0; i < live; i++)
        tags[i] = (uint64_t)i;
    double t0 = now_s();
    for (long k = 0; k < ops; k++) {
        long i = (long)(rand_next(&rng) % (uint64_t)live);
        sum += tag_check(slot[i], size[i], tags[i]);
        free(slot[i]);
        size[i] = pick(&rng);
        slot[i] = xmalloc(size[i]);
        tags[i] = (uint64_t)k * 2654435761u;
        tag_write(slot[i], size[i], tags[i]);
    }
    r->value = (now_s() - t0) * 1e9 / (double)ops;
    r->unit = "ns/op";
    for (long i = 0; i < live; i++) {
        sum += tag_check(slot[i], size[i], tags[i]);
        free(slot[i]);
    }
    r->check = sum;
}

static size_t pick_small(uint64_t *rng) { return rand_range(rng, 8, 1024); }
static size_t pick_large(uint64_t *rng) { return rand_range(rng, 8192, 32768); }

/* Small objects with mid-size and large blocks among them, as programs that
 * read files, grow buffers and build strings have: one request in 64 is of
 * 256 KiB..1 MiB, seven in 64 of 32..256 KiB, the rest 16..512 B. Only the ends
 * of a block are written (tag_write), so the figure is the allocator's cost
 * and the pages it faults in, not a memset. */
static size_t pick_mixed(uint64_t *rng)
{
    uint64_t x = rand_next(rng);
    if (x % 64 == 0)
        return rand_range(rng, 256 << 10, 1 << 20);
    if (x % 8 == 0)
        return rand_range(rng, 32 << 10, 256 << 10);
    return rand_range(rng, 16, 512);
}

static void case_rand_small(long n, struct result *r) { random_sizes(n, 10000, pick_small, r); }
static void case_mixed(long n, struct result *r) { random_sizes(n, 4000, pick_mixed, r); }

/* A skewed size mix, as real programs have: nine bursts in ten are of one
 * of three sizes (48, 256, 640 B), 200..1000 objects allocated and then freed
 * together; one in ten is of a random size up to 4 KiB. The three classes'
 * bursts fit a 1 MiB cache only if it gives them most of its room, not if it
 * shares it evenly over 40 classes: what calibration is for. */
static void case_skewed(long ops, struct result *r)
{
    static const size_t hot[3] = {48, 256, 640};
    enum { BURST_MAX = 1000 };
    unsigned char **slot = raw_alloc(BURST_MAX * sizeof *slot);
    uint64_t rng = 0x2545F4914F6CDD1DULL, sum = 0;
    long done = 0;
    double t0 = now_s();
    while (done < ops) {
        uint64_t pick = rand_next(&rng);
        size_t size = pick % 10 ? hot[(pick >> 8) % 3] : rand_range(&rng, 8, 4096);
        long burst = 200 + (long)((pick >> 16) % (BURST_MAX - 200));
        for (long i = 0; i < burst; i++) {
            slot[i] = xmalloc(size);
            tag_write(slot[i], size, (uint64_t)i);
        }
        for (long i = 0; i < burst; i++) {
            sum += tag_check(slot[i], size, (uint64_t)i);
            free(slot[i]);
        }
        done += 2 * burst;
    }
    r->value = (now_s() - t0) * 1e9 / (double)done;
    r->unit = "ns/op";
    r->check = sum;
}

/* The same number of operations, sizes uniform over 8 B..4 KiB, same bursts. */
static void case_uniform(long ops, struct result *r)
{
    enum { BURST_MAX = 1000 };
    unsigned char **slot = raw_alloc(BURST_MAX * sizeof *slot);
    size_t *size = raw_alloc(BURST_MAX * sizeof *size);
    uint64_t rng = 0x2545F4914F6CDD1DULL, sum = 0;
    long done = 0;
    double t0 = now_s();
    while (done < ops) {
        uint64_t pick = rand_next(&rng);
        long burst = 200 + (long)((pick >> 16) % (BURST_MAX - 200));
        for (long i = 0; i < burst; i++) {
            size[i] = rand_range(&rng, 8, 4096);
            slot[i] = xmalloc(size[i]);
            tag_write(slot[i], size[i], (uint64_t)i);
        }
        for (long i = 0; i < burst; i++) {
            sum += tag_check(slot[i], size[i], (uint64_t)i);
            free(slot[i]);
        }
        done += 2 * burst;
    }
    r->value = (now_s() - t0) * 1e9 / (double)done;
    r->unit = "ns/op";
    r->check = sum;
}
static void case_rand_large(long n, struct result *r) { random_sizes(n, 1000, pick_large, r); }

/* ---- realloc growth ---------------------------------------------------------------- */

/* Grows a buffer from 16 bytes to 4 MiB in 128-byte steps (32 768 reallocs), n
 * times; each step writes its new bytes, and the whole buffer is verified at the
 * end of each growth. */
static void case_realloc(long n, struct result *r)
{
    const size_t top = 4u << 20, step = 128;
    uint64_t sum = 0;
    long calls = 0;
    double t0 = now_s();
    for (long g = 0; g < n; g++) {
        size_t len = 16;
        unsigned char *buf = xmalloc(len);
        memset(buf, (int)(g & 0xff), len);
        while (len < top) {
            unsigned char *nb = realloc(buf, len + step);
            if (!nb)
                die("realloc returned NULL");
            KEEP(nb);
            memset(nb + len, (int)((len / step + (size_t)g) & 0xff), step);
            buf = nb;
            len += step;
            calls++;
        }
        if (buf[0] != (unsigned char)g)
            die("realloc lost the first bytes");
        for (size_t off = 16; off < len; off += 4096 + 64) {
            size_t k = (off - 16) / step; /* written when len was 16 + k * step */
            if (buf[off] != (unsigned char)((k + (size_t)g) & 0xff))
                die("realloc lost data");
            sum += buf[off];
        }
        free(buf);
    }
    r->value = (now_s() - t0) * 1e9 / (double)calls;
    r->unit = "ns/realloc";
    r->check = sum;
}

/* The same with a second thread alive (blocked in read, doing nothing): a
 * program with threads. glibc takes its arena's lock on every realloc of a
 * heap block once a process has a second thread, so this row is what any
 * allocator that hands big blocks to glibc pays, beside what glibc alone
 * pays in the row above. */
static void *idle_thread(void *arg)
{
    char c;
    if (read(*(int *)arg, &c, 1) < 0)
        die("read failed");
    return NULL;
}

static void case_realloc_2t(long n, struct result *r)
{
    int fd[2];
    pthread_t t;
    if (pipe(fd) || pthread_create(&t, NULL, idle_thread, &fd[0]))
        die("pipe or pthread_create failed");
    case_realloc(n, r);
    if (write(fd[1], "x", 1) != 1)
        die("write failed");
    pthread_join(t, NULL);
    close(fd[0]);
    close(fd[1]);
}

/* ---- table and main ----------------------------------------------------------------- */

struct bench_case {
    const char *name;
    void (*fn)(long n, struct result *r);
    long default_n;
    const char *what;
};

static const struct bench_case cases[] = {
    {"pingpong", case_pingpong, 30000000, "malloc(32)+free, same size, one thread"},
    {"batch1", case_batch1, 40000000, "alloc 1 object of 32 B, then free it"},
    {"batch100", case_batch100, 40000000, "alloc 100 objects of 32 B, then free them"},
    {"batch10000", case_batch10000, 40000000, "alloc 10000 objects of 32 B, then free them"},
    {"rand-small", case_rand_small, 16000000, "random sizes 8..1024 B, live set 10000"},
    {"rand-large", case_rand_large, 5000000, "random sizes 8..32 KiB, live set 1000"},
    {"mixed", case_mixed, 4000000, "live set 4000: 16..512 B, 7/64 32..256 KiB, 1/64 to 1 MiB"},
    {"skewed", case_skewed, 60000000, "bursts of 200..1200 objects, 90% of 3 sizes"},
    {"uniform", case_uniform, 60000000, "bursts of 200..1200 objects, sizes 8 B..4 KiB"},
    {"prodcons", case_prodcons, 16000000, "malloc on one thread, free on another (ring)"},
    {"bulk", case_bulk, 20000000, "2 threads: 100000 objects of 16..224 B, then all freed"},
    {"xbulk", case_xbulk, 20000000, "2 threads: batches of 10000 freed by the other thread"},
    {"linepong", case_linepong, 100000, "the machine: one cache line to CPU 1 and back, ns"},
    {"threads", case_threads, 8000, "short-lived threads, 8 at a time, ~300 ops each"},
    {"realloc", case_realloc, 200, "grow 16 B -> 4 MiB in 128 B steps, N times"},
    {"realloc-2t", case_realloc_2t, 200, "the same, a second thread alive (idle)"},
    {"burst-idle", case_burst_idle, 256, "N MiB of small objects, free, sleep 3 s: RSS"},
    {"threads-hold", case_threads_hold, 200, "N threads each holding 50 KiB: RSS"},
    {"classes-first", case_classes_first, 24, "one object of each of N sizes: KiB of RSS a size"},
};
#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < NCASES; i++)
            printf("%-13s N=%-9ld %s\n", cases[i].name, cases[i].default_n, cases[i].what);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < NCASES; i++) {
        if (strcmp(argv[1], cases[i].name) != 0)
            continue;
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
        if (n <= 0)
            n = cases[i].default_n;
        struct result r = {0};
        double c0 = cpu_s();
        cases[i].fn(n, &r);
        double cpu = cpu_s() - c0;
        printf("case=%s value=%.4f unit=%s cpu_s=%.6f check=%llu peak_kib=%ld rss_kib=%ld lib=%s",
               cases[i].name, r.value, r.unit, cpu, (unsigned long long)r.check,
               status_kib("VmHWM"), status_kib("VmRSS"), malloc_lib());
        for (int k = 0; k < 4; k++)
            if (r.extra_name[k])
                printf(" %s=%ld", r.extra_name[k], r.extra[k]);
        printf("\n");
        return 0;
    }
    fprintf(stderr, "micro: no case '%s' (try: micro list)\n", argv[1]);
    return 2;
}
