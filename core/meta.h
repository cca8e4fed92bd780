/* SPDX-License-Identifier: MIT */
/*
 * meta.h - memory for the allocator's own bookkeeping (per-CPU caches and
 * their slot arrays), from mmap, never from malloc.
 *
 * A bump allocator over 256 KiB chunks; nothing is ever given back (per-CPU
 * structures live as long as the process). Returned memory is zeroed.
 */
#ifndef POOLALLOC_META_H
#define POOLALLOC_META_H

#include <stddef.h>
#include <stdint.h>

/* size bytes aligned to 128, zeroed; NULL if mmap fails. Thread-safe. */
void *meta_alloc(size_t size);

/* Bytes of metadata mapped so far (for the stats). */
uint64_t meta_mapped(void);

void meta_lock_for_fork(void);
void meta_unlock_after_fork(int child);

#endif
