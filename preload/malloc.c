/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - the malloc family as the program sees it, and the routing:
 *
 *   request of 1..max_size bytes  -> the pools (cache_alloc)
 *   larger, or pools unavailable  -> glibc (__libc_*), counted as pass-through
 *   free/realloc/usable size      -> by address: inside the region is ours,
 *                                    anything else is glibc's
 *   a sampled request (sample.h)  -> glibc, recorded with its stack; free()
 *                                    finds it on the foreign-pointer path
 *
 * glibc's side (the pass-through, sampled requests, foreign frees) is
 * passthrough.c; this file decides, and keeps the fast paths.
 *
 * Semantics follow glibc 2.36 where C leaves a choice: malloc(0) is a unique
 * pointer, realloc(p, 0) frees and returns NULL, memalign rounds a
 * non-power-of-two alignment up and so does aligned_alloc (glibc 2.36's is
 * memalign), posix_memalign refuses it with EINVAL. Every failure is NULL with
 * errno = ENOMEM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cache.h"
#include "../core/core.h"
#include "../core/log.h"
#include "../core/region.h"
#include "../core/sizeclass.h"
#include "../sampler/sample.h"
#include "../stats/stats.h"
#include "passthrough.h"
#include "preload.h"
#include "reentry.h"

/* The gate is closed: run init or the start (preload/init.c), or reopen it. */
static PA_NOINLINE void gate_slow(void)
{
    init_slow();
    core_attend();
}

static PA_NOINLINE void *malloc_slow(size_t n)
{
    if (core_gate == 0)
        gate_slow();
    if (n == 0)
        n = 1;
    if (n <= core_gate) {
        void *p = cache_alloc(sc_of(n));
        if (p)
            return p;
    }
    return libc_pass(n, 0, 0);
}

/* The cache's fast path did not serve (or LOCKED mode): out of line, so that
 * malloc itself saves no register. */
static PA_NOINLINE void *malloc_miss(size_t n, unsigned cls)
{
    void *p = cache_alloc_miss(cls);
    return likely(p) ? p : libc_pass(n, 0, 0);
}

/* malloc_miss() with the class found again here, so that no register holds
 * it across the fast path. */
static PA_NOINLINE void *malloc_miss_sized(size_t n)
{
    return malloc_miss(n, sc_of(n));
}

/* This thread's sampling countdown ran out (sample.h). */
static PA_NOINLINE void *malloc_sample_slow(size_t n)
{
    if (sample_due(n))
        return sample_alloc(n, 0, 0);
    return malloc_slow(n);
}

static inline __attribute__((always_inline)) void *pa_malloc(size_t n)
{
    /* Every request counts against the sampling countdown: a TLS subtract
     * and a branch, the slow half a tail call. */
    if (unlikely(sample_tick(n)))
        return malloc_sample_slow(n);
    /* n - 1 < gate: 1..max_size while open; 0 and everything else go slow.
     * The small gate first: one compare, and it picks the size table. */
    unsigned cls;
    if (likely(n - 1 < core_gate_small))
        cls = sc_small[(n + 15) >> 4];
    else if (n - 1 < core_gate)
        cls = sc_large[(n + 15) >> 4];
    else
        return malloc_slow(n);
    /* Either mode's common case has no call in it, so malloc saves no
     * register; everything else is one tail call. */
    void *p;
#if CPU_HAVE_RSEQ
    if (likely(cache_rseq_offset)) {
        p = cache_alloc_fast(cls);
        if (likely(p))
            return p;
        return malloc_miss_sized(n);
    }
#endif
    p = cache_alloc_locked_try(cls);
    if (likely(p))
        return p;
    return malloc_miss_sized(n);
}

/* "poolalloc: free(): invalid pointer 0x... (why)", then abort(). */
static PA_COLD void bad_start(const char *what, const void *p, unsigned cls)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: ");
    log_str(&b, what);
    log_str(&b, "(): invalid pointer ");
    log_hex(&b, (uint64_t)(uintptr_t)p);
    if (cls >= SC_COUNT) {
        log_str(&b, " (inside the pool region but not in a class in use)\n");
    } else if (sc_object_start(cls, (uintptr_t)p - region_g.base)) {
        int before = (uintptr_t)p - region_g.base < sc_layout.start[cls];
        log_str(&b, before ? " (never handed out: before the first "
                           : " (never handed out: beyond every ");
        log_u64(&b, sc_size[cls]);
        log_str(&b, before ? "-byte object)\n" : "-byte object so far)\n");
    } else {
        log_str(&b, " (not the start of an object: inside a ");
        log_u64(&b, sc_size[cls]);
        log_str(&b, "-byte slot)\n");
    }
    log_flush(&b, 2);
    abort();
}

/* Class of an owned pointer, checked to be a class with spans, the start
 * of one of its objects, and below the class's carving frontier: an address
 * inside an object would otherwise enter a cache and be handed out again
 * overlapping its neighbours, and one never carved (a span never made, a slot
 * past the newest one) handed out to a second owner, or faulting later. */
static inline uintptr_t owned_class(const char *what, const void *p)
{
    _Static_assert(REGION_SLICES <= SC_LAYOUT_ENTRIES, "a layout entry for every slice");
    uintptr_t off = (uintptr_t)p - region_g.base;
    uintptr_t c = off >> region_g.slice_shift;   /* pagemap_class() */
    /* From the class's first span (below it wraps to a huge number). start
     * is a multiple of the class's span size, so the object-start check
     * reads the same offset in the span from it as from off. carved[] is
     * read without the class's lock: a plain load (it only rises, a word at
     * a time; see sizeclass.h), so that it folds into one compare with a
     * memory operand. */
    uintptr_t rel = off - sc_layout.start[c];
    if (unlikely(rel >= sc_layout.carved[c]) || unlikely(!sc_object_start(c, rel)))
        bad_start(what, p, (unsigned)c);
    return c;
}

/* The cache's fast path did not take it (or LOCKED mode). caller: free's
 * return address (NULL: unknown). */
static PA_NOINLINE void free_miss(unsigned cls, void *p, const void *caller)
{
    /* A program (a fork child, say) may only free for a long while: its
     * slow path reopens the gate too, and in a fork child may start its
     * flush thread (preload/init.c, init_free_miss). */
    if (unlikely(core_gate == 0)) {
        init_free_miss(caller);
        core_attend();
    }
    cache_free_miss(cls, p);
}

/* free_miss() for a pointer already checked by owned_class(): the class is
 * found again here, so that no register holds it across the fast path and
 * free() needs no prologue. The caller of free(): optimised, free() jumps
 * here (a tail call), so this function's return address is free()'s; were
 * it called instead, that address is in this library, which
 * init_free_miss() takes for unknown. Unoptimised, pa_free() passes it:
 * there, a frame costs nothing anyone measures. */
#ifdef __OPTIMIZE__
#define FREE_CALLER() NULL
#else
#define FREE_CALLER() __builtin_return_address(0)
#endif
static PA_NOINLINE void free_miss_owned(void *p, const void *caller)
{
    free_miss(pagemap_class(p), p, caller ? caller : __builtin_return_address(0));
}

static inline __attribute__((always_inline)) void pa_free(void *p)
{
    if (likely(region_owns(p))) {
        uintptr_t cls = owned_class("free", p);
#if CPU_HAVE_RSEQ
        if (likely(cache_rseq_offset)) {
            if (likely(cache_free_fast(cls, p)))
                return;
            free_miss_owned(p, FREE_CALLER());
            return;
        }
#endif
        if (likely(cache_free_locked_try(cls, p)))
            return;
        free_miss_owned(p, FREE_CALLER());
        return;
    }
    free_foreign(p);
}

static size_t pa_usable(void *p)
{
    if (!p)
        return 0;
    if (region_owns(p))
        return sc_size[owned_class("malloc_usable_size", p)];
    return init_libc_usable(p);
}

/* Alignment a power of two, > 16. */
static void *pa_aligned(size_t align, size_t n)
{
    if (unlikely(sample_tick(n)) && sample_due(n))
        return sample_alloc(n, align, 0);
    if (core_gate == 0)
        gate_slow();
    if (n <= core_gate && align <= PA_PAGE) {
        int c = sc_for_alignment(n, align, core_gate);
        if (c >= 0) {
            void *p = cache_alloc((unsigned)c);
            if (p)
                return p;
        }
    }
    return libc_pass(n, align, 0);
}

static void *pa_memalign(size_t align, size_t n)
{
    if (align <= 16)
        return pa_malloc(n);
    return pa_aligned(align, n);
}

static inline int is_pow2(size_t a)
{
    return a && !(a & (a - 1));
}

PA_EXPORT void *malloc(size_t n)
{
    return pa_malloc(n);
}

PA_EXPORT void free(void *p)
{
    pa_free(p);
}

PA_EXPORT void cfree(void *p)
{
    pa_free(p);
}

PA_EXPORT void *calloc(size_t n, size_t m)
{
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, m, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(sample_tick(total)) && sample_due(total))
        return sample_alloc(total, 0, 1);
    if (core_gate == 0)
        gate_slow();
    if (total - 1 < core_gate) {
        unsigned c = sc_of(total);
        void *p = cache_alloc(c);
        if (likely(p)) {
            /* The whole object: malloc_usable_size() promises it all. */
            memset(p, 0, sc_size[c]);
            return p;
        }
    }
    if (total == 0)
        return pa_malloc(0);   /* a unique pointer; no byte of it is the caller's */
    return libc_pass(total, 0, 1);
}

/* glibc's realloc of a glibc block. A pass-through was counted when it was
 * allocated: a resize is not another allocation. A sampled block leaves the
 * live table (its result is sampled only if the countdown says so); growth
 * counts against the countdown, and a result it samples is recorded with
 * this call's stack. The growth is measured with glibc's chunk header
 * (libc_chunk_usable): malloc_usable_size through a pointer was a fifth of
 * what this path added to glibc's realloc. */
static PA_NOINLINE void *realloc_libc_sampled(void *p, size_t n, const struct sample_obj *was)
{
    size_t have = libc_chunk_usable(p);
    sigset_t old;
    sample_libc_enter_quiet(&old);
    void *q = __libc_realloc(p, n);
    sample_libc_leave_quiet(&old);
    if (!q) {
        if (!sample_restore(p, was))
            stats_passthrough_alloc(have);
        errno = ENOMEM;
        return NULL;
    }
    if (!(n > have && unlikely(sample_tick(n - have)) && sample_due(n) && sample_record(q, n)))
        stats_passthrough_alloc(n);   /* a plain glibc block from here on */
    return q;
}

/* The countdown ran out on a resize: q is sampled if sample_due() says so. */
static PA_NOINLINE void realloc_libc_due(void *q, size_t n)
{
    if (sample_due(n) && sample_record(q, n))
        stats_passthrough_free();     /* left the pass-through figures for the samples */
}

/*
 * A glibc block that a program grows in small steps (a buffer that takes a
 * line, a string a character at a time) gets room for more: glibc is asked
 * for REALLOC_ROOM more than the request when the request grows the block by
 * less than REALLOC_SMALL_STEP of it, and every later request the block has
 * room for is answered with the block itself, without a call into glibc. A
 * call costs more than glibc alone would: once our flush thread exists,
 * glibc takes its arena's lock on every realloc of a heap block (about
 * 16 ns a call against 6 without a second thread: make bench's realloc
 * and realloc-2t rows under glibc). Growth by larger steps (python's lists
 * grow by an eighth) gets no room: it would only be memory held for
 * nothing. A request at most half the block goes to glibc, which gives the
 * rest back.
 */
#define REALLOC_SMALL_STEP(n) ((n) / 16)
#define REALLOC_ROOM(n)       ((n) / 8)

/* What to ask glibc for when a block of `have` usable bytes grows to n. */
static inline size_t realloc_ask(size_t n, size_t have)
{
    if (n > have && n - have < REALLOC_SMALL_STEP(n) && n < ((size_t)1 << 40))
        return n + REALLOC_ROOM(n);
    return n;
}

static PA_NOINLINE void *realloc_libc(void *p, size_t n)
{
    struct sample_obj was;
    if (unlikely(sample_forget(p, &was)))
        return realloc_libc_sampled(p, n, &was);
    size_t have = libc_chunk_usable(p);
    if (n <= have && n >= have / 2)
        return p;
    size_t ask = realloc_ask(n, have);
    /* The growth counts before the call: less to keep across it. */
    int due = n > have && unlikely(sample_tick(n - have));
    reentry_libc_enter();
    void *q = __libc_realloc(p, ask);
    if (unlikely(!q) && ask != n)
        q = __libc_realloc(p, n);   /* no room for the room: the request alone */
    reentry_libc_leave();
    if (unlikely(!q)) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(due))
        realloc_libc_due(q, n);
    return q;
}

/*
 * A block realloc makes above REALLOC_POOL_MAX is glibc's, even where the
 * pools would serve its size (POOLALLOC_MAX_SIZE goes to 256 KiB): a block
 * that grows by realloc is likely to grow again, and glibc extends a block
 * in place (into the free chunk after it, or the top of its heap) or moves
 * a mapped one by mremap, where a pool object must move to the next class
 * at every step and leave the one it left in a cache. Measured on python3
 * (PYTHONMALLOC=malloc), whose lists grow by realloc: with every realloc in
 * pools to 256 KiB its peak RSS was 7 % above glibc's; docs/performance.md.
 */
#define REALLOC_POOL_MAX (32u * 1024)

/* realloc's new block above REALLOC_POOL_MAX: glibc's, sampled as malloc's. */
static PA_NOINLINE void *realloc_libc_new(size_t n)
{
    if (unlikely(sample_tick(n)) && sample_due(n))
        return sample_alloc(n, 0, 0);
    return libc_pass(n, 0, 0);
}

/* realloc of one of our objects (n == 0 frees it). */
static PA_NOINLINE void *realloc_owned(void *p, size_t n)
{
    if (n == 0) {
        pa_free(p);
        return NULL;
    }
    unsigned c = owned_class("realloc", p);
    size_t have = sc_size[c];
    /* Same class: stay in place (shrinking below the class is a move, so
     * a big block shrunk to a few bytes does not pin its whole object). */
    if (n <= have && n - 1 < core_gate && sc_of(n) == c)
        return p;
    void *q;
    if (n > REALLOC_POOL_MAX) {
        size_t ask = realloc_ask(n, have);
        q = realloc_libc_new(ask);
        if (unlikely(!q) && ask != n)
            q = realloc_libc_new(n);
    } else {
        q = pa_malloc(n);
    }
    if (!q)
        return NULL;
    memcpy(q, p, n < have ? n : have);
    cache_free(c, p);
    return q;
}

/* realloc(NULL, n). */
static PA_NOINLINE void *realloc_null(size_t n)
{
    return pa_malloc(n);
}

/* glibc's block, resized to a size the pools serve (at most
 * REALLOC_POOL_MAX): it moves in. */
static PA_NOINLINE void *realloc_into_pools(void *p, size_t n)
{
    void *q = pa_malloc(n);
    if (!q)
        return NULL;
    size_t have = init_libc_usable(p);
    memcpy(q, p, n < have ? n : have);
    free_foreign(p);
    return q;
}

/* Only tests and jumps: every case has a function of its own, so that the
 * commonest, a glibc block that stays glibc's, pays no prologue here. */
PA_EXPORT void *realloc(void *p, size_t n)
{
    if (region_owns(p))
        return realloc_owned(p, n);
    if (!p)
        return realloc_null(n);
    if (n == 0) {
        free_foreign(p);
        return NULL;
    }
    if (n - 1 < core_gate && n <= REALLOC_POOL_MAX)
        return realloc_into_pools(p, n);
    return realloc_libc(p, n);
}

PA_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

PA_EXPORT void *memalign(size_t align, size_t n)
{
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    /* glibc rounds an alignment that is not a power of two up to one. */
    size_t a = 1;
    while (a < align)
        a <<= 1;
    return pa_memalign(a, n);
}

/* glibc 2.36's aligned_alloc is its memalign: an alignment that is not a
 * power of two is rounded up, not refused (2.38 refuses it; programs built
 * against 2.36 may rely on either, so the glibc we run on decides). */
PA_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

PA_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (!is_pow2(align) || align % sizeof(void *)) {
        return EINVAL;
    }
    int saved = errno;
    void *p = pa_memalign(align, n);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

PA_EXPORT void *valloc(size_t n)
{
    return pa_memalign(PA_PAGE, n);
}

PA_EXPORT void *pvalloc(size_t n)
{
    size_t rounded;
    if (__builtin_add_overflow(n, PA_PAGE - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(PA_PAGE - 1);
    return pa_memalign(PA_PAGE, rounded ? rounded : PA_PAGE);
}

PA_EXPORT size_t malloc_usable_size(void *p)
{
    return pa_usable(p);
}

/* 1 if p was served from poolalloc's pools (for tests and tools). */
PA_EXPORT int poolalloc_owns(const void *p)
{
    return region_owns(p);
}
