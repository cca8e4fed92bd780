/* SPDX-License-Identifier: MIT */
/*
 * preload.h - what the exported malloc family shares with init.c.
 *
 * Init is lazy and idempotent: the first request of any thread runs it (the
 * gate in core.h is closed until then). Requests that arrive while it runs,
 * and every other way into the allocator from inside it: reentry.h.
 */
#ifndef POOLALLOC_PRELOAD_H
#define POOLALLOC_PRELOAD_H

#include <stddef.h>

#include "../core/options.h"

#define PA_EXPORT __attribute__((visibility("default")))

/* glibc's own entry points, exported by libc.so.6 since 2.2.5. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern int __libc_mallopt(int, int);

extern struct opt_values opt_g;

/* Runs init if nobody has; returns at once if it is done or under way. */
void init_slow(void);

/* The same without the start: for a free, and for the poolalloc.h calls
 * (init.c: a free never starts a thread). */
void init_slow_no_start(void);

/* For a free that missed the cache while the gate is closed, called by
 * `caller` (free's return address; NULL: unknown): init_slow_no_start(),
 * and in a fork child that inherited pools and has freed a real amount, its
 * flush thread, unless the free comes from the C library or the dynamic
 * loader (init.c, the fork). */
void init_free_miss(const void *caller);

/* Usable size of a block glibc allocated (its malloc_usable_size). */
size_t init_libc_usable(void *p);

/* The same read from glibc's chunk header: the size word before the block,
 * whose bit 1 marks an mmapped chunk (two header words, not one). What
 * glibc's own malloc_usable_size computes on x86-64, without the call. */
static inline size_t libc_chunk_usable(const void *p)
{
    size_t head = ((const size_t *)p)[-1];
    size_t chunk = head & ~(size_t)7;
    return chunk - ((head & 2) ? 2 * sizeof(size_t) : sizeof(size_t));
}

#endif
