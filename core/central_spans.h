/* SPDX-License-Identifier: MIT */
/*
 * central_spans.h - what the three parts of the central lists share, and no
 * one else: central.c (spans taken, objects handed out and given back),
 * central_release.c (empty spans' pages given back to the OS, and the
 * flush's ageing of them) and central_move.c (pages moved between
 * classes). The list links, a span's address and touched bytes and the
 * idle count are central_spans.c's, below the three; central_take_all_in
 * is central.c's, central_move_in and central_moves_init central_move.c's.
 * Every one but central_moves_init and central_idle_spans runs with the
 * class's lock held.
 */
#ifndef POOLALLOC_CENTRAL_SPANS_H
#define POOLALLOC_CENTRAL_SPANS_H

#include "central.h"

/* Puts s at the head of the list at *head, which is list `which`. */
void central_list_push(struct span **head, struct span *s, enum span_list which);

/* Takes s off the list at *head (doubly linked); s is then on no list. */
void central_list_remove(struct span **head, struct span *s);

/* The first byte of span s of ce's class. */
char *central_span_base(const struct central *ce, const struct span *s);

/* n spans onto (n > 0) or off (n < 0) ce's `empty` and `aging` lists
 * (central_move.c: the count tells a growing class whether any class has
 * pages to give). */
void central_idle_add(struct central *ce, int32_t n);

/* Spans on the idle lists of all classes (read without a lock). */
uint32_t central_idle_spans(void);

/* Page moves on, unless check (POOLALLOC_CHECK). At init (central_init). */
void central_moves_init(int check);

/* s, a span ce just took with no pages (new or released), gets the pages
 * of another class's idle span of the same size if there is one and the
 * generation's budget allows: central_move.c. */
void central_move_in(struct central *ce, struct span *s);

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
