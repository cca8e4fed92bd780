/* SPDX-License-Identifier: MIT */
/*
 * pool_exhaustion_falls_back — more live blocks of one size class than the pools can
 * hold (4.5 GiB of 32 KiB blocks; the pools reserve a fixed slice of address space
 * per class) keep being served: when a class is full, requests fall through to glibc,
 * every pointer is distinct and usable, frees and reallocs go back to the right owner,
 * and once the blocks are freed the class serves again.
 *
 * The blocks are not touched beyond their first and last byte (pages are only
 * reserved), so the run stays cheap; the pointer table is mmap'ed.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>
#include <sys/mman.h>

#define TEST "pool_exhaustion_falls_back"

#define BLOCK ((size_t)32768)
#define TOTAL ((size_t)9 << 29) /* 4.5 GiB */

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    pt_init(TEST);
    size_t count = TOTAL / BLOCK;
    size_t table = count * sizeof(void *);
    unsigned char **v = mmap(NULL, table, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0);
    uintptr_t *sorted = mmap(NULL, table, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0);
    if (v == MAP_FAILED || sorted == MAP_FAILED) {
        FAILF("mmap of the pointer tables failed");
        return pt_finish(TEST);
    }
    size_t owned = 0, got = 0;
    for (size_t i = 0; i < count; i++) {
        v[i] = malloc(BLOCK);
        if (!v[i]) {
            FAILF("malloc(%zu) #%zu returned NULL (errno %d): a full class must fall back", BLOCK,
                  i, pt_errno());
            break;
        }
        got++;
        v[i][0] = (unsigned char)i;
        v[i][BLOCK - 1] = (unsigned char)(i >> 8);
        owned += pt_owns(v[i]) == 1;
        sorted[i] = pt_addr(v[i]);
    }
    printf("%zu blocks of %zu bytes live, %zu from the pools, %zu passed through\n", got, BLOCK,
           owned, got - owned);

    qsort(sorted, got, sizeof *sorted, cmp_addr);
    for (size_t i = 1; i < got; i++)
        if (sorted[i] - sorted[i - 1] < BLOCK) {
            FAILF("blocks at %#lx and %#lx overlap", (unsigned long)sorted[i - 1],
                  (unsigned long)sorted[i]);
            break;
        }
    for (size_t i = 0; i < got; i++) {
        if (v[i][0] != (unsigned char)i || v[i][BLOCK - 1] != (unsigned char)(i >> 8)) {
            FAILF("block %zu lost its marks", i);
            break;
        }
        if (i % 4096 == 0)
            CHECK(malloc_usable_size(v[i]) >= BLOCK, "usable size %zu",
                  malloc_usable_size(v[i]));
    }

    /* While the class is full: realloc an owned small block into it, and back. */
    unsigned char *r = malloc(1000);
    memset(r, 0x42, 1000);
    unsigned char *r2 = realloc(r, BLOCK);
    CHECK(r2 && r2[0] == 0x42 && r2[999] == 0x42, "realloc 1000 -> %zu with the class full", BLOCK);
    if (r2) {
        memset(r2, 0x43, BLOCK);
        r = realloc(r2, 100);
        CHECK(r && r[0] == 0x43 && r[99] == 0x43, "realloc back to 100 bytes");
        free(r);
    }

    /* Free in an interleaved order: pooled and passed-through blocks alternate. */
    for (size_t i = 0; i < got; i += 2)
        free(v[i]);
    for (size_t i = 1; i < got; i += 2)
        free(v[i]);
    munmap(v, table);
    munmap(sorted, table);

    void *again = malloc(BLOCK);
    CHECK(again != NULL, "malloc after freeing everything failed");
    if (pt_preloaded())
        CHECK(pt_owns(again) == 1, "after freeing, the class does not serve from the pools again");
    free(again);
    return pt_finish(TEST);
}
