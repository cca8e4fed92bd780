/* SPDX-License-Identifier: MIT */
/* harness.h - shared set-up for the unit tests: core/ initialised in the
 * test process itself (criterion runs every test in its own process). */
#ifndef POOLALLOC_TEST_HARNESS_H
#define POOLALLOC_TEST_HARNESS_H

#include <criterion/criterion.h>

#include "../../core/cache.h"
#include "../../core/central.h"
#include "../../core/core.h"
#include "../../core/flush.h"
#include "../../core/region.h"
#include "../../core/sizeclass.h"

static inline void harness_core(size_t max_size, size_t budget)
{
    struct core_config cfg = {.max_size = max_size, .cpu_cache = budget, .flush_ms = 0};
    cr_assert_eq(core_init(&cfg), 0, "core_init failed");
}

/* Objects of class cls held in any CPU's local or victim stack. */
static inline int harness_in_caches(unsigned cls, const void *p, int *in_victim)
{
    for (unsigned i = 0; i <= cache_cpu_mask; i++) {
        struct cpu_cache *cc = cache_cpus[i];
        if (!cc)
            continue;
        for (unsigned k = 0; k < cc->cls[cls].count; k++)
            if (cc->cls[cls].slots[k] == p) {
                *in_victim = 0;
                return 1;
            }
        for (unsigned k = 0; k < cc->cls[cls].vcount; k++)
            if (cc->cls[cls].vslots[k] == p) {
                *in_victim = 1;
                return 1;
            }
    }
    return 0;
}

/* 1 if p is back in central: marked free in its span's bitmap (perhaps with
 * the span's pages already given back to the OS). */
static inline int harness_in_central(unsigned cls, const void *p)
{
    struct central *ce = &central_g[cls];
    uintptr_t off = span_slice_offset(p);
    struct span *s = central_span(ce, off >> sc_span_shift[cls]);
    size_t idx = (off & (((uintptr_t)1 << sc_span_shift[cls]) - 1)) / ce->size;
    return (s->bits[idx / 64] >> (idx % 64)) & 1;
}

static inline uint64_t harness_sum(unsigned cls, size_t off)
{
    uint64_t t = 0;
    for (unsigned i = 0; i <= cache_cpu_mask; i++)
        if (cache_cpus[i])
            t += *(uint64_t *)((char *)&cache_cpus[i]->cls[cls].ctr + off);
    return t;
}
#define HARNESS_CTR(cls, field) harness_sum(cls, offsetof(struct cache_counters, field))

#endif
