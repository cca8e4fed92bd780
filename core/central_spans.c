/* SPDX-License-Identifier: MIT */
/* central_spans.c - the class table and what its three parts share
 * (central_spans.h): the span lists' links, a span's address and touched
 * bytes, the count of idle spans. Calls nothing above it. */
#include "central.h"

#include "central_spans.h"

struct central central_g[SC_COUNT];

void central_list_push(struct span **head, struct span *s, enum span_list which)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
    s->list = (uint8_t)which;
}

void central_list_remove(struct span **head, struct span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->list = SPAN_NONE;
}

char *central_span_base(const struct central *ce, const struct span *s)
{
    return region_slice(ce->cls) + ((size_t)s->index << sc_span_shift[ce->cls]);
}

/* Spans on the `empty` and `aging` lists of all classes: while there are
 * none, a class that grows looks nowhere for pages (central_move.c). */
static uint32_t idle_spans;

void central_idle_add(struct central *ce, int32_t n)
{
    __atomic_store_n(&ce->spans_idle, ce->spans_idle + (uint32_t)n, __ATOMIC_RELAXED);
    __atomic_add_fetch(&idle_spans, (uint32_t)n, __ATOMIC_RELAXED);
}

uint32_t central_idle_spans(void)
{
    return __atomic_load_n(&idle_spans, __ATOMIC_RELAXED);
}

/* Bytes of s a program may have touched: below the high-water object. */
size_t central_span_touched(const struct central *ce, const struct span *s)
{
    if (s->moved & SPAN_MOVED_PAGES)
        return (size_t)1 << sc_span_shift[ce->cls];
    return PA_ROUNDUP((size_t)s->hw * ce->size, PA_PAGE);
}

/* Links s into `released` (sorted by index: span_pick reuses the lowest
 * first) at or after *link, whose span before is *prev, and leaves both just
 * past s: a sorted list merges in one walk, one span from the head. Lock
 * held. */
void central_released_link(struct span ***link, struct span **prev, struct span *s)
{
    while (**link && (**link)->index < s->index) {
        *prev = **link;
        *link = &(*prev)->next;
    }
    PA_ASSERT(!**link || (**link)->index > s->index,
              "central: released span indices strictly ascending");
    s->hw = 0;
    s->scan = 0;
    s->moved &= (uint8_t)~SPAN_MOVED_PAGES;
    s->list = SPAN_RELEASED;
    s->prev = *prev;
    s->next = **link;
    if (**link)
        (**link)->prev = s;
    **link = s;
    *prev = s;
    *link = &s->next;
}
