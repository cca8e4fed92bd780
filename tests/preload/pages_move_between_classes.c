/* SPDX-License-Identifier: MIT */
/*
 * pages_move_between_classes — memory one size class freed serves another class's
 * growth at once, without waiting for a flush to give it back to the OS.
 *
 * Phase 1 fills 6 MiB with objects of 1,040 bytes, every byte written, and frees
 * them all. Phase 2 then asks for 6 MiB in objects of 4,368 bytes (another class,
 * with spans of the same size): half with malloc, each filled with its own pattern,
 * half with calloc, each checked to be all zero. Every phase-2 object must still hold
 * its pattern at the end, and the process's RSS after phase 2 must stay within 3 MiB
 * of its RSS before phase 1's frees: the first class's empty spans hand their pages to
 * the second (the kernel moves them: core/central_move.c, central_move_in; a CPU cache keeps
 * up to 1 MiB of the freed objects, whose spans stay). Without that, the second class
 * faults in 6 MiB of fresh pages while the first class's pages wait for a flush; the
 * runner turns the flush off for this test (POOLALLOC_FLUSH_MS=0), so nothing else
 * can give them back in between. (6 MiB: up to 8 MiB may move per flush generation.) glibc passes too: it gives the freed
 * chunks back (they all reach the top of its heap) and takes them again.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <sys/mman.h>

#define TEST "pages_move_between_classes"

#define MIB ((size_t)1 << 20)
#define PHASE_BYTES (6 * MIB)
#define SLACK (3 * MIB)
#define SMALL 1040
#define BIG 4368

static void **table(size_t n)
{
    void *t = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(t != MAP_FAILED, "mmap of the pointer table: %s", strerror(errno));
    return t;
}

int main(void)
{
    pt_init(TEST);
    size_t n1 = PHASE_BYTES / SMALL, n2 = PHASE_BYTES / BIG;
    void **a = table(n1), **b = table(n2);
    size_t rss0 = pt_rss_bytes();

    for (size_t i = 0; i < n1; i++) {
        a[i] = malloc(SMALL);
        CHECK(a[i], "malloc(%d) #%zu: NULL", SMALL, i);
        memset(a[i], 0xa5, SMALL);
    }
    size_t rss1 = pt_rss_bytes();
    CHECK(rss1 >= rss0 + PHASE_BYTES * 3 / 4, "RSS grew by only %.1f MiB for %zu MiB written",
          ((double)rss1 - (double)rss0) / (double)MIB, PHASE_BYTES / MIB);
    for (size_t i = 0; i < n1; i++)
        free(a[i]);

    for (size_t i = 0; i < n2; i++) {
        if (i % 2 == 0) {
            b[i] = malloc(BIG);
            CHECK(b[i], "malloc(%d) #%zu: NULL", BIG, i);
            pt_fill(b[i], BIG, (unsigned)i);
        } else {
            b[i] = calloc(1, BIG);
            CHECK(b[i], "calloc(1, %d) #%zu: NULL", BIG, i);
            const unsigned char *c = b[i];
            size_t k = 0;
            while (k < BIG && c[k] == 0)
                k++;
            CHECK(k == BIG, "calloc(1, %d) #%zu: byte %zu is 0x%02x, not 0", BIG, i, k,
                  k < BIG ? c[k] : 0);
            pt_fill(b[i], BIG, (unsigned)i);
        }
    }
    size_t rss2 = pt_rss_bytes();
    for (size_t i = 0; i < n2; i++) {
        long bad = pt_find_bad(b[i], BIG, (unsigned)i);
        CHECK(bad < 0, "object #%zu of %d bytes changed at byte %ld", i, BIG, bad);
    }
    printf("%s: RSS with %zu MiB of %d-byte objects %zu MiB; after freeing them and "
           "taking %zu MiB of %d-byte ones %zu MiB (%+.1f MiB)\n",
           TEST, PHASE_BYTES / MIB, SMALL, rss1 / MIB, PHASE_BYTES / MIB, BIG, rss2 / MIB,
           ((double)rss2 - (double)rss1) / (double)MIB);
    CHECK(rss2 <= rss1 + SLACK,
          "RSS grew by %.1f MiB while %zu MiB freed by another class was idle (limit %zu MiB)",
          ((double)rss2 - (double)rss1) / (double)MIB, PHASE_BYTES / MIB, SLACK / MIB);
    for (size_t i = 0; i < n2; i++)
        free(b[i]);
    return pt_finish(TEST);
}
