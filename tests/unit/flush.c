/* SPDX-License-Identifier: MIT */
/* Generations as the flush thread runs them (flush_run_periodic): idle spans
 * only, while the program allocates and frees; the explicit flush_run() in
 * between. Counts balance and the promise holds. Also a TSan target. */
#include <pthread.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
    harness_core(32768, 128 * 1024);
}
TestSuite(flush, .init = setup);

enum { THREADS = 3, ROUNDS = 30000, LIVE = 512 };
static _Atomic int stop;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    struct { unsigned char *p; unsigned cls; unsigned char tag; } live[LIVE] = {{0}};
    for (unsigned r = 0; r < ROUNDS; r++) {
        seed = seed * 1103515245 + 12345;
        unsigned i = (seed >> 8) % LIVE;
        if (live[i].p) {
            size_t n = sc_size[live[i].cls];
            for (size_t k = 0; k < n; k += 97)
                cr_assert_eq(live[i].p[k], live[i].tag, "content changed");
            cache_free(live[i].cls, live[i].p);
            live[i].p = NULL;
        } else {
            /* Big classes too: few objects per span, so spans empty often. */
            unsigned cls = (seed >> 20) % 40;
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
    for (unsigned n = 0; !atomic_load(&stop); n++)
        if (n % 8 == 7)
            flush_run();
        else
            flush_run_periodic();
    return NULL;
}

Test(flush, periodic_flushes_during_traffic_keep_counts_and_release_within_two)
{
    pthread_t t[THREADS], f;
    cr_assert_eq(pthread_create(&f, NULL, flusher, NULL), 0);
    for (uintptr_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(f, NULL);
    /* Everything is free now: two periodic flushes give every span back. */
    flush_run_periodic();
    flush_run_periodic();
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct central *ce = &central_g[c];
        cr_assert_eq(ce->objs_out, 0, "class %u: %lu objects unaccounted", c,
                     (unsigned long)ce->objs_out);
        cr_assert_eq(ce->spans_live, 0, "class %u kept pages", c);
        cr_assert_eq(ce->empty, NULL);
        cr_assert_eq(ce->aging, NULL);
    }
}
