/* SPDX-License-Identifier: MIT */
/* Size classes: exhaustive over every request size the pools can serve. */
#include <criterion/criterion.h>

#include "../../core/sizeclass.h"

static void init_tables(void)
{
    sc_init();
    sc_init_large();
}
TestSuite(sizeclass, .init = init_tables);

Test(sizeclass, classes_are_16_aligned_and_increasing)
{
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cr_assert_eq(sc_size[c] % 16, 0, "class %u size %u", c, sc_size[c]);
        if (c)
            cr_assert_gt(sc_size[c], sc_size[c - 1]);
    }
    cr_assert_eq(sc_size[0], 16);
    cr_assert_eq(sc_size[SC_COUNT - 1], SC_MAX_SIZE);
}

Test(sizeclass, lookup_is_smallest_fitting_class_for_every_size)
{
    for (size_t n = 1; n <= SC_MAX_SIZE; n++) {
        unsigned c = sc_of(n);
        cr_assert_lt(c, SC_COUNT);
        cr_assert_geq(sc_size[c], n, "size %zu -> class %u (%u bytes)", n, c, sc_size[c]);
        if (c)
            cr_assert_lt(sc_size[c - 1], n, "size %zu could use class %u", n, c - 1);
    }
}

Test(sizeclass, average_waste_at_most_12_5_percent)
{
    /* Every request size 1..32 KiB (the default max_size) equally likely. */
    double sum = 0, sum_span = 0, worst_above_128 = 0, worst_above_1k = 0;
    size_t worst_n = 0, worst_1k_n = 0;
    for (size_t n = 1; n <= 32768; n++) {
        unsigned c = sc_of(n);
        double w = (double)(sc_size[c] - n) / sc_size[c];
        sum += w;
        /* What the object really takes: its share of its span. */
        double share = (double)((size_t)1 << sc_span_shift[c]) /
                       (double)(((size_t)1 << sc_span_shift[c]) / sc_size[c]);
        sum_span += (share - (double)n) / share;
        if (n > 128 && w > worst_above_128) {
            worst_above_128 = w;
            worst_n = n;
        }
        if (n > 1024 && w > worst_above_1k) {
            worst_above_1k = w;
            worst_1k_n = n;
        }
    }
    double avg = sum / 32768, avg_span = sum_span / 32768;
    cr_log_info("average waste %.2f %% (%.2f %% with the spans' unused ends), worst above 128 B "
                "%.1f %% at %zu, above 1 KiB %.1f %% at %zu",
                avg * 100, avg_span * 100, worst_above_128 * 100, worst_n, worst_above_1k * 100,
                worst_1k_n);
    cr_assert_leq(avg, 0.125, "average waste %.3f", avg);
    /* Evenly spaced classes above 4 KiB took 8.2 % with the spans' ends. */
    cr_assert_leq(avg_span, 0.05, "average waste with the spans' unused ends %.4f", avg_span);
    cr_assert_leq(worst_above_128, 0.20, "worst waste %.3f at %zu", worst_above_128, worst_n);
    /* Eight classes per power of two above 1 KiB: at most 1/9 of a class,
     * plus, above 4 KiB, the up to 16 bytes by which span / 9 is rounded
     * down (the widest step, span / 9 -> span / 8: 29,121 bytes get 32,768). */
    cr_assert_leq(worst_above_1k, 1.0 / 9 + 16.0 / 8192 + 1e-9,
                  "worst waste above 1 KiB %.4f at %zu", worst_above_1k, worst_1k_n);
    /* A 4 KiB page with a small header: sqlite's page cache asks for 4,368
     * bytes, which is 64 KiB / 15, a class of its own (15 to a span). */
    cr_assert_eq(sc_size[sc_of(4368)], 4368);
    /* A power of two and a small header (sqlite3's 1,032 bytes). */
    cr_assert_eq(sc_size[sc_of(1032)], 1040);
}

/* Above 4 KiB a class is its span shared by n objects (n = 8..15): the span
 * is used to within 16 bytes an object, so what a request costs in memory is
 * its class, not its class and a share of a wasted span tail. Checked
 * against the old evenly spaced classes' worst, 6,656 x 9 = 59,904 of a
 * 64 KiB span (5.6 KiB unused). */
Test(sizeclass, spans_above_4k_are_used_to_16_bytes_an_object)
{
    unsigned fitted = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        if (sc_size[c] <= SC_FIT_MIN)
            continue;
        size_t span = (size_t)1 << sc_span_shift[c], n = span / sc_size[c];
        cr_assert(n >= 8 && n <= 15, "class %u (%u bytes): %zu a span", c, sc_size[c], n);
        cr_assert_lt(span - n * sc_size[c], 16 * n, "class %u (%u bytes): %zu bytes of its span unused",
                     c, sc_size[c], span - n * sc_size[c]);
        fitted++;
    }
    cr_assert_eq(fitted, 48, "eight classes per power of two from 4 KiB to 256 KiB");
    /* What a 4,104-byte request costs: its class's share of a span. */
    unsigned c = sc_of(4104);
    cr_assert_leq(((size_t)1 << sc_span_shift[c]) / (((size_t)1 << sc_span_shift[c]) / sc_size[c]),
                  65536 / 15 + 1);
}

Test(sizeclass, spans_hold_at_least_8_objects_and_batches_are_sane)
{
    for (unsigned c = 0; c < SC_COUNT; c++) {
        size_t span = (size_t)1 << sc_span_shift[c];
        cr_assert_geq(span / sc_size[c], 8, "class %u", c);
        cr_assert_geq(span, 65536);
        cr_assert(sc_batch[c] >= SC_BATCH_MIN && sc_batch[c] <= SC_BATCH_MAX);
    }
}

Test(sizeclass, alignment_classes_divide_and_fit)
{
    for (size_t align = 32; align <= 4096; align *= 2)
        for (size_t n = 0; n <= 40000; n += 7) {
            int c = sc_for_alignment(n, align, 32768);
            if (c < 0) {
                /* Only when no class up to max is a multiple of align and >= n. */
                cr_assert_gt(n > align ? n : align, 16384, "n %zu align %zu", n, align);
                continue;
            }
            cr_assert_eq(sc_size[c] % align, 0);
            cr_assert_geq(sc_size[c], n ? n : 1);
            cr_assert_leq(sc_size[c], 32768);
        }
    cr_assert_eq(sc_for_alignment(10, 8192, SC_MAX_SIZE), -1, "beyond a page passes through");
}

/* free()'s test of an object's start: exact at every offset of every span,
 * in any span of the slice, and never true in a slice past the classes. */
Test(sizeclass, object_start_is_exact_at_every_offset)
{
    for (unsigned c = 0; c < SC_COUNT; c++) {
        uint64_t span = 1ull << sc_span_shift[c];
        uint64_t nobjs = span / sc_size[c];
        unsigned bad = 0;
        for (uint64_t off = 0; off < span; off++) {
            int want = off % sc_size[c] == 0 && off / sc_size[c] < nobjs;
            /* The same offset in the 3rd span of slice c (slices are 2^32 here). */
            uint64_t at = ((uint64_t)c << 32) + 2 * span + off;
            bad += sc_object_start(c, at) != want;
        }
        cr_assert_eq(bad, 0, "class %u (%u bytes): %u offsets judged wrong", c, sc_size[c], bad);
    }
    for (unsigned s = SC_COUNT; s < SC_LAYOUT_ENTRIES; s++)
        for (uint64_t off = 0; off < 4096; off += 16)
            cr_assert(!sc_object_start(s, ((uint64_t)s << 22) + off), "slice %u offset %llu", s,
                      (unsigned long long)off);
}
