/* SPDX-License-Identifier: MIT */
/*
 * glibc_calls.h - glibc's introspection calls (malloc_trim, mallinfo2,
 * mallinfo, malloc_stats, malloc_info), answered for both heaps a preloaded
 * program has: glibc's, which holds what passes through, and the pools.
 *
 * Each call runs glibc's own first (found in libc.so.6 itself, at the
 * first such call, as init.c finds malloc_usable_size) and adds poolalloc's
 * figures; docs/api.md and poolalloc(3) say which field holds what. None is
 * for a signal handler or a hot loop (each reads the whole allocator).
 */
#ifndef POOLALLOC_GLIBC_CALLS_H
#define POOLALLOC_GLIBC_CALLS_H

#include <stddef.h>

struct stats_snapshot;

/* api.c: a snapshot of the allocator, in pages of its own (no lock, no
 * malloc); NULL if they cannot be mapped. Give it back with
 * api_snapshot_drop() (NULL is fine). */
const struct stats_snapshot *api_snapshot_take(void);
void api_snapshot_drop(const struct stats_snapshot *s);

/* api.c: the full flush: enough generations that nothing freed before the
 * call stays in a CPU's cache or victim, then every empty span goes back to
 * the OS. Returns the bytes given back. */
size_t api_flush_full(void);

#endif
