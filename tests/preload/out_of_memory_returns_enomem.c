/* SPDX-License-Identifier: MIT */
/*
 * out_of_memory_returns_enomem — with the address space limited (RLIMIT_AS, as
 * `ulimit -v` does) before the allocator loads, every allocation that cannot be
 * satisfied returns NULL with errno ENOMEM, never a crash; what was allocated
 * keeps its content; after freeing, allocation works again.
 *
 * The limit must be in force before the library's constructor reserves its
 * region, so the program sets it and re-executes itself.
 */
#include <sys/resource.h>

#include "support/preload_test.h"

#define LIMIT (1536ul << 20)   /* 1.5 GiB of address space */

int main(int argc, char **argv)
{
    if (argc < 2) {
        struct rlimit rl = {LIMIT, LIMIT};
        if (setrlimit(RLIMIT_AS, &rl) != 0) {
            perror("setrlimit");
            return 1;
        }
        execl("/proc/self/exe", argv[0], "limited", (char *)NULL);
        perror("exec");
        return 1;
    }
    pt_init("out_of_memory_returns_enomem");

    /* A single request beyond the limit. */
    errno = 0;
    void *big = malloc(pt_size(2ul << 30));
    CHECK(big == NULL && errno == ENOMEM, "2 GiB under a 1.5 GiB limit: %p errno %d", big, errno);

    /* Small objects until the memory runs out: pools first, then glibc. */
    enum { MAXOBJ = 1 << 22 };
    size_t slots = MAXOBJ * sizeof(void *);
    void **objs = malloc(slots);   /* 32 MiB, glibc's (pass-through) */
    CHECK(objs != NULL, "pointer table");
    if (!objs)
        return pt_finish("out_of_memory_returns_enomem");
    size_t n = 0, owned = 0;
    int saw_enomem = 0;
    while (n < MAXOBJ) {
        errno = 0;
        size_t sz = 256 + (n % 8) * 512;
        unsigned char *p = malloc(sz);
        if (!p) {
            CHECK(errno == ENOMEM, "NULL with errno %d, not ENOMEM", errno);
            saw_enomem = 1;
            break;
        }
        p[0] = (unsigned char)n;
        p[sz - 1] = (unsigned char)(n >> 8);
        if (pt_owns(p) == 1)
            owned++;
        objs[n++] = p;
    }
    CHECK(saw_enomem, "never ran out after %zu objects", n);
    fprintf(stderr, "ran out after %zu objects (%zu from the pools)\n", n, owned);
    if (pt_preloaded())
        CHECK(owned > 0, "the pools served nothing under the limit");

    /* Every other allocator call fails cleanly too while memory is exhausted. */
    errno = 0;
    void *c = calloc(1000, 1000);
    if (!c)
        CHECK(errno == ENOMEM, "calloc: errno %d", errno);
    free(c);

    /* Content survived; free all; the program goes on. */
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = objs[i];
        size_t sz = 256 + (i % 8) * 512;
        if (p[0] != (unsigned char)i || p[sz - 1] != (unsigned char)(i >> 8)) {
            FAILF("object %zu lost its content", i);
            break;
        }
        free(p);
    }
    void *again = malloc(1000);
    CHECK(again != NULL, "malloc after freeing everything failed");
    free(again);
    free(objs);
    return pt_finish("out_of_memory_returns_enomem");
}
