/* SPDX-License-Identifier: MIT */
/*
 * c_api_reports_and_flushes — the calls of poolalloc.h, looked up with dlsym as a
 * program under the preload would: poolalloc_get_stats() tells what the program holds
 * and what the flushes gave back, fills no more of the caller's struct than the caller
 * says it has, and refuses a struct too small; poolalloc_flush() runs a generation now
 * and gives the freed memory back to the OS (VmRSS falls), and says how much;
 * poolalloc_version() is the POOLALLOC_VERSION of the header the library was built with.
 *
 * On plain glibc the calls do not exist: the test only checks that they are absent.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <sys/mman.h>

#define TEST "c_api_reports_and_flushes"

#define MIB ((size_t)1 << 20)
#define OBJ 48
#define TOTAL (64 * MIB)

int main(void)
{
    pt_init(TEST);
    int (*get)(struct poolalloc_stats *);
    size_t (*flush)(void);
    *(void **)&get = dlsym(RTLD_DEFAULT, "poolalloc_get_stats");
    *(void **)&flush = dlsym(RTLD_DEFAULT, "poolalloc_flush");
    if (!pt_preloaded()) {
        CHECK(!get && !flush, "the poolalloc calls exist on plain glibc?");
        return pt_finish(TEST);
    }
    if (!get || !flush) {
        FAILF("poolalloc_get_stats %p, poolalloc_flush %p: not exported", *(void **)&get,
              *(void **)&flush);
        return pt_finish(TEST);
    }

    const char *(*version)(void);
    *(void **)&version = dlsym(RTLD_DEFAULT, "poolalloc_version");
    CHECK(version && !strcmp(version(), POOLALLOC_VERSION),
          "poolalloc_version() says %s, poolalloc.h " POOLALLOC_VERSION,
          version ? version() : "(not exported)");
    CHECK(get(NULL) == -1, "get_stats(NULL) did not refuse");
    struct poolalloc_stats tiny = {.size = sizeof(size_t)};
    CHECK(get(&tiny) == -1, "a struct without room for `generations` was accepted");

    size_t count = TOTAL / OBJ;
    unsigned char **v = mmap(NULL, count * sizeof *v, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) {
        FAILF("mmap failed");
        return pt_finish(TEST);
    }
    struct poolalloc_stats before = {.size = sizeof before};
    CHECK(get(&before) == 0, "get_stats failed");
    count = pt_alloc_filled(v, count, OBJ);
    struct poolalloc_stats held = {.size = sizeof held};
    CHECK(get(&held) == 0, "get_stats failed");
    CHECK(held.in_use_bytes >= before.in_use_bytes + count * OBJ,
          "in_use_bytes %llu after %zu objects of %d bytes (was %llu)",
          (unsigned long long)held.in_use_bytes, count, OBJ,
          (unsigned long long)before.in_use_bytes);
    CHECK(held.resident_bytes >= count * OBJ, "resident_bytes %llu below what is held",
          (unsigned long long)held.resident_bytes);
    for (size_t i = 0; i < count; i += 4099)
        CHECK(v[i][OBJ - 1] == (unsigned char)(i | 1), "object %zu lost its content", i);
    for (size_t i = 0; i < count; i++)
        free(v[i]);
    munmap(v, count * sizeof *v);

    /* An old caller: a struct that ends after `returned_bytes`. Nothing beyond
     * its size may be written. */
    struct poolalloc_stats old;
    memset(&old, 0xAB, sizeof old);
    old.size = offsetof(struct poolalloc_stats, returned_bytes) + sizeof old.returned_bytes;
    CHECK(get(&old) == 0, "get_stats refused an older, shorter struct");
    CHECK(old.in_use_bytes == 0xABABABABABABABABull,
          "get_stats wrote beyond the size the caller gave");

    size_t rss = pt_rss_bytes();
    size_t back = flush();
    size_t rss_after = pt_rss_bytes();
    struct poolalloc_stats after = {.size = sizeof after};
    CHECK(get(&after) == 0, "get_stats failed");
    printf("held %.1f MiB in use; poolalloc_flush() gave back %.1f MiB; RSS %.1f -> %.1f "
           "MiB; generations %llu -> %llu\n",
           (double)held.in_use_bytes / MIB, (double)back / MIB, (double)rss / MIB,
           (double)rss_after / MIB, (unsigned long long)before.generations,
           (unsigned long long)after.generations);
    CHECK(back >= count * OBJ * 3 / 4, "poolalloc_flush() gave back %zu bytes of %zu freed",
          back, count * OBJ);
    CHECK(rss_after + back / 2 <= rss, "RSS %zu -> %zu: the flush did not reach the OS", rss,
          rss_after);
    CHECK(after.generations > held.generations, "the flush was not counted as a generation");
    CHECK(after.returned_bytes >= held.returned_bytes + back,
          "returned_bytes %llu -> %llu, the flush said %zu",
          (unsigned long long)held.returned_bytes, (unsigned long long)after.returned_bytes,
          back);
    CHECK(after.in_use_bytes + count * OBJ <= held.in_use_bytes,
          "in_use_bytes %llu after freeing everything (held %llu)",
          (unsigned long long)after.in_use_bytes, (unsigned long long)held.in_use_bytes);
    return pt_finish(TEST);
}
