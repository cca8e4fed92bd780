/* SPDX-License-Identifier: MIT */
/*
 * torture_blocks.h - the live blocks of the torture (tests/stress/torture*.c): a slot,
 * the pattern a block carries, the checks every fresh allocation passes, and the random
 * sizes. Built on tests/preload/support/preload_test.h (pt_rand, pt_addr, pt_errno,
 * FAILF); everything is static inline.
 *
 * The pattern depends only on a block's id, never on its address: bytes [0,8) hold the
 * id, [8,16) the block's size (when it has 16 bytes), every other byte i is byte i of
 * the id's pattern stream. Memory handed out twice, moved wrongly or scribbled on by the
 * allocator shows up as a changed byte.
 */
#ifndef TORTURE_BLOCKS_H
#define TORTURE_BLOCKS_H

#include "../preload/support/preload_test.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

enum { EMPTY = 0, STABLE = 1, BUSY = 2 };

/*
 * One live block. state tells a fork child whether the other fields and the content are
 * consistent: the owner sets BUSY (then a full fence) before it touches the block and
 * STABLE (release) after, so a snapshot taken by fork never shows STABLE for a
 * half-written block.
 */
struct slot {
    unsigned char *p;
    size_t size;  /* bytes patterned: the request, or the usable size once grown */
    uint64_t id;
    size_t align; /* alignment the allocation promised */
    _Atomic int state;
};

static inline void slot_busy(struct slot *s)
{
    atomic_store_explicit(&s->state, BUSY, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

static inline void slot_set(struct slot *s, int state)
{
    atomic_store_explicit(&s->state, state, memory_order_release);
}

/* ---- the pattern ---------------------------------------------------------------- */

static inline uint64_t word_at(uint64_t id, size_t k)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 29)) + (uint64_t)k * 0xD6E8FEB86659FD93ull;
}

static inline unsigned char byte_at(uint64_t id, size_t i)
{
    return (unsigned char)(word_at(id, i >> 3) >> ((i & 7) * 8));
}

/* Write pattern bytes [from, to) of id. */
static inline void pattern_fill(unsigned char *p, size_t from, size_t to, uint64_t id)
{
    size_t i = from;
    for (; i < to && (i & 7); i++)
        p[i] = byte_at(id, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = word_at(id, i >> 3);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = byte_at(id, i);
}

/* Expected byte i of a block laid out for (id, size). */
static inline unsigned char expected(uint64_t id, size_t size, size_t i)
{
    if (size >= 16 && i < 16) {
        uint64_t hdr[2] = {id, size};
        return ((const unsigned char *)hdr)[i];
    }
    return byte_at(id, i);
}

/*
 * First offset in [0, limit) where p differs from the layout of (id, size), or -1.
 * The header is compared bytewise, the body a word at a time.
 */
static inline long layout_check(const unsigned char *p, size_t limit, uint64_t id, size_t size)
{
    size_t i = 0;
    size_t head = size >= 16 ? 16 : 0;
    for (; i < limit && (i < head || (i & 7)); i++)
        if (p[i] != expected(id, size, i))
            return (long)i;
    for (; i + 8 <= limit; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != word_at(id, i >> 3))
            break;
    }
    for (; i < limit; i++)
        if (p[i] != expected(id, size, i))
            return (long)i;
    return -1;
}

/* Lay out a whole block. */
static inline void layout_fill(unsigned char *p, size_t size, uint64_t id)
{
    if (size >= 16) {
        uint64_t hdr[2] = {id, size};
        memcpy(p, hdr, 16);
        pattern_fill(p, 16, size, id);
    } else {
        pattern_fill(p, 0, size, id);
    }
}

/* ---- random sizes and the checks of a fresh block ------------------------------- */

/* Sizes skewed small: most <= 1 KiB, some up to 64 KiB, a few (1 in 2000) 1 MiB and
 * more: exactly those of at least TORTURE_BIG bytes. */
#define TORTURE_BIG ((size_t)1 << 20)
static inline size_t rand_size(uint64_t *rng)
{
    uint64_t r = pt_rand(rng);
    unsigned pick = (unsigned)(r % 10000);
    r >>= 16;
    if (pick < 6000)
        return r % 129;
    if (pick < 9400)
        return r % 1025;
    if (pick < 9995)
        return 1025 + r % (65536 - 1025);
    return TORTURE_BIG + r % 65536;
}

/* The alignment malloc promises for n bytes. */
static inline size_t basic_align(size_t n)
{
    return n >= 16 ? 16 : n >= 8 ? 8 : 1;
}

static inline int aligned_to(const void *p, size_t a)
{
    return (pt_addr(p) & (a - 1)) == 0;
}

/* Checks every fresh allocation shares: non-NULL, aligned, usable >= n. Returns 0 only
 * for NULL (nothing to use); a misaligned or short block is reported and used. */
static inline int check_new(const void *p, size_t n, size_t align, const char *fn)
{
    if (!p) {
        FAILF("%s(%zu) returned NULL (errno %d)", fn, n, pt_errno());
        return 0;
    }
    if (!aligned_to(p, align))
        FAILF("%s(%zu) returned %p, not aligned to %zu", fn, n, p, align);
    size_t u = malloc_usable_size((void *)p);
    if (u < n)
        FAILF("%s(%zu) returned %p with malloc_usable_size %zu", fn, n, p, u);
    return 1;
}

static inline int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

#endif
