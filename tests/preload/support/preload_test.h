/* SPDX-License-Identifier: MIT */
/*
 * preload_test.h — the few helpers every tests/preload program shares.
 *
 * Each test program runs twice: once on plain glibc (to prove the test itself is
 * right) and once under LD_PRELOAD=libpoolalloc.so.  Which of the two is running is
 * told by poolalloc_owns(): present only when the allocator is loaded.  The runner sets
 * PRELOAD_EXPECT_POOLALLOC=1 for the preloaded run, so a library that the dynamic
 * loader silently refused to preload fails the test instead of passing on glibc.
 *
 * Failures are counted, not fatal: a test reports every broken rule it sees (up to
 * a cap) and exits 1 at the end.  Messages go to stderr, the runner shows their tail.
 */
#ifndef PRELOAD_TEST_H
#define PRELOAD_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../../include/poolalloc.h"

/*
 * A program of one file gets the two objects below as statics. A program of several
 * files defines PT_SHARED before it includes this header, in every file, and defines
 * both objects once (PT_SHARED_DEFINE, in the file with main): one failure count and
 * one ownership query for the whole program, not one per file.
 */
#ifdef PT_SHARED
#define PT_STORAGE extern
#define PT_SHARED_DEFINE                                                                   \
    atomic_int pt_failures;                                                                \
    int (*pt_owns_fn)(const void *)
#else
#define PT_STORAGE static
#endif

/* Failure count for the whole program; atomic because torture threads report too. */
PT_STORAGE atomic_int pt_failures __attribute__((unused));

/* Set by pt_init(): the allocator's ownership query, or NULL on plain glibc. */
PT_STORAGE int (*pt_owns_fn)(const void *) __attribute__((unused));

/* Report one broken rule with its location; stops printing (not counting) after 30. */
__attribute__((format(printf, 3, 4), unused)) static void pt_fail(const char *file, int line,
                                                                  const char *fmt, ...)
{
    int n = atomic_fetch_add(&pt_failures, 1);
    if (n >= 30) {
        if (n == 30)
            fprintf(stderr, "FAIL ...: more failures not shown\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define FAILF(...) pt_fail(__FILE__, __LINE__, __VA_ARGS__)

/*
 * errno as the last call left it.  clang 14 (LLVM) treats malloc and friends as
 * touching no memory the program can see, errno included, and may fold
 * `errno = 0; p = malloc(huge); errno == ENOMEM` to false.  The empty asm with a
 * memory clobber makes the compiler forget what it knows and reload errno.
 */
#define PT_BARRIER() __asm__ volatile("" ::: "memory")
static inline int pt_errno(void)
{
    PT_BARRIER();
    return errno;
}

/* CHECK(cond, fmt, ...): record a failure with the condition text and a message.
 * The barrier first: cond often reads errno right after an allocation call. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        PT_BARRIER();                                                                      \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "  check failed: %s\n", #cond);                                \
            FAILF(__VA_ARGS__);                                                            \
        }                                                                                  \
    } while (0)

/*
 * Find poolalloc_owns.  Under PRELOAD_EXPECT_POOLALLOC=1 its absence is itself a
 * failure (the library did not load), reported once here.
 */
static inline void pt_init(const char *test_name)
{
    *(void **)&pt_owns_fn = dlsym(RTLD_DEFAULT, "poolalloc_owns");
    const char *expect = getenv("PRELOAD_EXPECT_POOLALLOC");
    if (expect && strcmp(expect, "1") == 0 && pt_owns_fn == NULL)
        FAILF("%s: poolalloc_owns not found: libpoolalloc.so was not preloaded", test_name);
    fprintf(stderr, "%s: running on %s\n", test_name,
            pt_owns_fn ? "poolalloc (LD_PRELOAD)" : "plain glibc");
}

/*
 * Hide a pointer from the optimizer: GCC knows malloc/free and may delete an unused
 * allocation or fold a comparison between two of them.  Passing the value through an
 * empty asm makes it opaque.
 */
static inline void *pt_opaque(void *p)
{
    __asm__ volatile("" : "+r"(p)::"memory");
    return p;
}

static inline uintptr_t pt_addr(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    __asm__ volatile("" : "+r"(a));
    return a;
}

/* 1 if the allocator is loaded (ownership rules apply), 0 on plain glibc. */
static inline int pt_preloaded(void)
{
    return pt_owns_fn != NULL;
}

/* poolalloc_owns(p), or -1 when it does not exist (plain glibc). */
static inline int pt_owns(const void *p)
{
    /* Laundered: GCC would otherwise warn that the (untouched) block is read. */
    return pt_owns_fn ? pt_owns_fn((const void *)pt_addr(p)) : -1;
}

/* Same for sizes: keeps -Walloc-size-larger-than from rejecting deliberate huge sizes. */
static inline size_t pt_size(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* splitmix64: small, seedable, good enough to drive random operations. */
static inline uint64_t pt_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double pt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Resident set size of this process in bytes, from VmRSS in /proc/self/status,
 * read with read(2) into a stack buffer so that measuring allocates nothing.
 * Returns 0 if it cannot be read.
 */
static inline size_t pt_status_kib(const char *key)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *s = line + klen + 1;
            while (*s == ' ' || *s == '\t')
                s++;
            size_t v = 0;
            while (*s >= '0' && *s <= '9')
                v = v * 10 + (size_t)(*s++ - '0');
            return v;
        }
    }
    return 0;
}

static inline size_t pt_rss_bytes(void)
{
    return pt_status_kib("VmRSS") * 1024;
}

/*
 * Flush generations poolalloc has run in this process, read from the library itself
 * (poolalloc_get_stats), or -1 on plain glibc.
 */
static inline int64_t pt_generations(void)
{
    static int (*get)(struct poolalloc_stats *);
    if (!get)
        *(void **)&get = dlsym(RTLD_DEFAULT, "poolalloc_get_stats");
    struct poolalloc_stats st = {.size = sizeof st};
    if (!get || get(&st) != 0)
        return -1;
    return (int64_t)st.generations;
}

/*
 * Waits until n generations have ended after `from` (a pt_generations() value), polling
 * every few milliseconds.  Tests of memory return judge by generations, not seconds, so
 * that a loaded machine only makes them slower; cap_s is a hang guard.  Returns the
 * generations reached, or -1 if the cap passed first.  On plain glibc (no generations)
 * it sleeps fallback_ms instead and returns -1.
 */
static inline int64_t pt_wait_generations(int64_t from, int n, double cap_s, long fallback_ms)
{
    if (from < 0) {
        struct timespec ts = {fallback_ms / 1000, (fallback_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return -1;
    }
    double deadline = pt_now() + cap_s;
    for (;;) {
        int64_t g = pt_generations();
        if (g >= from + n)
            return g;
        if (pt_now() > deadline)
            return -1;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Allocates count objects of size bytes into v[0..count), object i filled
 * with the byte (i | 1). Returns how many it got: a malloc that fails is a
 * failure of the test, and the count stops there. */
static inline size_t pt_alloc_filled(unsigned char **v, size_t count, size_t size)
{
    for (size_t i = 0; i < count; i++) {
        v[i] = malloc(size);
        if (!v[i]) {
            FAILF("malloc(%zu) failed", size);
            return i;
        }
        memset(v[i], (int)(i | 1), size);
    }
    return count;
}

/* 1 if p is a multiple of a (a power of two). */
static inline int pt_is_aligned(const void *p, size_t a)
{
    return (pt_addr(p) & (a - 1)) == 0;
}

/* Byte i of the pattern for a block tagged `seed`: never constant, never zero-only. */
static inline unsigned char pt_pat(unsigned seed, size_t i)
{
    return (unsigned char)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

/* Fills n bytes at p with the pattern of `seed`; pt_find_bad checks them later. */
static inline void pt_fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pt_pat(seed, i);
}

/* Index of the first byte that differs from the pattern of `seed`, or -1. */
static inline long pt_find_bad(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pt_pat(seed, i))
            return (long)i;
    return -1;
}

/* POOLALLOC_MAX_SIZE as the user wrote it: bytes with an optional k/m/g suffix, or
 * SIZE_MAX if it is not such a number (then the allocator uses its default). Leaves
 * errno as it found it, so that a test may ask between a call and its errno check. */
static inline size_t pt_env_size(const char *s)
{
    char *end;
    int saved = errno;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int bad = end == s || errno;
    errno = saved;
    if (bad)
        return SIZE_MAX;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    return *end ? SIZE_MAX : (size_t)v;
}

/* Largest pooled request when POOLALLOC_MAX_SIZE is unset (the library's default);
 * 0 when it is set: the limit is then unknown here and no check relies on it. */
static inline size_t pt_default_max(void)
{
    return getenv("POOLALLOC_MAX_SIZE") ? 0 : 262144;
}

/* The same for a block realloc() made from another one: above 32 KiB it is
 * glibc's whatever the max size (a growing block stays where glibc can grow
 * it in place), at or below it the pools' as malloc's would be. */
static inline void pt_expect_realloc_owner(const void *p, size_t n, const char *what)
{
    size_t max = pt_default_max();
    if (!pt_preloaded() || !max || p == NULL || n == 0)
        return;
    int want = n <= 32768;
    CHECK(pt_owns(p) == want, "%s: %zu bytes at %p: poolalloc_owns=%d, expected %d", what, n, p,
          pt_owns(p), want);
}

/* 1 when requests of 32..48 bytes are pooled: POOLALLOC_MAX_SIZE unset, not a number
 * (the allocator then takes its default), or set to 64 or more. */
static inline int pt_small_pooled(void)
{
    const char *max_env = getenv("POOLALLOC_MAX_SIZE");
    return !max_env || pt_env_size(max_env) >= 64;
}

/* Under poolalloc with the default max size: small requests owned, big ones not.
 * Checks nothing on plain glibc, for NULL, for 0 bytes or under another max size. */
static inline void pt_expect_owner(const void *p, size_t n, const char *what)
{
    size_t max = pt_default_max();
    if (!pt_preloaded() || !max || p == NULL || n == 0)
        return;
    int want = n <= max;
    CHECK(pt_owns(p) == want, "%s: %zu bytes at %p: poolalloc_owns=%d, expected %d", what, n, p,
          pt_owns(p), want);
}

/* One named case of a test program, for pt_run_cases. */
struct pt_case {
    const char *name;
    void (*fn)(void);
};
#define PT_CASE(f) {#f, f}

/* Runs every case in order: an "ok" or "FAIL" line each on stdout, and on stderr after a
 * failing case's own messages the case's name. Failures stay counted for pt_finish. */
static inline void pt_run_cases(const struct pt_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int before = atomic_load(&pt_failures);
        cases[i].fn();
        int after = atomic_load(&pt_failures);
        printf("%s %s\n", after == before ? "ok  " : "FAIL", cases[i].name);
        if (after != before)
            fprintf(stderr, "  in %s\n", cases[i].name);
    }
}

/* Print the verdict line and give the exit status for main. */
static inline int pt_finish(const char *test_name)
{
    int n = atomic_load(&pt_failures);
    if (n) {
        fprintf(stderr, "%s: %d failure(s)\n", test_name, n);
        return 1;
    }
    printf("%s: ok\n", test_name);
    return 0;
}

#endif
