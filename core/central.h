/* SPDX-License-Identifier: MIT */
/*
 * central.h - the central list of a size class: the spans of its slice and
 * the objects free in them, shared by all CPUs under one lock per class.
 *
 * CPU caches refill from here and drain to here in batches (sc_batch), so the
 * lock is taken once per batch, not once per object. A bounded stack of
 * pointers, the transfer stack (tcmalloc's transfer cache), takes what caches
 * drain and gives it to the next refill without touching a span: a program
 * that frees ten thousand objects and allocates them again moves pointers,
 * not bits. The flush gives each CPU's victim back here; central_release()
 * (and the flush thread's central_release_idle()) empties the transfer stack
 * into the spans (so nothing idles in it longer than a generation) and hands
 * the pages of spans left empty back to the OS.
 *
 * Lists: `partial` (doubly linked: a free can empty a span anywhere in it),
 * `empty`, `aging` and `released` (used from the head; `released` is sorted
 * by span index, lowest first, so reuse keeps the spans in use packed low and
 * the spans that empty later neighbours, given back in one madvise a run). A full span is on no
 * list; the free that makes it partial again puts it back at the head.
 *
 * Which empty spans a periodic flush releases (the flush thread's; an explicit
 * flush, central_release(), releases every empty span): only idle ones. A span
 * the program's own frees emptied a moment ago is likely to be wanted again at
 * once, and giving its pages back only to fault them in again costs a page
 * fault per 4 KiB (python3 under make bench: half as many minor faults again,
 * about 38k instead of 26k, for the 50 MiB it emptied just before a flush). So
 * the two empty lists are two ages, and the flush turns them over:
 *
 *     empty - became empty since the last flush; while a flush runs (from
 *             central_age to central_release_idle): the spans it releases
 *     aging - became empty during the period the last flush ended: kept by
 *             it, released by the next one
 *
 *     flush start (central_age): the transfer stack and the deferred frees
 *                     into the spans (they are the period's own frees), then
 *                     empty <-> aging: the spans that already waited a period
 *                     are now on `empty`, to go; those the period that just
 *                     ended emptied wait on `aging`
 *     victims drained to central: spans they empty go onto `empty`
 *     after the drain (central_release_idle): the transfer stack (now the
 *                     victims' objects) into the spans, then every span on
 *                     `empty` is released; `aging` stays
 *
 * So the flush that ends period k releases a span if the victim drain emptied
 * it (its objects sat a whole period unused in a victim) or if it has been
 * empty since before the previous flush; a span emptied during period k goes
 * at the next flush unless it is reused before. A reused span loses its age:
 * it leaves its list, and the free that empties it again puts it on `empty`.
 * An object freed in generation N has therefore left the pools and reached
 * the OS (if its span has nothing else out) by the flush that ends N+1: from
 * a cache through the victim drain, or dropped to central during N and
 * released one flush after it. The program's frees that race with a flush's
 * drain count as the drain's.
 *
 *     objs_out   == sum over spans of used      (in programs' hands, cached, or
 *                                               on the transfer stack)
 *     xfer_count <= xfer_cap
 *     spans_live == spans not released          (their pages may be resident)
 *     released: span indices strictly ascending along next
 *     free objects in live spans == spans_live * nobjs - objs_out
 *
 * A pointer given back is decoded and checked here, when it reaches the
 * transfer stack or its span: not the start of an object of a span in use
 * ("invalid pointer"), or an object that is free in its span (never handed
 * out, or freed already: "double free") is reported on stderr and the
 * process aborts, as glibc does. Before that, free() itself rejects an
 * address that is not an object's start or lies at or above the class's
 * carving frontier (sizeclass.h: a span never made, a slot never carved),
 * and the caches one freed again while it is still the top of its CPU's
 * stack (the common free(p); free(p)). What the fast path leaves: a slot
 * below the frontier that is free in its span, or an object freed twice
 * further down a cache, is noticed when it reaches central (a drop or the
 * flush, within two generations); POOLALLOC_CHECK=1 (no caches) checks every
 * free against the span before anything else.
 *
 * Lock order: a CPU cache's lock, then a central lock; never the other way.
 * Deferred frees (from a signal handler that interrupted the allocator on its
 * own thread) are pushed lock-free on `deferred` and taken in under the lock.
 */
#ifndef POOLALLOC_CENTRAL_H
#define POOLALLOC_CENTRAL_H

#include <stdatomic.h>

#include "lock.h"
#include "span.h"

struct central {
    pa_lock lock;
    uint32_t cls;
    uint32_t size;           /* object size */
    uint32_t nobjs;          /* objects per span */
    uint32_t spans_made;     /* spans ever taken from the slice */
    uint32_t first;          /* index of the first of them: the class's colour (region.h) */
    uint32_t spans_max;      /* spans the slice can hold (indices below it) */
    uint32_t meta_committed; /* bytes of span metadata made writable */
    uint32_t stride;         /* bytes per span record */
    uint32_t words;          /* bitmap words per span */
    char *meta;              /* span records, indexed by span number */
    struct span *first_rec;  /* but span `first`'s record is here (central_init) */
    void **xfer;             /* transfer stack */
    uint32_t xfer_count, xfer_cap;
    struct span *partial, *empty, *aging, *released;
    uint64_t objs_out;
    uint64_t spans_live;     /* spans not released */
    uint64_t released_bytes; /* cumulative bytes given back to the OS */
    uint64_t releases;       /* cumulative spans released */
    uint64_t release_calls;  /* cumulative madvise calls releasing them (one per run) */
    uint32_t spans_idle;     /* spans on `empty` and `aging` (a hint for central_move_in) */
    uint64_t moves_out;      /* cumulative spans whose pages moved to another class */
    uint64_t moved_bytes;    /* cumulative bytes of those pages */
    _Atomic(void *) deferred;
} PA_ALIGNED;

extern struct central central_g[SC_COUNT];

/* Sets up the central list of every class whose size <= max_size; with
 * check (POOLALLOC_CHECK), without transfer stacks and without moving pages
 * between classes (a moved page would hold another class's poison). */
void central_init(size_t max_size, int check);

static inline struct span *central_span(const struct central *ce, size_t index)
{
    return index == ce->first ? ce->first_rec : (struct span *)(ce->meta + index * ce->stride);
}

enum central_mode {
    CENTRAL_EXISTING,   /* only spans already in use: free objects, then carving */
    CENTRAL_GROW,       /* may also take an empty, released or new span */
};

/* Takes up to `want` objects of class cls into out[]. Returns how many; *fresh
 * is set to how many of them were never handed out before (they come after the
 * others in out[]). 0 means none in this mode (in CENTRAL_GROW: the slice is exhausted or
 * pages could not be committed). Takes and releases the class's lock. */
unsigned central_alloc(unsigned cls, unsigned want, void **out, enum central_mode mode,
                       unsigned *fresh);

/* Gives n objects of class cls back to their spans. Takes the lock. */
void central_free(unsigned cls, void *const *objs, unsigned n);

/* Async-signal-safe give-back of one object, for a free that interrupted the
 * allocator on its own thread. Taken in at the next central_free/flush. */
/* "poolalloc: free(): WHY 0x..." on stderr, then abort(). */
PA_COLD __attribute__((noreturn)) void central_bad_free(const void *p, const char *why);

void central_defer(unsigned cls, void *p);

/* POOLALLOC_CHECK=1, before a freed object is poisoned: the same check a
 * give-back makes (a span in use, the object out of it), reported and
 * aborted as a bad free. Takes the lock; does nothing if this thread holds
 * it already (a signal handler inside the allocator). */
void central_check_out(unsigned cls, const void *p);

/* Empties the transfer stack into the spans, then gives the pages of every
 * empty span of class cls back to the OS, however recently it became empty
 * (an explicit flush, a test). Returns the bytes given back. Takes the lock;
 * madvise runs outside it. */
size_t central_release(unsigned cls);

/* The periodic flush's two steps (see "Which empty spans" above): central_age
 * before the CPUs' victims are drained to central, central_release_idle
 * after. The latter is central_release() for the idle spans only: those on
 * `empty` after the transfer stack went into the spans. Both take the lock;
 * madvise runs outside it. The caller holds the flush lock, so that no other
 * flush turns the lists over between the two. */
void central_age(unsigned cls);
size_t central_release_idle(unsigned cls);

/* A new flush generation: pages may move between classes again, up to the
 * budget of a generation (central_move.c, central_move_in). */
void central_moves_refill(void);

/* For fork: take or reset every central lock. */
void central_lock_all(void);
void central_unlock_all(void);
void central_reset_all(void);

#endif
