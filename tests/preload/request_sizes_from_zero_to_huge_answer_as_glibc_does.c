/* SPDX-License-Identifier: MIT */
/*
 * request_sizes_from_zero_to_huge_answer_as_glibc_does — malloc, calloc and free over
 * the whole range of sizes, as glibc 2.36 answers them: malloc(0) gives distinct
 * pointers, free keeps errno, a request too large (or a calloc whose product
 * overflows) is NULL with ENOMEM, every block is as usable as malloc_usable_size says,
 * calloc zeroes a recycled block, and the blocks libc functions allocate for the
 * program go back through free.
 *
 * Every check holds on plain glibc too (the runner proves it with the [glibc] run),
 * except poolalloc's own contract, checked only when poolalloc_owns() exists: small
 * requests come from the pools, big ones pass through to glibc, and a block glibc made
 * goes back to glibc.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>
#include <sys/mman.h>

#define TEST "request_sizes_from_zero_to_huge_answer_as_glibc_does"

/* glibc's own entry points: a block from here is not poolalloc's and must go back. */
extern void *__libc_malloc(size_t);

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void test_malloc_zero_returns_distinct_pointers(void)
{
    enum { N = 200 };
    void *v[N];
    uintptr_t a[N];
    for (int i = 0; i < N; i++) {
        v[i] = malloc(pt_size(0));
        CHECK(v[i] != NULL, "malloc(0) #%d returned NULL", i);
        a[i] = pt_addr(v[i]);
    }
    qsort(a, N, sizeof a[0], cmp_addr);
    for (int i = 1; i < N; i++)
        CHECK(a[i] != a[i - 1], "malloc(0) returned %#lx twice", (unsigned long)a[i]);
    for (int i = 0; i < N; i++)
        free(v[i]);
}

static void test_free_null_and_errno(void)
{
    free(NULL);
    errno = ERANGE;
    free(NULL);
    CHECK(errno == ERANGE, "free(NULL) changed errno to %d", errno);
    /* glibc >= 2.33 preserves errno across free, including the munmap path. */
    static const size_t sizes[] = {16, 1000, 32768, 40000, 1 << 20, 10 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = pt_opaque(malloc(sizes[i]));
        CHECK(p != NULL, "malloc(%zu) failed", sizes[i]);
        memset(p, 1, sizes[i]);
        errno = EILSEQ;
        free(p);
        CHECK(errno == EILSEQ, "free of a %zu-byte block changed errno to %d", sizes[i], errno);
    }
}

static void test_calloc_overflow_is_enomem(void)
{
    static const size_t cases[][2] = {
        {SIZE_MAX / 2, 3},
        {SIZE_MAX, 2},
        {2, SIZE_MAX / 2 + 1},
        {(size_t)1 << 32, (size_t)1 << 32},
        {SIZE_MAX, SIZE_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        void *p = calloc(pt_size(cases[i][0]), pt_size(cases[i][1]));
        CHECK(p == NULL && errno == ENOMEM, "calloc(%#zx, %#zx): %p errno %d, expected NULL/ENOMEM",
              cases[i][0], cases[i][1], p, errno);
        if (p)
            free(p);
    }
}

static void expect_enomem(void *p, const char *what)
{
    int err = pt_errno();
    CHECK(p == NULL && err == ENOMEM, "%s: %p errno %d, expected NULL/ENOMEM", what, p, err);
    if (p)
        free(p);
}

static void test_huge_requests_fail_with_enomem(void)
{
    errno = 0;
    expect_enomem(malloc(pt_size(SIZE_MAX)), "malloc(SIZE_MAX)");
    errno = 0;
    expect_enomem(malloc(pt_size(SIZE_MAX / 2)), "malloc(SIZE_MAX/2)");
    errno = 0;
    expect_enomem(malloc(pt_size((size_t)PTRDIFF_MAX + 1)), "malloc(PTRDIFF_MAX+1)");
    errno = 0;
    expect_enomem(calloc(1, pt_size(SIZE_MAX - 4096)), "calloc(1, SIZE_MAX-4096)");
    errno = 0;
    expect_enomem(memalign(64, pt_size(SIZE_MAX)), "memalign(64, SIZE_MAX)");
    errno = 0;
    expect_enomem(aligned_alloc(4096, pt_size(SIZE_MAX - 4095)), "aligned_alloc(4096, huge)");
    errno = 0;
    expect_enomem(valloc(pt_size(SIZE_MAX)), "valloc(SIZE_MAX)");
    errno = 0;
    expect_enomem(pvalloc(pt_size(SIZE_MAX - 10)), "pvalloc(SIZE_MAX-10)");
}

/* The walk of test_usable_size_is_writable: every size to 2100, then every 13th
 * to 70000 (the classes up to 64 KiB), then every 13th from 258000 to 270000
 * (the largest classes and the default POOLALLOC_MAX_SIZE, 256 KiB, where
 * requests start to go to glibc). */
static size_t next_request(size_t n)
{
    if (n < 2100)
        return n + 1;
    if (n >= 70000 && n < 258000)
        return 258000;
    return n + 13;
}

static void test_usable_size_is_writable(void)
{
    enum { RING = 8 };
    void *ring[RING] = {0};
    size_t used[RING] = {0};
    unsigned tag[RING] = {0};
    unsigned k = 0;
    for (size_t n = 0; n <= 270000; n = next_request(n), k++) {
        unsigned slot = k % RING;
        if (ring[slot]) {
            long bad = pt_find_bad(ring[slot], used[slot], tag[slot]);
            CHECK(bad < 0, "block of usable size %zu: byte %ld overwritten by a neighbour",
                  used[slot], bad);
            free(ring[slot]);
        }
        void *p = malloc(pt_size(n));
        CHECK(p != NULL, "malloc(%zu) failed", n);
        if (!p) {
            ring[slot] = NULL;
            continue;
        }
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
        CHECK(u <= n + n / 2 + 4096 + 64, "malloc_usable_size(malloc(%zu)) = %zu: absurdly large",
              n, u);
        CHECK(n < 16 || pt_is_aligned(p, 16), "malloc(%zu) = %p, not 16-byte aligned", n, p);
        CHECK(n < 8 || pt_is_aligned(p, 8), "malloc(%zu) = %p, not 8-byte aligned", n, p);
        pt_expect_owner(p, n, "malloc");
        ring[slot] = p;
        used[slot] = u;
        tag[slot] = k;
        pt_fill(p, u, k);
        if (atomic_load(&pt_failures) > 20)
            break;
    }
    for (unsigned i = 0; i < RING; i++) {
        if (!ring[i])
            continue;
        CHECK(pt_find_bad(ring[i], used[i], tag[i]) < 0, "block of usable size %zu overwritten",
              used[i]);
        free(ring[i]);
    }
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
          malloc_usable_size(NULL));
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void test_calloc_zeroes_reused_blocks(void)
{
    static const size_t sizes[] = {1,    16,    24,    100,   256,    1000,   4000,
                                   5000, 32768, 40000, 70000, 200000, 3 << 20};
    enum { BATCH = 32 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int rounds = n > 100000 ? 8 : 50;
        /* One block recycled over and over. */
        for (int r = 0; r < rounds; r++) {
            void *p = pt_opaque(malloc(n));
            memset(p, 0xAA, malloc_usable_size(p));
            free(p);
            unsigned char *q = (r & 1) ? calloc(1, pt_size(n)) : calloc(pt_size(n), 1);
            CHECK(q != NULL, "calloc(%zu) failed", n);
            if (!q)
                continue;
            if (!all_zero(q, n)) {
                FAILF("calloc(%zu) after free of a 0xAA block: not zeroed (round %d)", n, r);
                r = rounds;
            }
            memset(q, 0xAA, malloc_usable_size(q));
            free(q);
        }
        /* A batch freed together, then calloc'ed back: each must be zero. */
        if (n > 100000)
            continue;
        void *v[BATCH];
        for (int j = 0; j < BATCH; j++) {
            v[j] = pt_opaque(malloc(n));
            memset(v[j], 0xAA, malloc_usable_size(v[j]));
        }
        for (int j = 0; j < BATCH; j++)
            free(v[j]);
        for (int j = 0; j < BATCH; j++) {
            v[j] = calloc(n, 1);
            CHECK(v[j] && all_zero(v[j], n), "calloc(%zu, 1) #%d of a batch not zeroed", n, j);
        }
        for (int j = 0; j < BATCH; j++)
            free(v[j]);
        /* Same class, smaller request: calloc must still clear what it hands out. */
        for (int j = 0; j < BATCH; j++) {
            v[j] = pt_opaque(malloc(n));
            memset(v[j], 0xAA, malloc_usable_size(v[j]));
            free(v[j]);
            size_t m = n > 8 ? n - n / 8 : n;
            unsigned char *q = calloc(m, 1);
            CHECK(q && all_zero(q, m), "calloc(%zu, 1) after free of %zu not zeroed", m, n);
            free(q);
        }
    }
}

static void test_ownership_routing(void)
{
    int local = 0;
    static int in_static_storage;
    int small_pooled = pt_small_pooled();
    size_t default_max = pt_default_max();
    if (pt_preloaded()) {
        void *small = malloc(32);
        void *big = malloc(pt_size(10 << 20));
        CHECK(pt_owns(small) == small_pooled, "malloc(32): poolalloc_owns = %d, expected %d",
              pt_owns(small), small_pooled);
        CHECK(pt_owns(big) == 0, "malloc(10 MiB) owned: big requests must pass through");
        free(small);
        free(big);
        CHECK(pt_owns(NULL) == 0, "poolalloc_owns(NULL) != 0");
        CHECK(pt_owns(&local) == 0, "poolalloc_owns(stack address) != 0");
        CHECK(pt_owns(&in_static_storage) == 0, "poolalloc_owns(static address) != 0");
        if (default_max) {
            void *a = malloc(default_max), *b = malloc(default_max + 1);
            CHECK(pt_owns(a) == 1, "malloc(%zu) (= default max) not owned", default_max);
            CHECK(pt_owns(b) == 0, "malloc(%zu) (> default max) owned", default_max + 1);
            free(a);
            free(b);
        }
        void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(pt_owns(m) == 0, "poolalloc_owns(mmap'ed page) != 0");
        munmap(m, 4096);
    }
    /* A block that glibc made goes back to glibc, whatever the entry point used. */
    for (int i = 0; i < 3; i++) {
        unsigned char *g = __libc_malloc(100);
        CHECK(g != NULL, "__libc_malloc failed");
        CHECK(pt_owns(g) <= 0, "a block from __libc_malloc is claimed by poolalloc");
        CHECK(malloc_usable_size(g) >= 100, "malloc_usable_size(glibc block) = %zu",
              malloc_usable_size(g));
        pt_fill(g, 100, 31);
        if (i == 0) {
            free(g);
        } else {
            size_t n = i == 1 ? 50 : 50000;
            unsigned char *h = realloc(g, n);
            CHECK(h && pt_find_bad(h, n < 100 ? n : 100, 31) < 0, "realloc(glibc block, %zu)", n);
            free(h);
        }
    }
}

/* libc functions that allocate internally hand their blocks to our free(). */
static void test_libc_internal_allocations(void)
{
    char *s = strdup("poolalloc edge cases");
    CHECK(s && strcmp(s, "poolalloc edge cases") == 0, "strdup");
    free(s);
    s = strndup("abcdefgh", 3);
    CHECK(s && strcmp(s, "abc") == 0, "strndup");
    free(s);
    s = NULL;
    CHECK(asprintf(&s, "%d-%s-%0500d", 42, "x", 7) == 505 && s && s[0] == '4', "asprintf");
    free(s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL, "open_memstream");
    if (f) {
        for (int i = 0; i < 2000; i++)
            fprintf(f, "line %d\n", i);
        fclose(f);
        CHECK(len > 10000 && buf && strncmp(buf, "line 0\n", 7) == 0, "open_memstream content");
        free(buf);
    }
    char *rp = realpath("/", NULL);
    CHECK(rp && strcmp(rp, "/") == 0, "realpath(\"/\", NULL)");
    free(rp);
}

int main(void)
{
    pt_init(TEST);
    static const struct pt_case cases[] = {
        PT_CASE(test_malloc_zero_returns_distinct_pointers),
        PT_CASE(test_free_null_and_errno),
        PT_CASE(test_calloc_overflow_is_enomem),
        PT_CASE(test_huge_requests_fail_with_enomem),
        PT_CASE(test_usable_size_is_writable),
        PT_CASE(test_calloc_zeroes_reused_blocks),
        PT_CASE(test_ownership_routing),
        PT_CASE(test_libc_internal_allocations),
    };
    pt_run_cases(cases, sizeof cases / sizeof cases[0]);
    return pt_finish(TEST);
}
