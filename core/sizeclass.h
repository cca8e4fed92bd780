/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.h - the table of size classes and the size -> class lookup.
 *
 * Classes are multiples of 16 (every object is 16-byte aligned): 16..128 in
 * steps of 16, then four classes per power of two up to 1 KiB (160, 192,
 * 224, 256, 320, ... 1024), eight per power of two from 1 to 4 KiB (1152,
 * 1280, ... 2048, 2304, ... 4096) and one just above 1 and 2 KiB (1040,
 * 2064: sqlite3 asks for 1,032 bytes 111k times in make bench's workload).
 * Above 4 KiB, where a span holds 8 to 15 objects, each class is its span
 * shared by n objects, n = 15..9, rounded down to 16 bytes, then the next
 * power of two (n = 8): 4368, 4672, 5040, 5456, 5952, 6544, 7280, 8192,
 * 8736, ... 256 KiB. A span there leaves less than 16 bytes an object
 * unused (evenly spaced classes left up to 5.6 KiB of a 64 KiB span), and
 * a 4 KiB page with its header, 4,368 bytes in sqlite's page cache, is
 * exactly 64 KiB / 15. 86 classes in all.
 *
 * Waste (class - request) / class, over every request size 1..32 KiB taken
 * equally often: 4.56 % on average, 4.71 % counting each span's unused end
 * (the evenly spaced classes: 4.26 % and 8.16 %). The worst single request
 * is 1 byte in the 16-byte class; between 128 bytes and 1 KiB the worst is
 * 19.8 % (513 bytes get 640), above 1 KiB 11.1 % (29,121 bytes get 32,768).
 * tests/unit/sizeclass.c recomputes these figures.
 *
 * Every class that is a power of two is also aligned to itself inside a span
 * (spans are aligned to their size, which is a larger power of two), which is
 * how memalign() is served from pools: see sc_for_alignment().
 *
 * Per class the table also fixes the span size (a power of two >= 64 KiB
 * holding at least 8 objects) and the batch moved between a CPU cache and the
 * central list in one locked operation.
 */
#ifndef POOLALLOC_SIZECLASS_H
#define POOLALLOC_SIZECLASS_H

#include "util.h"

#define SC_COUNT     86
#define SC_MAX_SIZE  (256u * 1024)   /* largest class: POOLALLOC_MAX_SIZE may not exceed it */
#define SC_SMALL_MAX 1024u           /* sizes <= this are looked up in sc_small, the rest in sc_large */
#define SC_MIN_SIZE  16u             /* smallest class, and every object's alignment */
#define SC_FIT_MIN   4096u           /* above it, classes fit their span (span / n) */

/* Spans and batches (sc_init; the bounds other files size buffers and
 * reservations by, checked in invariants.h): */
#define SC_SPAN_SHIFT_MIN 16         /* the smallest span: 64 KiB */
#define SC_SPAN_OBJS_MIN  8          /* a span holds at least this many objects */
#define SC_SPAN_NOBJS_MAX ((1u << SC_SPAN_SHIFT_MIN) / SC_MIN_SIZE)   /* the most objects in a span */
#define SC_BATCH_MIN      2          /* objects one batch moves, at least */
#define SC_BATCH_MAX      64         /* ... and at most */

extern uint32_t sc_size[SC_COUNT];       /* object size of a class */
extern uint8_t sc_span_shift[SC_COUNT];  /* log2 of the span size */
extern uint16_t sc_batch[SC_COUNT];      /* objects moved per central transfer */
extern uint8_t sc_small[SC_SMALL_MAX / 16 + 1] PA_HIDDEN;

/* What free() needs to tell an object's start from any other address: spans
 * of a class are aligned to their size (2^sc_span_shift) inside the region,
 * so an address's offset x in its span is (address - region base) & span_mask,
 * and it starts an object when x = i * size with i < objects per span.
 *
 * One multiply decides it. Write size = 2^k * m, m odd, and inv for the
 * inverse of m modulo 2^64. For x = i * size, x * inv = i * 2^k (mod 2^64),
 * which rotated right by k is i. For any x that is not a multiple of size,
 * the rotated product is above (2^64 - 1) / size, far above the object
 * count (multiplication by inv is a bijection that maps the multiples of m
 * onto the small numbers; the rotation moves x's low bits to the top). So
 *     ror(x * inv, k) < nobjs   <=>   x starts an object
 * (the classic divisibility test by multiplication; tests/unit/sizeclass.c
 * checks every offset of every class). */
/* An entry for every slice of the region (REGION_SLICES, one per class), so
 * free() needs no range check of its own beyond the region's; the entries
 * past the last class have no objects (nobjs 0). Six arrays in one object
 * rather than an array of structs: one base address, and each field is
 * base + 8 * class + a constant, with no multiply by an entry size.
 *
 * `start` is the offset from the region's base of the class's first span
 * (its colour: region.h), set once by central_init(). `carved` is the one
 * field that changes: the bytes from `start` just past the highest object
 * the class has ever handed out (central.c raises it under the class's lock
 * when a span carves a fresh object; it never falls). Every object a
 * program may free lies in [start, start + carved), so free() refuses
 * anything else with one subtraction and one compare (off - start >= carved,
 * unsigned: below start wraps to a huge number): a span never made, before
 * the first or past the newest, or a slot beyond the carving frontier, is a
 * bad free at once, not an object a cache would hand out again (two owners)
 * or a page that faults later. It is a bound, not the span's state: a slot
 * inside it that is free in its span is caught when the object reaches
 * central (central.c), or at once under POOLALLOC_CHECK=1. The store and the
 * racy load are relaxed: a free of an object another thread carved is
 * ordered after the carving by the program's own hand-over of the pointer. */
#define SC_LAYOUT_ENTRIES 128
struct sc_layout {
    uint64_t span_mask[SC_LAYOUT_ENTRIES];   /* 2^sc_span_shift - 1 */
    uint64_t inv[SC_LAYOUT_ENTRIES];         /* inverse of the odd part of the size, mod 2^64 */
    uint64_t nobjs[SC_LAYOUT_ENTRIES];       /* objects per span: the tail past them is no object */
    uint64_t shift[SC_LAYOUT_ENTRIES];       /* k: the size's trailing zero bits */
    uint64_t start[SC_LAYOUT_ENTRIES];       /* the class's first span (region.h, colours) */
    uint64_t carved[SC_LAYOUT_ENTRIES];      /* from start, past the highest object handed out */
};
extern struct sc_layout sc_layout PA_HIDDEN;

/* sc_object_index() with the class's span_mask, inv and shift given: for a
 * loop over many objects of one class that keeps them in locals. */
static inline uint64_t sc_index_of(uintptr_t off, uint64_t span_mask, uint64_t inv, unsigned k)
{
    uint64_t q = (off & span_mask) * inv;
    return (q >> k) | (q << ((64 - k) & 63));
}

/* The index in its span of the object that starts at `off` (an address minus
 * the region's base, in slice cls); any address that starts no object of
 * class cls gives a number >= nobjs. */
static inline uint64_t sc_object_index(uintptr_t cls, uintptr_t off)
{
    return sc_index_of(off, sc_layout.span_mask[cls], sc_layout.inv[cls],
                       (unsigned)sc_layout.shift[cls]);
}

/* 1 if `off` is the start of an object of class cls; 0 for any address in a
 * slice past the classes. */
static inline int sc_object_start(uintptr_t cls, uintptr_t off)
{
    return sc_object_index(cls, off) < sc_layout.nobjs[cls];
}
extern uint8_t sc_large[SC_MAX_SIZE / 16 + 1] PA_HIDDEN;

/* Fills the tables but sc_large. Idempotent; called at every preloaded
 * process's start, before any lookup. */
void sc_init(void);

/* Fills sc_large. Idempotent; called when the pools start (core.c): no
 * request above SC_SMALL_MAX is looked up before the gate opens, and a
 * short-lived process that never starts them does not write its 16 KiB. */
void sc_init_large(void);

/* Class of a request of n bytes; n must be 1..SC_MAX_SIZE. Two table loads,
 * no loop: tcmalloc's two-table scheme. */
static inline unsigned sc_of(size_t n)
{
    if (likely(n <= SC_SMALL_MAX))
        return sc_small[(n + 15) >> 4];
    return sc_large[(n + 15) >> 4];
}

/* Smallest class holding n bytes whose objects are all aligned to `align`
 * (a power of two, 16 < align <= 4096), or -1 if no class <= max does. */
int sc_for_alignment(size_t n, size_t align, size_t max);

#endif
