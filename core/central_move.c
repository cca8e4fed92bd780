/* SPDX-License-Identifier: MIT */
/* central_move.c - pages moved between classes: a class that grows takes
 * the pages of another class's idle span instead of faulting in fresh ones
 * (see central_move_in below, and docs/how-it-works.md). */
#define _GNU_SOURCE   /* mremap, MREMAP_DONTUNMAP */
#include "central.h"

#include <errno.h>
#include <sys/mman.h>

#include "central_spans.h"

/* Page moves between classes: on unless POOLALLOC_CHECK, off for good
 * after the kernel refuses one. */
static int moves_on;

void central_moves_init(int check)
{
    moves_on = !check;
}

/* Spans that may get a kernel mapping of their own from a move (each such
 * span costs the process up to two: docs/how-it-works.md). */
#define MOVE_SPANS_MAX 2048u
static uint32_t move_spans;

/* Bytes that may move per flush generation. A move costs a syscall (and a
 * TLB shootdown) where reusing a class's own empty span costs nothing, so a
 * program whose phases trade the same memory between two classes would pay
 * one per span at every switch: the budget bounds that to 128 moves of
 * 64 KiB a period (~1.4 ms of a 1 s period at ~11 us a move). sqlite3's
 * run (`make bench`) moves 3.1 MiB in all; python3's 20 MiB, in spans of
 * 256 KiB and more, over two generations. */
#define MOVE_BYTES_PER_GENERATION ((int64_t)8 << 20)
/* Signed: classes move under their own locks, so two may both pass the test
 * and take their span; it ends at most a span per thread below zero. */
static int64_t move_budget = MOVE_BYTES_PER_GENERATION;

void central_moves_refill(void)
{
    __atomic_store_n(&move_budget, MOVE_BYTES_PER_GENERATION, __ATOMIC_RELAXED);
}

/* An idle span of d (its `aging` one first: emptied the longer ago), taken
 * off its list, and its touched bytes in *len; NULL if none. d's lock held. */
static struct span *donor_take(struct central *d, size_t *len)
{
    struct span **lists[2] = {&d->aging, &d->empty};
    for (int i = 0; i < 2; i++) {
        struct span *v = *lists[i];
        if (!v)
            continue;
        *len = central_span_touched(d, v);
        if (*len == 0)
            continue;
        central_list_remove(lists[i], v);
        central_idle_add(d, -1);
        return v;
    }
    return NULL;
}

/*
 * A class grows by a span with no pages (new or released) while another
 * class with spans of the same size has an empty span that still holds its
 * pages, waiting for a flush to give them back: the kernel moves the whole
 * span under the new one (mremap with MREMAP_DONTUNMAP, Linux >= 5.7, which
 * leaves the old range mapped and empty), so the growth takes no fresh page
 * faults and the process's memory does not grow by the other class's idle
 * pages. The donor span becomes released. Whole spans of one size only: the
 * moved range becomes a mapping of its own, exactly one span, so a span's
 * range is always inside one mapping, which mremap (before Linux 6.17)
 * needs of its source when that span gives its pages on in turn. The new
 * span's objects are still handed out as never used (their contents
 * undefined, as malloc's are; calloc clears its own).
 *
 * ce's lock held; another class's lock is only tried, never waited for (the
 * fork handler takes every class's lock in order, central_lock_all). The
 * syscall runs under both locks, as span_new's commit does under one: the
 * span must not be reachable before its pages are in place.
 */
void central_move_in(struct central *ce, struct span *s)
{
    if (!__atomic_load_n(&moves_on, __ATOMIC_RELAXED) || !central_idle_spans())
        return;
    if (!(s->moved & SPAN_MOVED_VMA) &&
        __atomic_load_n(&move_spans, __ATOMIC_RELAXED) >= MOVE_SPANS_MAX)
        return;
    size_t room = (size_t)1 << sc_span_shift[ce->cls];
    static unsigned turn;   /* racy: only where the search starts */
    unsigned start = __atomic_load_n(&turn, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < SC_COUNT; i++) {
        unsigned c = (start + i) % SC_COUNT;
        struct central *d = &central_g[c];
        if (__atomic_load_n(&move_budget, __ATOMIC_RELAXED) < (int64_t)room)
            return;
        if (d == ce || sc_span_shift[c] != sc_span_shift[ce->cls] ||
            !__atomic_load_n(&d->spans_idle, __ATOMIC_RELAXED) || !lock_try(&d->lock))
            continue;
        size_t len;
        struct span *v = donor_take(d, &len);
        if (!v) {
            lock_give(&d->lock);
            continue;
        }
        int saved = errno;
        void *to = mremap(central_span_base(d, v), room, room,
                          MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, central_span_base(ce, s));
        errno = saved;
        if (to == MAP_FAILED) {
            /* An old kernel, a seccomp filter, the mapping limit: stay as
             * before, for good. */
            __atomic_store_n(&moves_on, 0, __ATOMIC_RELAXED);
            central_list_push(&d->aging, v, SPAN_EMPTY);
            central_idle_add(d, 1);
            lock_give(&d->lock);
            return;
        }
        __atomic_sub_fetch(&move_budget, (int64_t)room, __ATOMIC_RELAXED);
        struct span **link = &d->released, *prev = NULL;
        central_released_link(&link, &prev, v);
        d->spans_live--;
        __atomic_store_n(&d->moves_out, d->moves_out + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&d->moved_bytes, d->moved_bytes + len, __ATOMIC_RELAXED);
        lock_give(&d->lock);
        if (!(s->moved & SPAN_MOVED_VMA))
            __atomic_add_fetch(&move_spans, 1, __ATOMIC_RELAXED);
        s->moved |= SPAN_MOVED_PAGES | SPAN_MOVED_VMA;
        __atomic_store_n(&turn, c + 1, __ATOMIC_RELAXED);
        return;
    }
}
