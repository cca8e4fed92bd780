/* SPDX-License-Identifier: MIT */
/*
 * malloc_edge_cases — the corners of the malloc family, as glibc 2.36 answers them.
 *
 * Every check here holds on plain glibc too (the runner proves it with the [glibc]
 * run), except the few that are poolalloc's own contract: ownership (small requests
 * come from the pools, big ones pass through) and realloc inside one size class
 * keeping the pointer.
 * Those are checked only when poolalloc_owns() exists.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>
#include <sys/mman.h>

#define TEST "malloc_edge_cases"

/* glibc's own entry points: a block from here is not poolalloc's and must go back. */
extern void *__libc_malloc(size_t);

static size_t page_size;
/* Largest pooled request when POOLALLOC_MAX_SIZE is unset; 0 = unknown, no checks. */
static size_t default_max;
/* 1 when requests of 32..48 bytes are pooled: the default, or a max size set >= 64. */
static int small_pooled;

/* POOLALLOC_MAX_SIZE as the user wrote it: bytes with an optional k/m/g suffix, or
 * SIZE_MAX if it is not such a number (then the allocator uses its default). */
static size_t env_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return SIZE_MAX;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    return *end ? SIZE_MAX : (size_t)v;
}

static int is_aligned(const void *p, size_t a)
{
    return (pt_addr(p) & (a - 1)) == 0;
}

/* Byte i of the pattern for a block tagged `seed`: never constant, never zero-only. */
static unsigned char pat(unsigned seed, size_t i)
{
    return (unsigned char)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pat(seed, i);
}

/* Index of the first byte that differs from the pattern, or -1. */
static long find_bad(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(seed, i))
            return (long)i;
    return -1;
}

/* Under poolalloc with the default max size: small requests owned, big ones not. */
static void expect_owner(const void *p, size_t n, const char *what)
{
    if (!pt_preloaded() || !default_max || p == NULL || n == 0)
        return;
    int want = n <= default_max;
    CHECK(pt_owns(p) == want, "%s: %zu bytes at %p: poolalloc_owns=%d, expected %d", what, n, p,
          pt_owns(p), want);
}

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

static void test_realloc_null_acts_as_malloc(void)
{
    static const size_t sizes[] = {0, 1, 24, 100, 4096, 32768, 33000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = realloc(NULL, pt_size(n));
        CHECK(p != NULL, "realloc(NULL, %zu) returned NULL", n);
        if (!p)
            continue;
        CHECK(malloc_usable_size(p) >= n, "realloc(NULL, %zu): usable %zu", n,
              malloc_usable_size(p));
        fill(p, n, 3);
        CHECK(find_bad(p, n, 3) < 0, "realloc(NULL, %zu): content lost", n);
        expect_owner(p, n, "realloc(NULL, n)");
        free(p);
    }
}

static void test_realloc_zero_frees(void)
{
    static const size_t sizes[] = {1, 100, 2000, 32768, 100000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = pt_opaque(malloc(sizes[i]));
        memset(p, 7, sizes[i]);
        void *q = realloc(p, pt_size(0));
        CHECK(q == NULL, "realloc(p of %zu bytes, 0) returned %p, expected NULL (freed)",
              sizes[i], q);
        if (q)
            free(q);
    }
    /* "Frees" is checked by not leaking: 300 MB would pile up otherwise. */
    size_t before = pt_rss_bytes();
    for (int i = 0; i < 100000; i++) {
        void *p = pt_opaque(malloc(pt_size(3000)));
        memset(p, i, 3000);
        if (realloc(p, pt_size(0)) != NULL) {
            FAILF("realloc(p, 0) returned non-NULL");
            break;
        }
    }
    for (int i = 0; i < 300; i++) {
        void *p = pt_opaque(malloc(pt_size(1 << 20)));
        memset(p, i, 1 << 20);
        if (realloc(p, pt_size(0)) != NULL) {
            FAILF("realloc(p, 0) returned non-NULL");
            break;
        }
    }
    size_t after = pt_rss_bytes();
    CHECK(after < before + (64u << 20), "realloc(p, 0) leaks: RSS %zu -> %zu MiB", before >> 20,
          after >> 20);
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

static void test_reallocarray_overflow_keeps_block(void)
{
    void *p = malloc(64);
    fill(p, 64, 9);
    errno = 0;
    void *q = reallocarray(pt_opaque(p), pt_size(SIZE_MAX / 2), pt_size(3));
    CHECK(q == NULL && errno == ENOMEM, "reallocarray overflow: %p errno %d, expected NULL/ENOMEM",
          q, errno);
    CHECK(find_bad(p, 64, 9) < 0, "reallocarray overflow damaged the old block");
    q = reallocarray(p, pt_size(100), pt_size(50));
    CHECK(q != NULL, "reallocarray(p, 100, 50) failed");
    if (q) {
        CHECK(find_bad(q, 64, 9) < 0, "reallocarray(p, 100, 50) lost the content");
        CHECK(malloc_usable_size(q) >= 5000, "reallocarray(p, 100, 50): usable %zu",
              malloc_usable_size(q));
        memset(q, 0, 5000);
        free(q);
    } else {
        free(p);
    }
    errno = 0;
    q = reallocarray(NULL, pt_size((size_t)1 << 40), pt_size((size_t)1 << 40));
    CHECK(q == NULL && errno == ENOMEM, "reallocarray(NULL, 2^40, 2^40): %p errno %d", q, errno);
}

static void test_posix_memalign_bad_alignment_is_einval(void)
{
    static const size_t bad[] = {0, 1, 2, 4, 3, 12, 24, 48, 96, 1000, 4097, 65535, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *sentinel = (void *)(uintptr_t)0x5a5a5a50;
        void *p = sentinel;
        int rc = posix_memalign(&p, pt_size(bad[i]), 64);
        CHECK(rc == EINVAL, "posix_memalign(alignment %zu) returned %d, expected EINVAL", bad[i],
              rc);
        CHECK(p == sentinel || p == NULL, "posix_memalign(alignment %zu) failed but set %p", bad[i],
              p);
        if (rc == 0)
            free(p);
    }
    void *p = NULL;
    int rc = posix_memalign(&p, 64, pt_size(SIZE_MAX - 100));
    CHECK(rc == ENOMEM, "posix_memalign(64, SIZE_MAX-100) returned %d, expected ENOMEM", rc);
}

static size_t next_pow2(size_t a)
{
    size_t r = 1;
    while (r < a)
        r <<= 1;
    return r;
}

/* glibc's memalign takes any alignment: not a power of two is rounded up to one. */
static void test_memalign_rounds_alignment_up(void)
{
    static const size_t odd[] = {3, 24, 48, 100, 3000, 12345};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t want = next_pow2(odd[i]);
        void *p = memalign(pt_size(odd[i]), 100);
        CHECK(p && is_aligned(p, want), "memalign(%zu, 100) -> %p, expected %zu-aligned", odd[i],
              p, want);
        if (p)
            memset(p, 1, 100);
        free(p);
    }
    errno = 0;
    void *p = memalign(pt_size(SIZE_MAX / 2 + 2), 16);
    CHECK(p == NULL && errno == EINVAL, "memalign(SIZE_MAX/2+2, 16): %p errno %d, expected EINVAL",
          p, errno);
}

/* glibc 2.36 rounds an alignment that is not a power of two up, as memalign
 * does, and so must we: a program that works on glibc keeps working. */
static void test_aligned_alloc_rounds_a_bad_alignment_up(void)
{
    static const size_t bad[] = {3, 24, 48, 100, 12345, 0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        char *p = aligned_alloc(pt_size(bad[i]), 64);
        int err = pt_errno();
        CHECK(p != NULL, "aligned_alloc(%zu, 64): NULL errno %d, expected memory as memalign gives",
              bad[i], err);
        if (p) {
            CHECK(is_aligned(p, next_pow2(bad[i] ? bad[i] : 1)), "aligned_alloc(%zu) gave %p",
                  bad[i], (void *)p);
            memset(p, 0x5a, 64);
            free(p);
        }
    }
    errno = 0;
    void *p = aligned_alloc(pt_size(SIZE_MAX / 2 + 2), 16);
    CHECK(p == NULL && pt_errno() == EINVAL,
          "aligned_alloc(SIZE_MAX/2+2, 16): %p errno %d, expected EINVAL", p, pt_errno());
}

static void test_aligned_variants_size_zero(void)
{
    static const size_t aligns[] = {8, 16, 64, 256, 4096, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t a = aligns[i];
        void *p = memalign(a, pt_size(0));
        CHECK(p && is_aligned(p, a), "memalign(%zu, 0) -> %p", a, p);
        free(p);
        p = aligned_alloc(a, pt_size(0));
        CHECK(p && is_aligned(p, a), "aligned_alloc(%zu, 0) -> %p", a, p);
        free(p);
        p = NULL;
        int rc = posix_memalign(&p, a, pt_size(0));
        CHECK(rc == 0 && p && is_aligned(p, a), "posix_memalign(%zu, 0) -> %d %p", a, rc, p);
        if (rc == 0)
            free(p);
    }
}

static void test_alignment_grid_writable(void)
{
    static const size_t sizes[] = {0, 1, 17, 100, 1000, 5000, 40000};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    for (size_t a = 16; a <= 65536; a <<= 1) {
        void *blk[NS][3];
        size_t len[NS][3];
        for (size_t s = 0; s < NS; s++) {
            size_t n = sizes[s];
            blk[s][0] = memalign(a, pt_size(n));
            blk[s][1] = aligned_alloc(a, pt_size(n));
            blk[s][2] = NULL;
            int rc = posix_memalign(&blk[s][2], a, pt_size(n));
            CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", a, n, rc);
            for (int f = 0; f < 3; f++) {
                void *p = blk[s][f];
                static const char *const fn[] = {"memalign", "aligned_alloc", "posix_memalign"};
                CHECK(p != NULL, "%s(%zu, %zu) returned NULL", fn[f], a, n);
                if (!p) {
                    len[s][f] = 0;
                    continue;
                }
                CHECK(is_aligned(p, a), "%s(%zu, %zu) returned %p", fn[f], a, n, p);
                size_t u = malloc_usable_size(p);
                CHECK(u >= n, "%s(%zu, %zu): usable %zu", fn[f], a, n, u);
                len[s][f] = u;
                fill(p, u, (unsigned)(s * 3 + f));
            }
        }
        /* All 21 blocks were live together: any overlap shows up as a changed byte. */
        for (size_t s = 0; s < NS; s++)
            for (int f = 0; f < 3; f++) {
                if (!blk[s][f])
                    continue;
                long bad = find_bad(blk[s][f], len[s][f], (unsigned)(s * 3 + f));
                CHECK(bad < 0, "alignment %zu size %zu fn %d: byte %ld overwritten", a, sizes[s],
                      f, bad);
                free(blk[s][f]);
            }
    }
}

/* Every pool size class asked for every alignment up to a page: several objects of each
 * (the second and third are where a class whose size is not a multiple of the
 * alignment would go wrong), all aligned, fully writable, not overlapping. */
static void test_aligned_every_size_class(void)
{
    enum { K = 3 };
    for (size_t a = 16; a <= 4096; a <<= 1) {
        for (size_t n = 1; n <= 33000; n += (n < 1024 ? 31 : 389)) {
            void *v[K];
            size_t u[K];
            for (int k = 0; k < K; k++) {
                v[k] = (k == 1) ? aligned_alloc(a, pt_size(n)) : memalign(a, pt_size(n));
                if (!v[k] || !is_aligned(v[k], a)) {
                    FAILF("%s(%zu, %zu) #%d -> %p", k == 1 ? "aligned_alloc" : "memalign", a, n,
                          k, v[k]);
                    u[k] = 0;
                    continue;
                }
                u[k] = malloc_usable_size(v[k]);
                CHECK(u[k] >= n, "memalign(%zu, %zu): usable %zu", a, n, u[k]);
                fill(v[k], u[k], (unsigned)(n + (size_t)k));
            }
            for (int k = 0; k < K; k++) {
                if (v[k] && u[k])
                    CHECK(find_bad(v[k], u[k], (unsigned)(n + (size_t)k)) < 0,
                          "memalign(%zu, %zu) #%d overwritten by a neighbour", a, n, k);
                free(v[k]);
            }
            if (atomic_load(&pt_failures) > 20)
                return;
        }
    }
}

static void test_valloc_pvalloc_page_aligned(void)
{
    static const size_t sizes[] = {0, 1, 100, 4096, 4097, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = valloc(pt_size(n));
        CHECK(p && is_aligned(p, page_size), "valloc(%zu) -> %p", n, p);
        if (p) {
            CHECK(malloc_usable_size(p) >= n, "valloc(%zu): usable %zu", n, malloc_usable_size(p));
            memset(p, 0x5c, n);
            free(p);
        }
    }
    static const size_t psizes[] = {1, 100, 4097, 10000};
    for (size_t i = 0; i < sizeof psizes / sizeof psizes[0]; i++) {
        size_t n = psizes[i];
        size_t want = (n + page_size - 1) / page_size * page_size;
        void *p = pvalloc(pt_size(n));
        CHECK(p && is_aligned(p, page_size), "pvalloc(%zu) -> %p", n, p);
        if (p) {
            size_t u = malloc_usable_size(p);
            CHECK(u >= want, "pvalloc(%zu): usable %zu, expected >= %zu", n, u, want);
            memset(p, 0x5d, u);
            free(p);
        }
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

    /* realloc to an impossible size fails and leaves the block where it was. */
    static const size_t sizes[] = {40, 20000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = malloc(n);
        fill(p, n, 11);
        errno = 0;
        void *q = realloc(pt_opaque(p), pt_size(SIZE_MAX));
        CHECK(q == NULL && errno == ENOMEM, "realloc(%zu-byte block, SIZE_MAX): %p errno %d", n, q,
              errno);
        errno = 0;
        q = realloc(pt_opaque(p), pt_size(SIZE_MAX / 2 + 1));
        CHECK(q == NULL && errno == ENOMEM, "realloc(%zu-byte block, SIZE_MAX/2+1): %p errno %d", n,
              q, errno);
        CHECK(find_bad(p, n, 11) < 0, "failed realloc damaged the %zu-byte block", n);
        CHECK(malloc_usable_size(p) >= n, "failed realloc shrank the block");
        free(p);
    }
}

static void test_usable_size_is_writable(void)
{
    enum { RING = 8 };
    void *ring[RING] = {0};
    size_t used[RING] = {0};
    unsigned tag[RING] = {0};
    unsigned k = 0;
    for (size_t n = 0; n <= 70000; n += (n < 2100 ? 1 : 13), k++) {
        unsigned slot = k % RING;
        if (ring[slot]) {
            long bad = find_bad(ring[slot], used[slot], tag[slot]);
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
        CHECK(n < 16 || is_aligned(p, 16), "malloc(%zu) = %p, not 16-byte aligned", n, p);
        CHECK(n < 8 || is_aligned(p, 8), "malloc(%zu) = %p, not 8-byte aligned", n, p);
        expect_owner(p, n, "malloc");
        ring[slot] = p;
        used[slot] = u;
        tag[slot] = k;
        fill(p, u, k);
        if (atomic_load(&pt_failures) > 20)
            break;
    }
    for (unsigned i = 0; i < RING; i++) {
        if (!ring[i])
            continue;
        CHECK(find_bad(ring[i], used[i], tag[i]) < 0, "block of usable size %zu overwritten",
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

static void test_realloc_keeps_content_across_pool_boundary(void)
{
    static const size_t up[] = {16, 30000, 200000, 3000000, 24};
    static const size_t down[] = {3000000, 200000, 30000, 16, 40000, 8, 33000, 32768};
    const size_t *chains[] = {up, down};
    size_t lens[] = {sizeof up / sizeof up[0], sizeof down / sizeof down[0]};
    for (int c = 0; c < 2; c++) {
        const size_t *ch = chains[c];
        size_t old = ch[0];
        unsigned char *p = malloc(old);
        fill(p, old, 100);
        expect_owner(p, old, "realloc chain start");
        for (size_t s = 1; s < lens[c]; s++) {
            size_t n = ch[s];
            unsigned char *q = realloc(p, n);
            CHECK(q != NULL, "realloc %zu -> %zu failed", old, n);
            if (!q)
                break;
            size_t keep = old < n ? old : n;
            long bad = find_bad(q, keep, (unsigned)(100 + s - 1));
            CHECK(bad < 0, "realloc %zu -> %zu: byte %ld of the kept %zu bytes changed", old, n,
                  bad, keep);
            CHECK(malloc_usable_size(q) >= n, "realloc %zu -> %zu: usable %zu", old, n,
                  malloc_usable_size(q));
            if (n > old) /* growing past the pool boundary lands where malloc(n) would */
                expect_owner(q, n, "realloc growth");
            fill(q, n, (unsigned)(100 + s));
            p = q;
            old = n;
        }
        free(p);
    }
    /* An aligned block moves through realloc like any other. */
    unsigned char *p = memalign(4096, 100);
    fill(p, 100, 7);
    unsigned char *q = realloc(p, 50000);
    CHECK(q && find_bad(q, 100, 7) < 0, "realloc(memalign(4096,100), 50000) lost content");
    fill(q, 50000, 8);
    p = realloc(q, 10);
    CHECK(p && find_bad(p, 10, 8) < 0, "realloc(.., 10) lost content");
    free(p);
}

static void test_realloc_within_class_keeps_pointer(void)
{
    static const size_t sizes[] = {1, 16, 40, 100, 1000, 5000, 20000, 32768, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = malloc(n);
        size_t u = malloc_usable_size(p);
        fill(p, u, 21);
        uintptr_t before = pt_addr(p);
        void *q = realloc(p, pt_size(u));
        CHECK(pt_addr(q) == before, "realloc(malloc(%zu), usable %zu) moved %#lx -> %p", n, u,
              (unsigned long)before, q);
        CHECK(q && find_bad(q, u, 21) < 0, "realloc to usable size changed content");
        free(q);
    }
    if (pt_preloaded() && small_pooled) {
        void *p = malloc(40);
        uintptr_t before = pt_addr(p);
        CHECK(pt_owns(p) == 1, "malloc(40) not owned by poolalloc");
        void *q = realloc(p, 48);
        CHECK(pt_addr(q) == before, "realloc(malloc(40), 48) moved %#lx -> %p",
              (unsigned long)before, q);
        free(q);
    }
}

static void test_ownership_routing(void)
{
    int local = 0;
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
        CHECK(pt_owns(&page_size) == 0, "poolalloc_owns(static address) != 0");
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
        fill(g, 100, 31);
        if (i == 0) {
            free(g);
        } else {
            size_t n = i == 1 ? 50 : 50000;
            unsigned char *h = realloc(g, n);
            CHECK(h && find_bad(h, n < 100 ? n : 100, 31) < 0, "realloc(glibc block, %zu)", n);
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
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    const char *max_env = getenv("POOLALLOC_MAX_SIZE");
    default_max = max_env ? 0 : 32768;
    small_pooled = !max_env || env_size(max_env) >= 64; /* invalid = default = pooled */

    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
#define T(f) {#f, f}
        T(test_malloc_zero_returns_distinct_pointers),
        T(test_free_null_and_errno),
        T(test_realloc_null_acts_as_malloc),
        T(test_realloc_zero_frees),
        T(test_calloc_overflow_is_enomem),
        T(test_reallocarray_overflow_keeps_block),
        T(test_posix_memalign_bad_alignment_is_einval),
        T(test_memalign_rounds_alignment_up),
        T(test_aligned_alloc_rounds_a_bad_alignment_up),
        T(test_aligned_variants_size_zero),
        T(test_alignment_grid_writable),
        T(test_aligned_every_size_class),
        T(test_valloc_pvalloc_page_aligned),
        T(test_huge_requests_fail_with_enomem),
        T(test_usable_size_is_writable),
        T(test_calloc_zeroes_reused_blocks),
        T(test_realloc_keeps_content_across_pool_boundary),
        T(test_realloc_within_class_keeps_pointer),
        T(test_ownership_routing),
        T(test_libc_internal_allocations),
#undef T
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = atomic_load(&pt_failures);
        tests[i].fn();
        int after = atomic_load(&pt_failures);
        printf("%s %s\n", after == before ? "ok  " : "FAIL", tests[i].name);
        if (after != before)
            fprintf(stderr, "  in %s\n", tests[i].name);
    }
    return pt_finish(TEST);
}
