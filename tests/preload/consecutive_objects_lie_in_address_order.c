/* SPDX-License-Identifier: MIT */
/*
 * consecutive_objects_lie_in_address_order — objects of one size that a thread makes
 * one after another lie one after another in memory, lowest address first, as glibc's
 * do: a program that walks them in the order it made them (python's collector, a list
 * built in a loop) reads memory forwards. Under poolalloc a refill's batch is stacked
 * so that it comes out in address order (core/cache_batch.c); stacked the other way, a
 * batch came out highest address first and python3 ran 25 % slower.
 *
 * Each size is checked on fresh objects (nothing of that size freed before): at least
 * 3 in 4 of the steps between consecutive objects go up. The runner proves the check on
 * plain glibc ([glibc]).
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#define TEST "consecutive_objects_lie_in_address_order"
#define N 64

static void test_fresh_objects_come_in_address_order(void)
{
    static const size_t sizes[] = {16, 48, 64, 200, 1000, 3000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        void *p[N];
        for (unsigned i = 0; i < N; i++) {
            p[i] = malloc(n);
            CHECK(p[i] != NULL, "malloc(%zu) failed", n);
            if (p[i])
                memset(p[i], (int)i, n);
        }
        unsigned up = 0;
        for (unsigned i = 1; i < N; i++)
            up += pt_addr(p[i]) > pt_addr(p[i - 1]);
        CHECK(up * 4 >= (N - 1) * 3,
              "%zu-byte objects made one after another: %u of %u steps go up (%p, %p, %p, ...)",
              n, up, N - 1, p[0], p[1], p[2]);
        for (unsigned i = 0; i < N; i++)
            free(p[i]);
    }
}

int main(void)
{
    pt_init(TEST);
    static const struct pt_case cases[] = {
        PT_CASE(test_fresh_objects_come_in_address_order),
    };
    pt_run_cases(cases, sizeof cases / sizeof cases[0]);
    return pt_finish(TEST);
}
