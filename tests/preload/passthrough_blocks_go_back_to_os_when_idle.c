/* SPDX-License-Identifier: MIT */
/*
 * passthrough_blocks_go_back_to_os_when_idle — blocks above POOLALLOC_MAX_SIZE pass
 * through to glibc, whose heap poolalloc sets up for them (preload/libc_heap.h): blocks
 * up to 32 MiB come from glibc's heap instead of one mapping each, and once the program
 * has freed them and stopped freeing big blocks for a flush period, glibc's free memory
 * goes back to the OS.
 *
 * 64 blocks of 512 KiB are made and touched (32 MiB, proved resident), one more is kept
 * after them, then the 64 are freed; the test waits until VmRSS is back within 8 MiB of
 * where it started (the wait ends at the event; its cap is a hang guard) and checks that
 * it got there. On plain glibc ([glibc]) each block is a mapping of its own and goes back
 * at its free. While the blocks are held, poolalloc's contract: mallinfo2's hblks (glibc's
 * mapped blocks) did not grow by one per block, unless the user set glibc's own mmap
 * threshold: then glibc's heap is left as configured, and every block is a mapping. The
 * user sets it in the environment ([user-tuned], MALLOC_MMAP_THRESHOLD_=131072) or by
 * mallopt (PT_MALLOPT=1: the test calls mallopt(M_MMAP_THRESHOLD, 131072) first), after
 * the pools started ([mallopt]) or before ([mallopt-late-start]: the pools start at the
 * 3,000th request, which the test makes after its mallopt; they leave glibc's heap
 * alone). A mallopt of something else (PT_MALLOPT_OTHER=1: M_ARENA_MAX, before the start,
 * [mallopt-other-late-start]) leaves poolalloc's setting as it is. [thread-only]
 * (PT_THREAD_ONLY=1): the pools never start (POOLALLOC_START_ALLOCS), as in a program
 * that makes few requests, but the process lives past POOLALLOC_START_MS, so the flush
 * thread runs: glibc's heap is set up and trimmed all the same, and the pools are
 * checked not to serve the test's requests.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <malloc.h>

#define TEST "passthrough_blocks_go_back_to_os_when_idle"

#define MIB ((size_t)1 << 20)
#define NBLOCKS 64
#define BLOCK (512 * 1024)
#define SLACK (8 * MIB)
#define CAP_S 30.0

static void test_freed_blocks_leave_when_idle(void)
{
    static void *block[NBLOCKS];
    int user_set = getenv("MALLOC_MMAP_THRESHOLD_") || getenv("PT_MALLOPT");
    if (getenv("PT_MALLOPT"))
        CHECK(mallopt(M_MMAP_THRESHOLD, 131072) == 1, "mallopt(M_MMAP_THRESHOLD) failed");
    if (getenv("PT_MALLOPT_OTHER"))
        CHECK(mallopt(M_ARENA_MAX, 4) == 1, "mallopt(M_ARENA_MAX) failed");
    /* [mallopt-late-start]: the pools start at the 3,000th request, here. */
    for (int i = 0; i < 4000; i++)
        free(pt_opaque(malloc(pt_size(64))));
    if (getenv("PT_THREAD_ONLY") && pt_preloaded()) {
        /* The thread starts at the first request after START_MS: requests
         * until it is there (the event; the cap is a hang guard). */
        double t = pt_now();
        while (pt_status_kib("Threads") < 2 && pt_now() - t < CAP_S) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
            free(pt_opaque(malloc(pt_size(64))));
        }
        CHECK(pt_status_kib("Threads") >= 2, "no flush thread %.0f s after the start",
              pt_now() - t);
        void *p = malloc(pt_size(64));
        CHECK(pt_owns(p) == 0, "the pools started, though POOLALLOC_START_ALLOCS forbids it");
        free(p);
    }
    size_t rss0 = pt_rss_bytes();
    size_t hblks0 = mallinfo2().hblks;
    for (int i = 0; i < NBLOCKS; i++) {
        block[i] = malloc(pt_size(BLOCK));
        CHECK(block[i] != NULL, "malloc(%d) failed", BLOCK);
        if (!block[i])
            return;
        memset(block[i], i + 1, BLOCK);
    }
    void *keep = malloc(pt_size(300000));   /* after them in glibc's heap: no top to trim */
    CHECK(keep != NULL, "malloc(300000) failed");
    if (keep)
        memset(keep, 1, 300000);
    size_t held = pt_rss_bytes();
    CHECK(held >= rss0 + NBLOCKS * (size_t)BLOCK * 3 / 4,
          "%d blocks of %d bytes touched, yet VmRSS grew only %zu KiB", NBLOCKS, BLOCK,
          (held - rss0) / 1024);
    if (pt_preloaded()) {
        size_t mapped = mallinfo2().hblks - hblks0;
        if (user_set)
            CHECK(mapped >= NBLOCKS, "the user's mmap threshold was not honoured: "
                                     "%zu of %d blocks mapped", mapped, NBLOCKS);
        else
            CHECK(mapped < NBLOCKS / 2, "%zu of %d blocks of %d bytes were mapped one by one",
                  mapped, NBLOCKS, BLOCK);
    }
    for (int i = 0; i < NBLOCKS; i++)
        free(block[i]);
    double t0 = pt_now();
    size_t rss = pt_rss_bytes();
    while (rss > rss0 + SLACK && pt_now() - t0 < CAP_S) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        rss = pt_rss_bytes();
    }
    CHECK(rss <= rss0 + SLACK,
          "VmRSS %zu KiB %.0f s after freeing %d blocks of %d bytes (%zu KiB before them, "
          "%zu KiB while held): glibc's free memory did not go back",
          rss / 1024, pt_now() - t0, NBLOCKS, BLOCK, rss0 / 1024, held / 1024);
    fprintf(stderr, "    back within %zu KiB of the start %.2f s after the frees\n",
            (rss > rss0 ? rss - rss0 : 0) / 1024, pt_now() - t0);
    free(keep);
}

int main(void)
{
    pt_init(TEST);
    static const struct pt_case cases[] = {
        PT_CASE(test_freed_blocks_leave_when_idle),
    };
    pt_run_cases(cases, sizeof cases / sizeof cases[0]);
    return pt_finish(TEST);
}
