/* Central lists and spans: batches, span accounting, page return. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

static void setup(void)
{
    harness_core(32768, 1 << 20);
}
TestSuite(central, .init = setup);

static void check_invariants(unsigned cls)
{
    struct central *ce = &central_g[cls];
    uint64_t used = 0, live = 0;
    for (uint32_t i = 0; i < ce->spans_made; i++) {
        struct span *s = central_span(ce, i);
        uint64_t nfree = 0;
        for (uint32_t w = 0; w < ce->words; w++)
            nfree += (uint64_t)__builtin_popcountll(s->bits[w]);
        cr_assert_eq(s->used + nfree, ce->nobjs, "span %u", i);
        for (uint32_t k = s->hw; k < ce->nobjs; k++)
            cr_assert((s->bits[k / 64] >> (k % 64)) & 1, "untouched object %u not free", k);
        cr_assert_eq(s->index, i);
        used += s->used;
        live += s->list != SPAN_RELEASED;
    }
    cr_assert_eq(used, ce->objs_out);
    cr_assert_eq(live, ce->spans_live);
}

Test(central, batch_objects_are_distinct_aligned_and_in_their_slice)
{
    unsigned cls = sc_of(48);
    void *objs[64];
    unsigned fresh;
    unsigned n = central_alloc(cls, 33, objs, CENTRAL_GROW, &fresh);
    cr_assert_eq(n, 33);
    cr_assert_eq(fresh, 33, "a new span's objects are all fresh");
    for (unsigned i = 1; i < n; i++)
        cr_assert_eq((char *)objs[i] - (char *)objs[i - 1], 48, "lowest address first");
    for (unsigned i = 0; i < n; i++) {
        cr_assert(region_owns(objs[i]));
        cr_assert_eq(pagemap_class(objs[i]), cls);
        cr_assert_eq((uintptr_t)objs[i] % 16, 0);
        memset(objs[i], 0xA5, 48);
        for (unsigned j = 0; j < i; j++)
            cr_assert_neq(objs[i], objs[j]);
    }
    check_invariants(cls);
    central_free(cls, objs, n);
    check_invariants(cls);
    /* On the transfer stack: still out of their spans until a release. */
    cr_assert_eq(central_g[cls].xfer_count, n);
    central_release(cls);
    check_invariants(cls);
    cr_assert_eq(central_g[cls].xfer_count, 0);
    cr_assert_eq(central_g[cls].objs_out, 0);
}

Test(central, transfer_stack_moves_pointers_without_touching_spans)
{
    unsigned cls = sc_of(32);
    struct central *ce = &central_g[cls];
    void *objs[64], *back[64];
    unsigned fresh;
    cr_assert_eq(central_alloc(cls, 32, objs, CENTRAL_GROW, &fresh), 32);
    uint64_t out = ce->objs_out;
    central_free(cls, objs, 32);
    cr_assert_eq(ce->objs_out, out, "the spans' bitmaps were not touched");
    cr_assert_eq(central_alloc(cls, 32, back, CENTRAL_EXISTING, &fresh), 32);
    cr_assert_eq(fresh, 0);
    for (unsigned i = 0; i < 32; i++) {
        int found = 0;
        for (unsigned j = 0; j < 32; j++)
            found |= back[i] == objs[j];
        cr_assert(found, "object %u did not come back from the transfer stack", i);
    }
    /* More than the stack holds goes on to the spans. */
    static void *many[8192];
    unsigned got = 0;
    cr_assert_lt(ce->xfer_cap + 164, 8192u);
    while (got < ce->xfer_cap + 100)
        got += central_alloc(cls, 64, many + got, CENTRAL_GROW, &fresh);
    for (unsigned i = 0; i < got; i += 64)
        central_free(cls, many + i, got - i < 64 ? got - i : 64);
    cr_assert_eq(ce->xfer_count, ce->xfer_cap);
    check_invariants(cls);
    central_free(cls, back, 32);
    central_release(cls);
    cr_assert_eq(ce->objs_out, 0);
    check_invariants(cls);
}

Test(central, existing_mode_never_grows)
{
    unsigned cls = sc_of(1000);
    void *objs[64];
    unsigned fresh;
    cr_assert_eq(central_alloc(cls, 8, objs, CENTRAL_EXISTING, &fresh), 0);
    cr_assert_eq(central_g[cls].spans_made, 0);
    cr_assert_eq(central_alloc(cls, 8, objs, CENTRAL_GROW, &fresh), 8);
    central_free(cls, objs, 4);
    /* The span is partial now: its free objects come back first, reused. */
    unsigned n = central_alloc(cls, 4, objs, CENTRAL_EXISTING, &fresh);
    cr_assert_eq(n, 4);
    cr_assert_eq(fresh, 0);
    check_invariants(cls);
}

Test(central, full_spans_then_a_new_span)
{
    unsigned cls = sc_of(32768);
    struct central *ce = &central_g[cls];
    void *objs[64];
    unsigned fresh, total = 0;
    while (total < 3 * ce->nobjs) {
        unsigned want = 3 * ce->nobjs - total < 5 ? 3 * ce->nobjs - total : 5;
        unsigned n = central_alloc(cls, want, objs, CENTRAL_GROW, &fresh);
        cr_assert_gt(n, 0);
        total += n;
    }
    cr_assert_eq(ce->spans_made, 3);
    cr_assert_eq(ce->partial, NULL, "every span is full");
    check_invariants(cls);
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(f);
    cr_assert_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

Test(central, empty_spans_give_pages_back_and_read_zero)
{
    unsigned cls = sc_of(4096);
    struct central *ce = &central_g[cls];
    enum { N = 64 * 64 };   /* 16 MiB */
    static void *objs[N];
    unsigned got = 0, fresh;
    while (got < N)
        got += central_alloc(cls, 32, objs + got, CENTRAL_GROW, &fresh);
    for (unsigned i = 0; i < N; i++)
        memset(objs[i], 0x5A, 4096);
    long before = rss_kib();
    central_free(cls, objs, N);
    check_invariants(cls);
    size_t bytes = central_release(cls);
    long after = rss_kib();
    cr_assert_eq(bytes, (size_t)N * 4096);
    cr_assert_eq(ce->objs_out, 0);
    cr_assert_eq(ce->spans_live, 0);
#ifndef __SANITIZE_THREAD__   /* TSan's shadow of the pages stays resident */
    cr_assert_lt(after, before - 15 * 1024, "RSS %ld -> %ld KiB", before, after);
#else
    (void)before, (void)after;
#endif
    /* Reused: the pages come back as zeros, the spans from the released list. */
    unsigned n = central_alloc(cls, 32, objs, CENTRAL_GROW, &fresh);
    cr_assert_eq(n, 32);
    cr_assert_eq(ce->spans_made, N / ce->nobjs, "no new span while released ones exist");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < 4096; k++)
            cr_assert_eq(((unsigned char *)objs[i])[k], 0);
    check_invariants(cls);
}

Test(central, deferred_frees_are_taken_in)
{
    unsigned cls = sc_of(64);
    void *objs[8];
    unsigned fresh;
    cr_assert_eq(central_alloc(cls, 8, objs, CENTRAL_GROW, &fresh), 8);
    for (unsigned i = 0; i < 8; i++)
        central_defer(cls, objs[i]);
    cr_assert_eq(central_g[cls].objs_out, 8, "deferred, not yet taken in");
    central_release(cls);
    cr_assert_eq(central_g[cls].objs_out, 0);
    check_invariants(cls);
}

/* The span holding owned pointer p. */
static struct span *span_of(unsigned cls, const void *p)
{
    return central_span(&central_g[cls], span_slice_offset(p) >> sc_span_shift[cls]);
}

/* n whole spans of class cls, new, every object out and touched. */
static void take_spans(unsigned cls, unsigned n, void **objs)
{
    struct central *ce = &central_g[cls];
    unsigned fresh, got = 0, want = n * ce->nobjs;
    cr_assert_eq(ce->partial, NULL);
    while (got < want) {
        unsigned k = central_alloc(cls, want - got, objs + got, CENTRAL_GROW, &fresh);
        cr_assert_gt(k, 0);
        got += k;
    }
    for (unsigned i = 0; i < want; i++)
        memset(objs[i], 0x3C, ce->size);
}

/* Periodic flushes (the flush thread's) give back only idle spans: one the
 * program's frees emptied during the period that just ended waits a period,
 * in case the program wants it again at once. */
Test(central, a_span_the_program_emptied_survives_one_periodic_flush_and_goes_at_the_next)
{
    unsigned cls = sc_of(4096);
    struct central *ce = &central_g[cls];
    enum { SPANS = 3 };
    static void *objs[SPANS * 64];
    cr_assert_leq(SPANS * ce->nobjs, 64 * SPANS);
    /* More than the transfer stack holds: some frees stop on the stack, the
     * rest empty their span at once; both are the program's frees. */
    cr_assert_lt(ce->xfer_cap, SPANS * ce->nobjs);
    take_spans(cls, SPANS, objs);
    central_free(cls, objs, SPANS * ce->nobjs);

    cr_assert_eq(flush_run_periodic(), 0, "spans emptied by this period's frees were released");
    cr_assert_eq(ce->spans_live, SPANS);
    for (unsigned i = 0; i < SPANS; i++)
        cr_assert_eq(span_of(cls, objs[i * ce->nobjs])->list, SPAN_EMPTY, "span %u", i);
    cr_assert_eq(ce->xfer_count, 0, "the transfer stack is emptied at every flush");
    check_invariants(cls);

    size_t bytes = flush_run_periodic();
    cr_assert_eq(bytes, (size_t)SPANS * ce->nobjs * 4096, "idle for a whole period: released");
    cr_assert_eq(ce->spans_live, 0);
    for (unsigned i = 0; i < SPANS; i++)
        cr_assert_eq(span_of(cls, objs[i * ce->nobjs])->list, SPAN_RELEASED, "span %u", i);
    check_invariants(cls);
}

Test(central, a_reused_span_loses_its_age)
{
    unsigned cls = sc_of(4096);
    struct central *ce = &central_g[cls];
    void *objs[64];
    take_spans(cls, 1, objs);
    struct span *s = span_of(cls, objs[0]);
    central_free(cls, objs, ce->nobjs);
    cr_assert_eq(flush_run_periodic(), 0);
    cr_assert_eq(s->list, SPAN_EMPTY, "waits one period");

    /* Reused during the next period, emptied again before its flush. */
    void *p;
    unsigned fresh;
    cr_assert_eq(central_alloc(cls, 1, &p, CENTRAL_EXISTING, &fresh), 1);
    cr_assert_eq(span_of(cls, p), s, "the empty span is reused, not a new one");
    cr_assert_eq(ce->spans_made, 1);
    central_free(cls, &p, 1);
    cr_assert_eq(flush_run_periodic(), 0, "a span emptied this period is young again");
    cr_assert_eq(s->list, SPAN_EMPTY);
    cr_assert_eq(ce->spans_live, 1);

    cr_assert_eq(flush_run_periodic(), (size_t)ce->nobjs * 4096);
    cr_assert_eq(s->list, SPAN_RELEASED);
    check_invariants(cls);
}

Test(central, an_explicit_flush_gives_back_every_empty_span_now)
{
    /* poolstat flush and the tests: who asks wants the memory back now. */
    unsigned cls = sc_of(4096);
    struct central *ce = &central_g[cls];
    static void *objs[2 * 64];
    take_spans(cls, 2, objs);
    central_free(cls, objs, ce->nobjs);
    cr_assert_eq(flush_run_periodic(), 0);        /* span 0 is aging */
    central_free(cls, objs + ce->nobjs, ce->nobjs);   /* span 1 is young */
    cr_assert_eq(flush_run(), (size_t)2 * ce->nobjs * 4096);
    cr_assert_eq(ce->spans_live, 0);
    check_invariants(cls);
}
