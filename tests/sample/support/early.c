/* SPDX-License-Identifier: MIT */
/* early.c - allocations before the sampler starts, and after.
 *
 * Built twice (run.sh): as libearly.so, whose constructor makes EARLY_N
 * 32-byte requests (preloaded after libpoolalloc.so, it runs before the
 * library's constructor: before sample_start); and as the program `early`,
 * whose main waits half a second (a sampler started late, from the
 * library's own thread, is running by then) and makes 64 MiB of 64-byte
 * requests. */
#include <stdlib.h>
#include <unistd.h>

#define EARLY_N 100000

static void churn(size_t n, size_t size)
{
    void *keep[64] = {0};
    for (size_t i = 0; i < n; i++) {
        size_t k = i & 63;
        free(keep[k]);
        keep[k] = malloc(size);
        if (!keep[k])
            _exit(3);
        *(volatile char *)keep[k] = 1;
    }
    for (size_t k = 0; k < 64; k++)
        free(keep[k]);
}

#ifdef EARLY_LIB
__attribute__((constructor)) static void early_ctor(void)
{
    churn(EARLY_N, 32);
}
#else
int main(void)
{
    usleep(500000);
    churn((64u << 20) / 64, 64);
    return 0;
}
#endif
