/* SPDX-License-Identifier: MIT */
/*
 * span.h - a span: a power-of-two run of pages in one class's slice, cut into
 * objects of that class.
 *
 * Which objects are free is a bitmap in the span's metadata (bit set = free),
 * never a list threaded through the objects: moving objects between a span
 * and a cache touches no object memory (no cache miss per object, no chain of
 * dependent loads), and objects are handed out lowest address first, so a
 * span fills densely and a program's objects stay close together.
 *
 *     used + popcount(bits) == nobjs                 (per span; span_free_bits)
 *     every index >= hw has its bit set; pages above hw * size never touched
 *     (unless SPAN_MOVED_PAGES: pages moved in from another class's span)
 *
 * `used` counts objects that are out of the span: in a program's hands or in a
 * CPU cache. A span with used == 0 holds nothing anyone can see, so its pages
 * can go back to the OS. Spans are only touched under their class's central
 * lock; the metadata lives in its own reservation, never next to user data.
 */
#ifndef POOLALLOC_SPAN_H
#define POOLALLOC_SPAN_H

#include "region.h"
#include "sizeclass.h"

enum span_list {
    SPAN_NONE,      /* every object is out (full), or in the middle of a release */
    SPAN_PARTIAL,   /* some objects out, some free */
    SPAN_EMPTY,     /* no object out, pages still resident */
    SPAN_RELEASED,  /* no object out, pages given back */
};

/* span.moved: pages another class's span gave it (central_move.c, central_move_in). */
#define SPAN_MOVED_PAGES 1u   /* pages above hw may be resident: a release covers the span */
#define SPAN_MOVED_VMA 2u     /* the kernel keeps a mapping of its own here, for good */

struct span {
    struct span *next;     /* in the central list named by `list` */
    struct span *prev;
    uint32_t used;
    uint32_t hw;           /* high-water index: objects below were handed out once */
    uint32_t index;        /* span number within the slice */
    uint16_t scan;         /* no free bit in words below this one */
    uint8_t list;          /* enum span_list */
    uint8_t moved;         /* SPAN_MOVED_* (central_move.c, central_move_in) */
    uint64_t bits[];       /* free bitmap, ceil(nobjs / 64) words */
};

/* Bytes of metadata per span of a class with nobjs objects. */
static inline size_t span_stride(uint32_t nobjs)
{
    return PA_ROUNDUP(sizeof(struct span) + ((nobjs + 63) / 64) * 8, 16);
}

/* Largest metadata stride of any class, for reserving the metadata range:
 * the record of a span with the most objects (sizeclass.h). */
#define SPAN_STRIDE_MAX (sizeof(struct span) + SC_SPAN_NOBJS_MAX / 64 * 8)

/* Objects free in s (its set bits), for checking the law above: DEBUG
 * builds only, it reads every word. */
static inline uint32_t span_free_bits(const struct span *s, uint32_t words)
{
    uint32_t n = 0;
    for (uint32_t w = 0; w < words; w++)
        n += (uint32_t)__builtin_popcountll(s->bits[w]);
    return n;
}

/* Offset of an owned pointer within its class's slice. */
static inline uintptr_t span_slice_offset(const void *p)
{
    return ((uintptr_t)p - region_g.base) & (region_slice_size() - 1);
}

#endif
