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
 * empties the transfer stack into the spans (so nothing idles in it longer
 * than a generation) and hands the pages of spans left empty back to the OS.
 *
 * Lists: `partial` (doubly linked: a free can empty a span anywhere in it),
 * `empty` and `released` (used from the head). A full span is on no list;
 * the free that makes it partial again puts it back at the head.
 *
 *     objs_out   == sum over spans of used      (in programs' hands, cached, or
 *                                               on the transfer stack)
 *     xfer_count <= xfer_cap
 *     spans_live == spans not released          (their pages may be resident)
 *     free objects in live spans == spans_live * nobjs - objs_out
 *
 * A pointer given back is decoded and checked here: not the start of an object
 * of a span in use ("invalid pointer") or already free ("double free") is
 * reported on stderr and the process aborts, as glibc does. Before that,
 * free() itself rejects an address that is not an object's start
 * (sc_object_start), and the caches one freed again while it is still the
 * top of its CPU's stack (the common free(p); free(p)); one freed twice
 * further down a cache is noticed only when it reaches its span.
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
    uint32_t spans_max;      /* spans the slice can hold */
    uint32_t meta_committed; /* bytes of span metadata made writable */
    uint32_t stride;         /* bytes per span record */
    uint32_t words;          /* bitmap words per span */
    char *meta;              /* span records, indexed by span number */
    void **xfer;             /* transfer stack */
    uint32_t xfer_count, xfer_cap;
    struct span *partial, *empty, *released;
    uint64_t objs_out;
    uint64_t spans_live;     /* spans not released */
    uint64_t released_bytes; /* cumulative bytes given back to the OS */
    uint64_t releases;       /* cumulative spans released */
    _Atomic(void *) deferred;
} PA_ALIGNED;

extern struct central central_g[SC_COUNT];

/* Sets up the central list of every class whose size <= max_size; with
 * no_xfer, without transfer stacks. */
void central_init(size_t max_size, int no_xfer);

static inline struct span *central_span(const struct central *ce, size_t index)
{
    return (struct span *)(ce->meta + index * ce->stride);
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

/* Empties the transfer stack into the spans, then gives the pages of every
 * empty span of class cls back to the OS. Returns the bytes given back. Takes
 * the lock; madvise runs outside it. */
size_t central_release(unsigned cls);

/* For fork: take or reset every central lock. */
void central_lock_all(void);
void central_unlock_all(void);
void central_reset_all(void);

#endif
