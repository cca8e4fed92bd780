/* SPDX-License-Identifier: MIT */
/* central.c - spans and their free objects per class (see central.h). */
#include "central.h"

#include <stdlib.h>

#include "central_spans.h"
#include "log.h"
#include "meta.h"

/* Transfer stack per class: up to 128 KiB of objects, at most 4096. */
#define XFER_BYTES (128u * 1024)
#define XFER_MAX   4096u

/* Index of class c's first span: its colour (region.h), c x
 * REGION_COLOUR_STEP into the slice rounded up to a span, or 0 where that
 * would take more than a quarter of a small fallback slice. */
static uint32_t first_span(unsigned c, uint32_t spans_max)
{
    unsigned shift = sc_span_shift[c];
    uint32_t first = (uint32_t)((c * REGION_COLOUR_STEP + ((size_t)1 << shift) - 1) >> shift);
    return first <= spans_max / 4 ? first : 0;
}

/*
 * Every class's first span record lies in one block, side by side, each on
 * cache lines of its own; the class's other records in its own range of the
 * metadata reservation, as before. A program that uses a class a little
 * (one span) then writes 128-640 bytes of the block for it, not a page of
 * its own: the 86 classes' first records take 12 KiB. Measured on
 * redis-server under `make bench`'s load, whose classes mostly have one
 * span: 54 pages of records -> 8 (its classes with more spans) plus the
 * block, peak RSS -0.25 MiB of 16.4. Not every record side by side: a
 * class with thousands of spans (sqlite3's page cache) would then write a
 * page per record, +3.8 MiB there when tried. Without the block's memory,
 * the records stay in the classes' ranges.
 */
static void first_records(void)
{
    size_t total = 0;
    for (unsigned c = 0; c < SC_COUNT; c++)
        if (central_g[c].spans_max)
            total += PA_ROUNDUP(central_g[c].stride, PA_CACHELINE);
    char *block = total ? meta_alloc(total) : NULL;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct central *ce = &central_g[c];
        ce->first_rec = (struct span *)(ce->meta + (size_t)ce->first * ce->stride);
        if (block && ce->spans_max) {
            ce->first_rec = (struct span *)block;
            block += PA_ROUNDUP(ce->stride, PA_CACHELINE);
        }
    }
}

void central_init(size_t max_size, int check)
{
    central_moves_init(check);
    size_t slice = region_slice_size();
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct central *ce = &central_g[c];
        ce->cls = c;
        ce->size = sc_size[c];
        ce->nobjs = (uint32_t)(((size_t)1 << sc_span_shift[c]) / sc_size[c]);
        ce->words = (ce->nobjs + 63) / 64;
        ce->stride = (uint32_t)span_stride(ce->nobjs);
        ce->meta = region_g.meta + c * region_g.meta_slice + (c % REGION_META_COLOURS) * PA_PAGE;
        /* A class above max_size, or whose span does not fit the slice (a
         * tiny fallback region), gets no spans: its requests pass through. */
        if (region_g.size == 0 || sc_size[c] > max_size || ((size_t)1 << sc_span_shift[c]) > slice)
            ce->spans_max = 0;
        else
            ce->spans_max = (uint32_t)(slice >> sc_span_shift[c]);
        ce->first = first_span(c, ce->spans_max);
        sc_layout.start[c] = ((uint64_t)c << region_g.slice_shift) +
                             ((uint64_t)ce->first << sc_span_shift[c]);
        uint32_t cap = check ? 0 : XFER_BYTES / ce->size;
        if (cap > XFER_MAX)
            cap = XFER_MAX;
        /* No stack (NULL, cap 0) if its memory cannot be had: spans only. */
        ce->xfer = ce->spans_max && cap ? meta_alloc(cap * sizeof(void *)) : NULL;
        ce->xfer_cap = ce->xfer ? cap : 0;
        PA_ASSERT(ce->stride <= SPAN_STRIDE_MAX &&
                      (c % REGION_META_COLOURS) * PA_PAGE + (size_t)ce->spans_max * ce->stride <=
                          region_g.meta_slice,
                  "central: span metadata fits its reservation");
    }
    first_records();
}

/* A span never used before: commit its metadata record (unless it lies in
 * the first records' block, which is writable already: no mprotect, and the
 * class's range of the reservation stays one mapping until a second span)
 * and its pages. */
static struct span *span_new(struct central *ce)
{
    uint32_t index = ce->first + ce->spans_made;
    if (index >= ce->spans_max)
        return NULL;
    struct span *s = central_span(ce, index);
    size_t need = PA_ROUNDUP((size_t)(index + 1) * ce->stride, PA_PAGE);
    if (s == (struct span *)(ce->meta + (size_t)index * ce->stride) && need > ce->meta_committed) {
        if (region_commit(ce->meta + ce->meta_committed, need - ce->meta_committed))
            return NULL;
        ce->meta_committed = (uint32_t)need;
    }
    s->index = index;
    if (region_commit(central_span_base(ce, s), (size_t)1 << sc_span_shift[ce->cls]))
        return NULL;
    for (uint32_t w = 0; w < ce->words; w++)
        s->bits[w] = ~0ull;
    if (ce->nobjs % 64)
        s->bits[ce->words - 1] = (1ull << (ce->nobjs % 64)) - 1;
    s->used = s->hw = 0;
    s->scan = 0;
    s->moved = 0;
    s->list = SPAN_NONE;
    /* Read without the lock by flush_run: an atomic store. */
    __atomic_store_n(&ce->spans_made, ce->spans_made + 1, __ATOMIC_RELAXED);
    return s;
}

/* The next span to serve from, taking a new one in CENTRAL_GROW mode. */
static struct span *span_pick(struct central *ce, enum central_mode mode)
{
    if (ce->partial)
        return ce->partial;
    /* The youngest empty span first: its pages are the likeliest to be in
     * the CPU's caches, and the older ones are those a flush gives back. */
    struct span *s = ce->empty;
    if (s) {
        central_list_remove(&ce->empty, s);
        central_idle_add(ce, -1);
    } else if ((s = ce->aging) != NULL) {
        central_list_remove(&ce->aging, s);
        central_idle_add(ce, -1);
    } else if (mode == CENTRAL_GROW) {
        s = ce->released;   /* the lowest released span: see release_spans */
        if (s) {
            PA_ASSERT(!s->next || s->next->index > s->index,
                      "central: released span indices strictly ascending");
            central_list_remove(&ce->released, s);
        }
        else if ((s = span_new(ce)) == NULL)
            return NULL;
        ce->spans_live++;
        central_move_in(ce, s);
    } else {
        return NULL;
    }
    central_list_push(&ce->partial, s, SPAN_PARTIAL);
    return s;
}

/* Up to want free objects of s, lowest address first. Lock held. */
static unsigned span_take(struct central *ce, struct span *s, void **out, unsigned want,
                          unsigned *fresh)
{
    char *base = central_span_base(ce, s);
    unsigned got = 0, i = s->scan;
    uint32_t hw = s->hw;
    for (; i < ce->words && got < want; i++) {
        uint64_t w = s->bits[i];
        while (w && got < want) {
            uint32_t idx = i * 64 + (uint32_t)__builtin_ctzll(w);
            w &= w - 1;
            out[got++] = base + (size_t)idx * ce->size;
            if (idx >= hw) {
                hw = idx + 1;
                (*fresh)++;
            }
        }
        s->bits[i] = w;
        if (w)
            break;
    }
    s->scan = (uint16_t)i;
    if (hw != s->hw) {
        /* Fresh objects: raise the class's carving frontier (sizeclass.h). */
        uint64_t end = (uint64_t)(base - (char *)region_g.base) + (uint64_t)hw * ce->size -
                       sc_layout.start[ce->cls];
        if (end > sc_layout.carved[ce->cls])
            __atomic_store_n(&sc_layout.carved[ce->cls], end, __ATOMIC_RELAXED);
        s->hw = hw;
    }
    s->used += got;
    PA_ASSERT(s->used + span_free_bits(s, ce->words) == ce->nobjs,
              "span: used + popcount(bits) == nobjs");
    return got;
}

static void take_deferred(struct central *ce);

unsigned central_alloc(unsigned cls, unsigned want, void **out, enum central_mode mode,
                       unsigned *fresh)
{
    struct central *ce = &central_g[cls];
    unsigned got = 0;

    *fresh = 0;
    lock_take(&ce->lock);
    take_deferred(ce);
    /* Pointers on the transfer stack are already out of their spans. */
    /* xfer_count is read by the stats without the lock: atomic stores. */
    uint32_t top = ce->xfer_count;
    unsigned from_xfer = top < want ? top : want;
    for (unsigned i = 0; i < from_xfer; i++)
        out[i] = ce->xfer[top - from_xfer + i];
    __atomic_store_n(&ce->xfer_count, top - from_xfer, __ATOMIC_RELAXED);
    if (from_xfer == want) {
        lock_give(&ce->lock);
        return want;
    }
    got = from_xfer;
    unsigned from_spans_start = got;
    while (got < want) {
        struct span *s = span_pick(ce, mode);
        if (!s)
            break;
        got += span_take(ce, s, out + got, want - got, fresh);
        if (s->used == ce->nobjs)
            central_list_remove(&ce->partial, s);   /* full: on no list until a free */
    }
    ce->objs_out += got - from_spans_start;
    PA_ASSERT(ce->spans_live <= ce->spans_made, "central: spans_live <= spans made");
    lock_give(&ce->lock);
    return got;
}

void central_bad_free(const void *p, const char *why)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: free(): ");
    log_str(&b, why);
    log_str(&b, " ");
    log_hex(&b, (uint64_t)(uintptr_t)p);
    log_str(&b, "\n");
    log_flush(&b, 2);
    abort();
}

/* The span of an object given back, checked against the span's state: p
 * must start an object (free() checked that already; a deferred free comes
 * the same way) of a span that was made, and the object must be out of it
 * (its free bit clear: in a program's hands, a cache or the transfer stack).
 * A slot that is free in its span (never handed out since the span was made
 * or released, or freed already) is a bad free. *idx gets the object's
 * index. Lock held. */
static struct span *span_of_out(const struct central *ce, const void *p, uint64_t *idx)
{
    size_t sidx = span_slice_offset(p) >> sc_span_shift[ce->cls];
    *idx = sc_object_index(ce->cls, (uintptr_t)p - region_g.base);   /* as free() checks */
    if (unlikely(sidx - ce->first >= ce->spans_made || *idx >= ce->nobjs))
        central_bad_free(p, "invalid pointer (not an object of a span in use)");
    struct span *s = central_span(ce, sidx);
    PA_ASSERT(s->index == sidx && s->used <= ce->nobjs, "span: index and 0 <= used <= nobjs");
    if (unlikely(s->bits[*idx >> 6] & (1ull << (*idx & 63))))
        central_bad_free(p, "double free or invalid pointer (free in its span)");
    return s;
}

void central_check_out(unsigned cls, const void *p)
{
    struct central *ce = &central_g[cls];
    uint64_t idx;
    /* A signal handler that interrupted this thread inside the class's lock
     * cannot look: the give-back checks the same when the free is taken in. */
    if (lock_mine(&ce->lock))
        return;
    lock_take(&ce->lock);
    span_of_out(ce, p, &idx);
    lock_give(&ce->lock);
}

/* n objects back to their spans, with the class's constants in locals: the
 * stores into span records would otherwise make the compiler load every
 * one of them again per object. The same checks as span_of_out(), which
 * says why when one fails. Lock held. */
static void give_back_run(struct central *ce, void *const *objs, unsigned n)
{
    const char *meta = ce->meta;
    struct span *rec0 = ce->first_rec;
    size_t stride = ce->stride, slice_mask = region_slice_size() - 1;
    uintptr_t base = region_g.base;
    unsigned shift = sc_span_shift[ce->cls];
    uint32_t first = ce->first, made = ce->spans_made, nobjs = ce->nobjs;
    uint64_t span_mask = sc_layout.span_mask[ce->cls], inv = sc_layout.inv[ce->cls];
    unsigned k = (unsigned)sc_layout.shift[ce->cls];
    for (unsigned i = 0; i < n; i++) {
        uintptr_t off = (uintptr_t)objs[i] - base;
        size_t sidx = (off & slice_mask) >> shift;
        uint64_t idx = sc_index_of(off, span_mask, inv, k);
        struct span *s = sidx == first ? rec0 : (struct span *)(meta + sidx * stride);
        uint64_t bit = 1ull << (idx & 63);
        if (unlikely(sidx - first >= made || idx >= nobjs || (s->bits[idx >> 6] & bit)))
            span_of_out(ce, objs[i], &idx);   /* reports and aborts */
        s->bits[idx >> 6] |= bit;
        if (idx >> 6 < s->scan)
            s->scan = (uint16_t)(idx >> 6);
        uint32_t used = s->used;
        PA_ASSERT(used > 0 && ce->objs_out >= used, "central: objs_out == sum over spans of used");
        if (unlikely(used == nobjs))
            central_list_push(&ce->partial, s, SPAN_PARTIAL);
        s->used = --used;
        if (unlikely(used == 0)) {
            central_list_remove(&ce->partial, s);
            central_list_push(&ce->empty, s, SPAN_EMPTY);
            central_idle_add(ce, 1);
        }
        PA_ASSERT(s->used + span_free_bits(s, ce->words) == nobjs,
                  "span: used + popcount(bits) == nobjs");
    }
    ce->objs_out -= n;
}

static void take_deferred(struct central *ce)
{
    if (likely(atomic_load_explicit(&ce->deferred, memory_order_relaxed) == NULL))
        return;
    void *p = atomic_exchange_explicit(&ce->deferred, NULL, memory_order_acquire);
    while (p) {
        void *next = *(void **)p;
        give_back_run(ce, &p, 1);
        p = next;
    }
}

void central_free(unsigned cls, void *const *objs, unsigned n)
{
    struct central *ce = &central_g[cls];
    lock_take(&ce->lock);
    take_deferred(ce);
    uint32_t top = ce->xfer_count;
    unsigned room = ce->xfer_cap - top;
    unsigned to_xfer = n < room ? n : room;
    /* An object parked on the transfer stack stays out of its span, so its
     * span is read, not written: a slot that is free in its span, which a
     * program freed into a cache, is caught here, before the stack hands it
     * out again. Every pointer here passed free()'s checks (an object's
     * start, below the carving frontier: its span was made), so the check is
     * the bit alone; span_of_out() says why when it is set. */
    /* Locals: the stores to the stack would otherwise reload every one. */
    const char *meta = ce->meta;
    const struct span *rec0 = ce->first_rec;
    void **xfer = ce->xfer;   /* NULL when the class has no stack: then to_xfer is 0 */
    size_t stride = ce->stride, slice_mask = region_slice_size() - 1, first = ce->first;
    unsigned shift = sc_span_shift[cls];
    for (unsigned i = 0; i < to_xfer; i++) {
        uintptr_t off = (uintptr_t)objs[i] - region_g.base;
        uint64_t idx = sc_object_index(cls, off);
        size_t sidx = (off & slice_mask) >> shift;
        const struct span *s = sidx == first ? rec0 : (const struct span *)(meta + sidx * stride);
        if (unlikely(s->bits[idx >> 6] & (1ull << (idx & 63))))
            span_of_out(ce, objs[i], &idx);
        xfer[top + i] = objs[i];
    }
    __atomic_store_n(&ce->xfer_count, top + to_xfer, __ATOMIC_RELAXED);
    PA_ASSERT(ce->xfer_count <= ce->xfer_cap, "central: xfer_count <= xfer_cap");
    give_back_run(ce, objs + to_xfer, n - to_xfer);
    lock_give(&ce->lock);
}

void central_defer(unsigned cls, void *p)
{
    struct central *ce = &central_g[cls];
    void *head = atomic_load_explicit(&ce->deferred, memory_order_relaxed);
    do {
        *(void **)p = head;
    } while (!atomic_compare_exchange_weak_explicit(&ce->deferred, &head, p,
                                                    memory_order_release,
                                                    memory_order_relaxed));
}

/* The transfer stack and the deferred frees into the spans. Lock held. */
void central_take_all_in(struct central *ce)
{
    take_deferred(ce);
    give_back_run(ce, ce->xfer, ce->xfer_count);
    __atomic_store_n(&ce->xfer_count, 0, __ATOMIC_RELAXED);
}

void central_lock_all(void)
{
    for (unsigned c = 0; c < SC_COUNT; c++)
        lock_take(&central_g[c].lock);
}

void central_unlock_all(void)
{
    for (unsigned c = SC_COUNT; c-- > 0;)
        lock_give(&central_g[c].lock);
}

void central_reset_all(void)
{
    for (unsigned c = 0; c < SC_COUNT; c++)
        lock_reset(&central_g[c].lock);
}
