/*
 * glibc_calls.h - glibc's introspection calls (malloc_trim, mallinfo2,
 * mallinfo, malloc_stats, malloc_info), answered for both heaps a preloaded
 * program has: glibc's, which holds what passes through, and the pools.
 *
 * Each call runs glibc's own first (found in libc.so.6 itself, at the
 * constructor, as init.c finds malloc_usable_size) and adds poolalloc's
 * figures; docs/api.md and poolalloc(3) say which field holds what. None is
 * for a signal handler or a hot loop (each reads the whole allocator).
 */
#ifndef POOLALLOC_GLIBC_CALLS_H
#define POOLALLOC_GLIBC_CALLS_H

#include <stddef.h>

struct stats_snapshot;

/* Finds glibc's own introspection calls. From the constructor (a clean
 * context for dlopen/dlsym); the calls also run it the first time they are
 * made before it. Idempotent, never allocates under an allocator lock. */
void glibc_calls_init(void);

/* api.c: one snapshot of the allocator in a static buffer, under a lock the
 * caller gives back with api_snapshot_release(). No malloc, no stdio, until
 * then. */
const struct stats_snapshot *api_snapshot_hold(void);
void api_snapshot_release(void);

/* api.c: the full flush: enough generations that nothing freed before the
 * call stays in a CPU's cache or victim, then every empty span goes back to
 * the OS. Returns the bytes given back. */
size_t api_flush_full(void);

#endif
