/* SPDX-License-Identifier: MIT */
/* Many threads through the caches while generations run: content survives,
 * counts balance. Also the TSan target. */
#include <pthread.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
    harness_core(32768, 128 * 1024);
}
TestSuite(threads, .init = setup);

enum { THREADS = 4, ROUNDS = 20000, LIVE = 256 };
static _Atomic int stop;
static void *volatile handoff[64];

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    struct { unsigned char *p; unsigned cls; unsigned char tag; } live[LIVE] = {{0}};
    for (unsigned r = 0; r < ROUNDS; r++) {
        seed = seed * 1103515245 + 12345;
        unsigned i = (seed >> 8) % LIVE;
        if (live[i].p) {
            size_t n = sc_size[live[i].cls];
            for (size_t k = 0; k < n; k += 61)
                cr_assert_eq(live[i].p[k], live[i].tag, "content changed");
            /* Half the frees go through another thread (cross-CPU frees). */
            if (seed & 0x10000) {
                void *old = __atomic_exchange_n(&handoff[i % 64], live[i].p, __ATOMIC_ACQ_REL);
                if (old)
                    cache_free(pagemap_class(old), old);
            } else {
                cache_free(live[i].cls, live[i].p);
            }
            live[i].p = NULL;
        } else {
            unsigned cls = (seed >> 20) % 28;
            live[i].p = cache_alloc(cls);
            cr_assert(live[i].p);
            live[i].cls = cls;
            live[i].tag = (unsigned char)(seed >> 3);
            memset(live[i].p, live[i].tag, sc_size[cls]);
        }
    }
    for (unsigned i = 0; i < LIVE; i++)
        if (live[i].p)
            cache_free(live[i].cls, live[i].p);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        flush_run();
    return NULL;
}

Test(threads, concurrent_alloc_free_and_flush_keep_counts)
{
    pthread_t t[THREADS], f;
    cr_assert_eq(pthread_create(&f, NULL, flusher, NULL), 0);
    for (uintptr_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(f, NULL);
    for (unsigned i = 0; i < 64; i++)
        if (handoff[i])
            cache_free(pagemap_class(handoff[i]), handoff[i]);
    flush_run();
    flush_run();
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cr_assert_eq(central_g[c].objs_out, 0, "class %u: %lu objects unaccounted", c,
                     (unsigned long)central_g[c].objs_out);
        cr_assert_eq(central_g[c].spans_live, 0, "class %u kept pages", c);
    }
}
