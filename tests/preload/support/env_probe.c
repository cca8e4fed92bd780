/* SPDX-License-Identifier: MIT */
/*
 * env_probe — a small deterministic program for env_values_handled.sh.
 *
 * It allocates and checks a few thousand blocks, prints a digest of what it computed
 * on stdout (the same on every run, preloaded or not) and, with --expect-max N, checks
 * under poolalloc that a request of N bytes is pooled and one of N+1 is not: that is
 * how the script sees which POOLALLOC_MAX_SIZE the allocator actually uses.
 * Exit 0 when all held, 3 when the ownership check failed, 1 on broken memory.
 * Writes nothing to stderr unless something failed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    size_t expect_max = 0;
    if (argc == 3 && strcmp(argv[1], "--expect-max") == 0)
        expect_max = strtoull(argv[2], NULL, 0);

    uint64_t digest = 1469598103934665603ull;
    enum { N = 4000 };
    static unsigned char *blocks[N];
    static size_t lens[N];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = (size_t)((i * 2654435761u + (unsigned)round) % 3000) + 1;
            if (i % 97 == 0)
                n += 50000;
            unsigned char *p = realloc(blocks[i], n);
            if (!p) {
                fprintf(stderr, "env_probe: allocation of %zu bytes failed\n", n);
                return 1;
            }
            size_t keep = lens[i] < n ? lens[i] : n;
            for (size_t k = 0; k < keep; k++)
                if (p[k] != (unsigned char)(i + k)) {
                    fprintf(stderr, "env_probe: realloc lost content\n");
                    return 1;
                }
            for (size_t k = 0; k < n; k++)
                p[k] = (unsigned char)(i + k);
            blocks[i] = p;
            lens[i] = n;
            digest = (digest ^ n) * 1099511628211ull;
        }
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    printf("env_probe: %d blocks x 5 rounds, digest %016llx\n", N, (unsigned long long)digest);

    int (*owns)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "poolalloc_owns");
    if (expect_max && owns) {
        /* Four tries for the largest pooled size: a request that sampling picks
         * (on by default) is served by the C library by design, and four in a row
         * at the default interval are picked with a probability below 1e-7. */
        int oa = 0, ob = 0;
        for (int i = 0; i < 4 && oa != 1; i++) {
            void *a = malloc(expect_max);
            oa = owns(a);
            free(a);
        }
        void *b = malloc(expect_max + 1);
        ob = owns(b);
        free(b);
        if (oa != 1 || ob != 0) {
            fprintf(stderr,
                    "env_probe: expected max pooled size %zu: poolalloc_owns(malloc(%zu)) = %d, "
                    "poolalloc_owns(malloc(%zu)) = %d\n",
                    expect_max, expect_max, oa, expect_max + 1, ob);
            return 3;
        }
    }
    return 0;
}
