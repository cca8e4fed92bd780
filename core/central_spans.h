/* SPDX-License-Identifier: MIT */
/*
 * central_spans.h - what the two halves of the central lists share, and no
 * one else: central.c (spans taken, objects handed out and given back, pages
 * moved between classes) defines these; central_release.c (empty spans'
 * pages given back to the OS, and the flush's ageing of them) uses them.
 * Every one runs with the class's lock held.
 */
#ifndef POOLALLOC_CENTRAL_SPANS_H
#define POOLALLOC_CENTRAL_SPANS_H

#include "central.h"

/* Takes s off the list at *head (doubly linked); s is then on no list. */
void central_list_remove(struct span **head, struct span *s);

/* The first byte of span s of ce's class. */
char *central_span_base(const struct central *ce, const struct span *s);

/* n spans onto (n > 0) or off (n < 0) ce's `empty` and `aging` lists. */
void central_idle_add(struct central *ce, int32_t n);

/* The transfer stack and the deferred frees into their spans. */
void central_take_all_in(struct central *ce);

/* Bytes of s a program may have touched: below the high-water object, or
 * the whole span if its pages came from another class. */
size_t central_span_touched(const struct central *ce, const struct span *s);

/* Links s into ce's `released` list, kept sorted by index, at or after
 * *link (whose span before is *prev), and leaves both just past s: a sorted
 * list of spans merges in one walk. Resets s's use (hw, scan, moved pages). */
void central_released_link(struct span ***link, struct span **prev, struct span *s);

#endif
