/* SPDX-License-Identifier: MIT */
/*
 * realloc_keeps_content_and_frees_at_zero — realloc and reallocarray, as glibc 2.36
 * answers them: realloc(NULL, n) is malloc(n), realloc(p, 0) frees p and returns NULL,
 * content survives every move up and down across the pools' largest size, and a request
 * that cannot be met (overflow, impossible size) fails with ENOMEM and leaves the old
 * block as it was.
 *
 * Every check holds on plain glibc too (the runner proves it with the [glibc] run),
 * except poolalloc's own contract, checked only when poolalloc_owns() exists: a block
 * that realloc moves lands in the pools at or below 32 KiB and in glibc's heap above
 * (where glibc can grow it in place), realloc(NULL, n) where malloc(n) would, and
 * realloc inside one size class keeps the pointer.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>

#define TEST "realloc_keeps_content_and_frees_at_zero"

static void test_realloc_null_acts_as_malloc(void)
{
    static const size_t sizes[] = {0, 1, 24, 100, 4096, 32768, 33000, 262144, 262145, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = realloc(NULL, pt_size(n));
        CHECK(p != NULL, "realloc(NULL, %zu) returned NULL", n);
        if (!p)
            continue;
        CHECK(malloc_usable_size(p) >= n, "realloc(NULL, %zu): usable %zu", n,
              malloc_usable_size(p));
        pt_fill(p, n, 3);
        CHECK(pt_find_bad(p, n, 3) < 0, "realloc(NULL, %zu): content lost", n);
        pt_expect_owner(p, n, "realloc(NULL, n)");
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

static void test_reallocarray_overflow_keeps_block(void)
{
    void *p = malloc(64);
    pt_fill(p, 64, 9);
    errno = 0;
    void *q = reallocarray(pt_opaque(p), pt_size(SIZE_MAX / 2), pt_size(3));
    CHECK(q == NULL && errno == ENOMEM, "reallocarray overflow: %p errno %d, expected NULL/ENOMEM",
          q, errno);
    CHECK(pt_find_bad(p, 64, 9) < 0, "reallocarray overflow damaged the old block");
    q = reallocarray(p, pt_size(100), pt_size(50));
    CHECK(q != NULL, "reallocarray(p, 100, 50) failed");
    if (q) {
        CHECK(pt_find_bad(q, 64, 9) < 0, "reallocarray(p, 100, 50) lost the content");
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

/* realloc to an impossible size fails and leaves the block where it was. */
static void test_realloc_to_impossible_size_keeps_block(void)
{
    static const size_t sizes[] = {40, 20000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = malloc(n);
        pt_fill(p, n, 11);
        errno = 0;
        void *q = realloc(pt_opaque(p), pt_size(SIZE_MAX));
        CHECK(q == NULL && errno == ENOMEM, "realloc(%zu-byte block, SIZE_MAX): %p errno %d", n, q,
              errno);
        errno = 0;
        q = realloc(pt_opaque(p), pt_size(SIZE_MAX / 2 + 1));
        CHECK(q == NULL && errno == ENOMEM, "realloc(%zu-byte block, SIZE_MAX/2+1): %p errno %d", n,
              q, errno);
        CHECK(pt_find_bad(p, n, 11) < 0, "failed realloc damaged the %zu-byte block", n);
        CHECK(malloc_usable_size(p) >= n, "failed realloc shrank the block");
        free(p);
    }
}

static void test_realloc_keeps_content_across_pool_boundary(void)
{
    static const size_t up[] = {16, 30000, 200000, 270000, 3000000, 24};
    static const size_t down[] = {3000000, 270000, 200000, 30000, 16, 40000, 8, 33000, 32768};
    const size_t *chains[] = {up, down};
    size_t lens[] = {sizeof up / sizeof up[0], sizeof down / sizeof down[0]};
    for (int c = 0; c < 2; c++) {
        const size_t *ch = chains[c];
        size_t old = ch[0];
        unsigned char *p = malloc(old);
        pt_fill(p, old, 100);
        pt_expect_owner(p, old, "realloc chain start");
        for (size_t s = 1; s < lens[c]; s++) {
            size_t n = ch[s];
            unsigned char *q = realloc(p, n);
            CHECK(q != NULL, "realloc %zu -> %zu failed", old, n);
            if (!q)
                break;
            size_t keep = old < n ? old : n;
            long bad = pt_find_bad(q, keep, (unsigned)(100 + s - 1));
            CHECK(bad < 0, "realloc %zu -> %zu: byte %ld of the kept %zu bytes changed", old, n,
                  bad, keep);
            CHECK(malloc_usable_size(q) >= n, "realloc %zu -> %zu: usable %zu", old, n,
                  malloc_usable_size(q));
            /* No step stays in its class: each lands in the pools at or below
             * 32 KiB and in glibc's heap above it. */
            pt_expect_realloc_owner(q, n, n > old ? "realloc growth" : "realloc shrink");
            pt_fill(q, n, (unsigned)(100 + s));
            p = q;
            old = n;
        }
        free(p);
    }
    /* An aligned block moves through realloc like any other. */
    unsigned char *p = memalign(4096, 100);
    pt_fill(p, 100, 7);
    unsigned char *q = realloc(p, 50000);
    CHECK(q && pt_find_bad(q, 100, 7) < 0, "realloc(memalign(4096,100), 50000) lost content");
    pt_fill(q, 50000, 8);
    p = realloc(q, 10);
    CHECK(p && pt_find_bad(p, 10, 8) < 0, "realloc(.., 10) lost content");
    free(p);
}

static void test_realloc_within_class_keeps_pointer(void)
{
    static const size_t sizes[] = {1, 16, 40, 100, 1000, 5000, 20000, 32768, 100000, 200000, 262144};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = malloc(n);
        size_t u = malloc_usable_size(p);
        pt_fill(p, u, 21);
        uintptr_t before = pt_addr(p);
        void *q = realloc(p, pt_size(u));
        CHECK(pt_addr(q) == before, "realloc(malloc(%zu), usable %zu) moved %#lx -> %p", n, u,
              (unsigned long)before, q);
        CHECK(q && pt_find_bad(q, u, 21) < 0, "realloc to usable size changed content");
        free(q);
    }
    if (pt_preloaded() && pt_small_pooled()) {
        void *p = malloc(40);
        uintptr_t before = pt_addr(p);
        CHECK(pt_owns(p) == 1, "malloc(40) not owned by poolalloc");
        void *q = realloc(p, 48);
        CHECK(pt_addr(q) == before, "realloc(malloc(40), 48) moved %#lx -> %p",
              (unsigned long)before, q);
        free(q);
    }
}

/* poolalloc's contract: a glibc block grown by small steps gets room ahead
 * (an eighth of the request), and the steps that fit are answered with the
 * block itself. Content survives every step. */
static void test_small_steps_get_room(void)
{
    size_t n = 40000;
    unsigned char *p = malloc(pt_size(n));
    CHECK(p != NULL, "malloc(%zu) failed", n);
    if (!p)
        return;
    pt_fill(p, n, 5);
    unsigned moves = 0, calls = 0;
    for (; n < 200000; n += 64, calls++) {
        unsigned char *q = realloc(p, pt_size(n + 64));
        CHECK(q != NULL, "realloc(.., %zu) failed", n + 64);
        if (!q)
            break;
        if (pt_find_bad(q, n, 5) >= 0) {
            FAILF("realloc %zu -> %zu lost content", n, n + 64);
            free(q);
            return;
        }
        for (size_t i = n; i < n + 64; i++)
            q[i] = pt_pat(5, i);
        moves += q != p;
        if (pt_preloaded() && !pt_owns(q) && q != p)
            CHECK(malloc_usable_size(q) >= (n + 64) + (n + 64) / 8,
                  "realloc(.., %zu) by a small step: usable %zu, no room ahead", n + 64,
                  malloc_usable_size(q));
        p = q;
    }
    CHECK(pt_find_bad(p, n, 5) < 0, "content lost over %u small steps", calls);
    if (pt_preloaded())
        CHECK(moves <= 20, "%u small steps moved the block %u times", calls, moves);
    free(p);
}

int main(void)
{
    pt_init(TEST);
    static const struct pt_case cases[] = {
        PT_CASE(test_realloc_null_acts_as_malloc),
        PT_CASE(test_realloc_zero_frees),
        PT_CASE(test_reallocarray_overflow_keeps_block),
        PT_CASE(test_realloc_to_impossible_size_keeps_block),
        PT_CASE(test_realloc_keeps_content_across_pool_boundary),
        PT_CASE(test_realloc_within_class_keeps_pointer),
        PT_CASE(test_small_steps_get_room),
    };
    pt_run_cases(cases, sizeof cases / sizeof cases[0]);
    return pt_finish(TEST);
}
