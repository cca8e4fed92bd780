/* SPDX-License-Identifier: MIT */
/*
 * aligned_requests_answer_as_glibc_does — posix_memalign, memalign, aligned_alloc, valloc
 * and pvalloc, as glibc 2.36 answers them: a bad alignment is EINVAL (posix_memalign) or
 * rounded up to a power of two (memalign, aligned_alloc), size 0 still gives an aligned
 * block, and every block of every size class at every alignment is aligned, as usable as
 * malloc_usable_size says, and overlaps no other.
 *
 * Every check holds on plain glibc too (the runner proves it with the [glibc] run).
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>

#define TEST "aligned_requests_answer_as_glibc_does"

static size_t page_size;

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
        CHECK(p && pt_is_aligned(p, want), "memalign(%zu, 100) -> %p, expected %zu-aligned", odd[i],
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
            CHECK(pt_is_aligned(p, next_pow2(bad[i] ? bad[i] : 1)), "aligned_alloc(%zu) gave %p",
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
        CHECK(p && pt_is_aligned(p, a), "memalign(%zu, 0) -> %p", a, p);
        free(p);
        p = aligned_alloc(a, pt_size(0));
        CHECK(p && pt_is_aligned(p, a), "aligned_alloc(%zu, 0) -> %p", a, p);
        free(p);
        p = NULL;
        int rc = posix_memalign(&p, a, pt_size(0));
        CHECK(rc == 0 && p && pt_is_aligned(p, a), "posix_memalign(%zu, 0) -> %d %p", a, rc, p);
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
                CHECK(pt_is_aligned(p, a), "%s(%zu, %zu) returned %p", fn[f], a, n, p);
                size_t u = malloc_usable_size(p);
                CHECK(u >= n, "%s(%zu, %zu): usable %zu", fn[f], a, n, u);
                len[s][f] = u;
                pt_fill(p, u, (unsigned)(s * 3 + f));
            }
        }
        /* All 21 blocks were live together: any overlap shows up as a changed byte. */
        for (size_t s = 0; s < NS; s++)
            for (int f = 0; f < 3; f++) {
                if (!blk[s][f])
                    continue;
                long bad = pt_find_bad(blk[s][f], len[s][f], (unsigned)(s * 3 + f));
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
                if (!v[k] || !pt_is_aligned(v[k], a)) {
                    FAILF("%s(%zu, %zu) #%d -> %p", k == 1 ? "aligned_alloc" : "memalign", a, n,
                          k, v[k]);
                    u[k] = 0;
                    continue;
                }
                u[k] = malloc_usable_size(v[k]);
                CHECK(u[k] >= n, "memalign(%zu, %zu): usable %zu", a, n, u[k]);
                pt_fill(v[k], u[k], (unsigned)(n + (size_t)k));
            }
            for (int k = 0; k < K; k++) {
                if (v[k] && u[k])
                    CHECK(pt_find_bad(v[k], u[k], (unsigned)(n + (size_t)k)) < 0,
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
        CHECK(p && pt_is_aligned(p, page_size), "valloc(%zu) -> %p", n, p);
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
        CHECK(p && pt_is_aligned(p, page_size), "pvalloc(%zu) -> %p", n, p);
        if (p) {
            size_t u = malloc_usable_size(p);
            CHECK(u >= want, "pvalloc(%zu): usable %zu, expected >= %zu", n, u, want);
            memset(p, 0x5d, u);
            free(p);
        }
    }
}

int main(void)
{
    pt_init(TEST);
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    static const struct pt_case cases[] = {
        PT_CASE(test_posix_memalign_bad_alignment_is_einval),
        PT_CASE(test_memalign_rounds_alignment_up),
        PT_CASE(test_aligned_alloc_rounds_a_bad_alignment_up),
        PT_CASE(test_aligned_variants_size_zero),
        PT_CASE(test_alignment_grid_writable),
        PT_CASE(test_aligned_every_size_class),
        PT_CASE(test_valloc_pvalloc_page_aligned),
    };
    pt_run_cases(cases, sizeof cases / sizeof cases[0]);
    return pt_finish(TEST);
}
