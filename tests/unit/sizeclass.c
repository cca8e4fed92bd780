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
    double sum = 0, worst_above_128 = 0, worst_above_1k = 0;
    size_t worst_n = 0, worst_1k_n = 0;
    for (size_t n = 1; n <= 32768; n++) {
        double w = (double)(sc_size[sc_of(n)] - n) / sc_size[sc_of(n)];
        sum += w;
        if (n > 128 && w > worst_above_128) {
            worst_above_128 = w;
            worst_n = n;
        }
        if (n > 1024 && w > worst_above_1k) {
            worst_above_1k = w;
            worst_1k_n = n;
        }
    }
    double avg = sum / 32768;
    cr_log_info("average waste %.2f %%, worst above 128 B %.1f %% at %zu, above 1 KiB %.1f %% at %zu",
                avg * 100, worst_above_128 * 100, worst_n, worst_above_1k * 100, worst_1k_n);
    cr_assert_leq(avg, 0.125, "average waste %.3f", avg);
    cr_assert_leq(worst_above_128, 0.20, "worst waste %.3f at %zu", worst_above_128, worst_n);
    /* Eight classes per power of two above 1 KiB: at most 1/9 of a class. */
    cr_assert_leq(worst_above_1k, 1.0 / 9 + 1e-9, "worst waste above 1 KiB %.3f at %zu",
                  worst_above_1k, worst_1k_n);
    /* A 4 KiB page with a small header (sqlite's page cache asks for 4,368
     * bytes) lands in the next eighth, not the next quarter. */
    cr_assert_eq(sc_size[sc_of(4368)], 4608);
    /* A power of two and a small header (sqlite3's 1,032 and 4,104 bytes). */
    cr_assert_eq(sc_size[sc_of(1032)], 1040);
    cr_assert_eq(sc_size[sc_of(4104)], 4112);
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
