/* SPDX-License-Identifier: MIT */
/* central_release.c - the central lists' empty spans given back to the OS:
 * all of them (central_release), or, at a periodic flush, the idle ones
 * after the lists turn over (central_age, central_release_idle; central.h
 * says which). The spans' pages go back with as few madvise calls as the
 * slice allows: sorted, gaps of released spans bridged, one call a run. */
#include "central_spans.h"

/* Detaches a list of empty spans: on no list, nothing can reach them while
 * the lock is dropped for the madvise calls (no object of theirs is out).
 * Lock held. */
static struct span *detach(struct central *ce, struct span **head, struct span *tail)
{
    struct span *list = *head;
    *head = NULL;
    struct span *last = NULL;
    int32_t n = 0;
    for (struct span *s = list; s; s = s->next) {
        s->list = SPAN_NONE;
        last = s;
        n++;
    }
    central_idle_add(ce, -n);
    if (last)
        last->next = tail;
    else
        list = tail;
    return list;
}

/* Two lists sorted by span index, as one. */
static struct span *merge_by_index(struct span *a, struct span *b)
{
    struct span *out = NULL, **tail = &out;
    while (a && b) {
        struct span **least = a->index < b->index ? &a : &b;
        *tail = *least;
        tail = &(*least)->next;
        *least = (*least)->next;
    }
    *tail = a ? a : b;
    return out;
}

/* A detached list (next links only) sorted by span index: a bottom-up merge
 * sort, O(n log n) and no memory but 32 list heads (bin k holds 2^k spans;
 * a class has fewer than 2^32). Chosen over a bitmap of the class's span
 * indices, which would need spans_max bits of metadata per class and a walk
 * over all of them however few spans go back. */
static struct span *sort_by_index(struct span *list)
{
    struct span *bin[32] = {NULL};
    while (list) {
        struct span *s = list;
        list = list->next;
        s->next = NULL;
        unsigned k = 0;
        for (; bin[k]; k++) {
            s = merge_by_index(bin[k], s);
            bin[k] = NULL;
        }
        bin[k] = s;
    }
    struct span *out = NULL;
    for (unsigned k = 0; k < 32; k++)
        if (bin[k])
            out = merge_by_index(bin[k], out);
    return out;
}

/* Gaps of at most this many released spans between two spans going back
 * are bridged (see bridge_gaps): the walk over their records is under the
 * lock, so it is bounded. */
#define BRIDGE_MAX 64u

/* Splices into a sorted detached list the spans of every gap between two of
 * its spans that is made of released spans only (at most BRIDGE_MAX), taking
 * them off `released` so that nothing reuses them while the lock is dropped:
 * a flush that gives back the neighbours of spans released before then covers
 * them in the same call. Their pages are gone already, and madvise over pages
 * that are not there zaps nothing and sends no shootdown (under a
 * microsecond a call, whatever the length). Lock held. */
static void bridge_gaps(struct central *ce, struct span *list)
{
    for (struct span *s = list; s && s->next; s = s->next) {
        uint32_t from = s->index + 1, to = s->next->index;
        if (from == to || to - from > BRIDGE_MAX)
            continue;
        uint32_t i = from;
        while (i < to && central_span(ce, i)->list == SPAN_RELEASED)
            i++;
        if (i < to)
            continue;
        struct span *next = s->next;
        for (i = from; i < to; i++) {
            struct span *g = central_span(ce, i);
            PA_ASSERT(g->hw == 0 && g->used == 0, "central: a released span has nothing out (hw == used == 0)");
            central_list_remove(&ce->released, g);
            s->next = g;
            s = g;
        }
        s->next = next;
    }
}

/* One madvise per run of neighbouring spans of a sorted list: from the first
 * span's base to the last one's touched end; the spans inside a run are
 * covered whole (their pages above hw were never touched: nothing to zap).
 * Returns the number of calls. */
static uint64_t decommit_runs(const struct central *ce, struct span *list)
{
    unsigned shift = sc_span_shift[ce->cls];
    uint64_t runs = 0;
    for (struct span *s = list; s;) {
        struct span *last = s;
        while (last->next && last->next->index == last->index + 1)
            last = last->next;
        size_t len = ((size_t)(last->index - s->index) << shift) + central_span_touched(ce, last);
        region_decommit(central_span_base(ce, s), len);
        runs++;
        s = last->next;
    }
    return runs;
}

/* Gives the pages of a detached list back to the OS, then puts its spans on
 * `released`. The cost of madvise is per call (each one a TLB shootdown on
 * every CPU the process runs on), hardly per page, so the spans are sorted by
 * index, gaps of released spans between them are bridged, and each run of
 * neighbours in the slice goes back in one call. Takes the lock around the
 * bridging and after the madvise calls, never during them. */
static size_t release_spans(struct central *ce, struct span *list)
{
    if (!list)
        return 0;
    list = sort_by_index(list);
    size_t bytes = 0;
    uint64_t count = 0;
    for (struct span *s = list; s; s = s->next) {
        PA_ASSERT(s->used == 0 && s->list == SPAN_NONE, "central: only a span with nothing out is released");
        bytes += central_span_touched(ce, s);
        count++;
    }
    lock_take(&ce->lock);
    bridge_gaps(ce, list);
    lock_give(&ce->lock);

    uint64_t runs = decommit_runs(ce, list);

    /* Into `released` (the bridged spans back too), kept sorted by index:
     * span_pick reuses the lowest first, so the spans in use stay packed at
     * the bottom of the slice and the ones that empty later lie side by side.
     * The merge walks the released spans below the highest one given back:
     * O(n + m), once per release. */
    lock_take(&ce->lock);
    struct span **link = &ce->released, *prev = NULL;
    for (struct span *s = list; s;) {
        struct span *next = s->next;
        central_released_link(&link, &prev, s);
        s = next;
    }
    ce->spans_live -= count;
    ce->released_bytes += bytes;
    ce->releases += count;
    ce->release_calls += runs;
    lock_give(&ce->lock);
    return bytes;
}

size_t central_release(unsigned cls)
{
    struct central *ce = &central_g[cls];
    lock_take(&ce->lock);
    central_take_all_in(ce);
    struct span *list = detach(ce, &ce->empty, detach(ce, &ce->aging, NULL));
    lock_give(&ce->lock);
    return release_spans(ce, list);
}

void central_age(unsigned cls)
{
    struct central *ce = &central_g[cls];
    lock_take(&ce->lock);
    central_take_all_in(ce);   /* the period's own frees: spans they empty wait too */
    struct span *t = ce->empty;
    ce->empty = ce->aging;
    ce->aging = t;
    lock_give(&ce->lock);
}

size_t central_release_idle(unsigned cls)
{
    struct central *ce = &central_g[cls];
    lock_take(&ce->lock);
    central_take_all_in(ce);
    struct span *list = detach(ce, &ce->empty, NULL);
    lock_give(&ce->lock);
    return release_spans(ce, list);
}
