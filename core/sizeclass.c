/* SPDX-License-Identifier: MIT */
/* sizeclass.c - builds the class tables described in sizeclass.h. */
#include "sizeclass.h"

#include <string.h>

uint32_t sc_size[SC_COUNT];
uint8_t sc_span_shift[SC_COUNT];
uint16_t sc_batch[SC_COUNT];
struct sc_layout sc_layout;
uint8_t sc_small[SC_SMALL_MAX / 16 + 1];
uint8_t sc_large[SC_MAX_SIZE / 16 + 1];

static unsigned log2_ceil(uint64_t v)
{
    unsigned s = 0;
    while ((1ull << s) < v)
        s++;
    return s;
}

/* table[i] = the first class of at least i * step bytes, for i = 0..last,
 * written one class's run at a time (a memset each): every preloaded
 * process builds sc_small's 65 entries at start, however short it lives,
 * and sc_large's 16,385 (16 KiB, four pages) when its pools start. */
static void fill_lookup(uint8_t *table, size_t last, size_t step)
{
    size_t i = 0;
    for (unsigned c = 0; c < SC_COUNT && i <= last; c++) {
        size_t end = sc_size[c] / step;   /* the last i with i * step <= sc_size[c] */
        if (end > last)
            end = last;
        if (end >= i) {
            memset(table + i, (int)c, end - i + 1);
            i = end + 1;
        }
    }
    PA_ASSERT(i == last + 1, "sizeclass: every lookup entry names a class");
}

void sc_init(void)
{
    unsigned n = 0;
    for (uint32_t s = 16; s <= 128; s += 16)
        sc_size[n++] = s;
    for (uint32_t base = 128; base < SC_MAX_SIZE; base *= 2) {
        if (base >= SC_FIT_MIN) {
            /* Above 4 KiB a span holds 8 to 15 objects: every class is the
             * span (16 x base) shared by n of them, rounded down to 16 bytes,
             * for n = 15..9, then 2 x base (n = 8). A span then wastes less
             * than 16 bytes an object at its end, where evenly spaced sizes
             * left up to 5.6 KiB of a 64 KiB span unused (6,656 x 9). And a
             * 4 KiB page with a header lands close: 4,368 bytes (sqlite's
             * page cache) is exactly 64 KiB / 15. */
            for (uint32_t k = 15; k >= 9; k--)
                sc_size[n++] = (16 * base / k) & ~15u;
            sc_size[n++] = 2 * base;
            continue;
        }
        uint32_t steps = base < SC_SMALL_MAX ? 4 : 8;
        for (uint32_t j = 1; j <= steps; j++) {
            /* A power of two and a small header: 1040, 2064. */
            if (j == 1 && base >= 1024)
                sc_size[n++] = base + 16;
            sc_size[n++] = base + j * (base / steps);
        }
    }
    PA_ASSERT(n == SC_COUNT && sc_size[0] == SC_MIN_SIZE && sc_size[SC_COUNT - 1] == SC_MAX_SIZE,
              "sizeclass: SC_COUNT classes from SC_MIN_SIZE to SC_MAX_SIZE");

    for (unsigned c = SC_COUNT; c < SC_LAYOUT_ENTRIES; c++)
        sc_layout.span_mask[c] = ~0ull;   /* nobjs 0: no address is an object */
    for (unsigned c = 0; c < SC_COUNT; c++) {
        /* >= 8 objects per span keeps the per-span bookkeeping cheap for big
         * classes; >= 64 KiB keeps the number of spans (and madvise calls)
         * low for small ones. */
        unsigned shift = log2_ceil((uint64_t)sc_size[c] * SC_SPAN_OBJS_MIN);
        sc_span_shift[c] = (uint8_t)(shift < SC_SPAN_SHIFT_MIN ? SC_SPAN_SHIFT_MIN : shift);
        /* A batch is ~32 KiB of objects, between 2 and 64 of them: enough
         * to amortise the central lock, small enough to keep the cache's
         * budget for other classes. 64, not 32: a program that frees far
         * more than its CPU's cache holds moves every object through
         * central, and each batch there costs the class's lock and the
         * lines of its lists, which another CPU may hold (callgrind, micro
         * bulk at N=2M: the allocator's instructions 320M -> 305M; the
         * slow paths' buffers take 64 B more of stack, the drain's 256). */
        uint32_t b = (32u * 1024) / sc_size[c];
        sc_batch[c] = (uint16_t)(b < SC_BATCH_MIN ? SC_BATCH_MIN : b > SC_BATCH_MAX ? SC_BATCH_MAX : b);
        unsigned k = (unsigned)__builtin_ctz(sc_size[c]);
        uint64_t m = sc_size[c] >> k, inv = m;   /* m * m = 1 mod 8: 3 bits right */
        for (int i = 0; i < 5; i++)
            inv *= 2 - m * inv;                  /* Newton: doubles the right bits */
        sc_layout.span_mask[c] = (1ull << sc_span_shift[c]) - 1;
        sc_layout.inv[c] = inv;
        sc_layout.nobjs[c] = (1ull << sc_span_shift[c]) / sc_size[c];
        PA_ASSERT(sc_layout.nobjs[c] >= SC_SPAN_OBJS_MIN && sc_layout.nobjs[c] <= SC_SPAN_NOBJS_MAX,
                  "sizeclass: SC_SPAN_OBJS_MIN <= objects per span <= SC_SPAN_NOBJS_MAX");
        sc_layout.shift[c] = k;
    }

    fill_lookup(sc_small, SC_SMALL_MAX / 16, 16);
}

void sc_init_large(void)
{
    fill_lookup(sc_large, SC_MAX_SIZE / 16, 16);
}

int sc_for_alignment(size_t n, size_t align, size_t max)
{
    if (n == 0)
        n = 1;
    if (n > max || align > PA_PAGE)
        return -1;
    for (unsigned c = sc_of(n); c < SC_COUNT && sc_size[c] <= max; c++) {
        /* An object at offset i * size from an aligned span start is aligned
         * to align exactly when align divides size. */
        if (sc_size[c] % align == 0)
            return (int)c;
    }
    return -1;
}
