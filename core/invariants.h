/* SPDX-License-Identifier: MIT */
/*
 * invariants.h - the layout facts core/ relies on, checked by the compiler.
 *
 * Run-time laws (counts, bitmaps, caps) are PA_ASSERT (util.h) at the points
 * where they must hold, on under DEBUG=1; the facts here cannot change at run
 * time, so each is a _Static_assert and costs nothing; a change that breaks
 * one fails the build, not a program. It stands above what it checks, so it
 * is included from above too: cache.c and cache_rseq.c (the sequences' C
 * side), never from the lower files it checks.
 */
#ifndef POOLALLOC_INVARIANTS_H
#define POOLALLOC_INVARIANTS_H

#include <stddef.h>

#include "cache_batch.h"
#include "cpu.h"
#include "region.h"
#include "span.h"

/* rseq_x86_64.h: the sequences read a cache_class entry at fixed offsets
 * (count at 0, slots at 8; cap and the counters are passed as immediates),
 * find an entry as table[cpu] + cls * sizeof, and commit a 32-bit count. */
_Static_assert(offsetof(struct cache_class, count) == 0, "rseq asm: count at offset 0");
_Static_assert(offsetof(struct cache_class, slots) == 8, "rseq asm: slots at offset 8");
_Static_assert(sizeof(((struct cache_class *)0)->count) == 4, "rseq asm: count is a u32 (movl)");
_Static_assert(sizeof(((struct cache_class *)0)->cap) == 4, "rseq asm: cap is a u32 (cmpl)");
_Static_assert(sizeof(((struct cache_class *)0)->scratch) == 8, "rseq asm: counters are u64 (incq/addq)");
_Static_assert(sizeof(((struct cache_class *)0)->ctr.frees) == 8, "rseq asm: counters are u64 (incq/addq)");
_Static_assert((sizeof(struct cache_class) & (sizeof(struct cache_class) - 1)) == 0,
               "cache_class: a power of two, so a class's offset is a shift");

#if CPU_HAVE_RSEQ
#include <linux/rseq.h>
/* The ABI the sequences use through %fs:__rseq_offset (rseq_x86_64.h), and
 * the descriptor they emit: {u32 version, u32 flags, u64 start_ip,
 * u64 post_commit_offset, u64 abort_ip}, 32 bytes, 32-byte aligned. */
_Static_assert(offsetof(struct rseq, cpu_id) == 4, "rseq ABI: cpu_id at offset 4");
_Static_assert(offsetof(struct rseq, rseq_cs) == 8, "rseq ABI: rseq_cs at offset 8");
_Static_assert(offsetof(struct rseq_cs, start_ip) == 8 &&
                   offsetof(struct rseq_cs, post_commit_offset) == 16 &&
                   offsetof(struct rseq_cs, abort_ip) == 24 && sizeof(struct rseq_cs) == 32,
               "rseq ABI: the descriptor RSEQ_CS_DESCRIPTOR emits");
#endif

/* Classes and slices (sizeclass.h, region.h): free() decodes any address
 * of the region to a slice number and reads sc_layout at it, so there is an
 * entry for every slice, and a slice for every class; the lookup tables hold
 * a class in a byte. */
_Static_assert(SC_LAYOUT_ENTRIES >= REGION_SLICES, "sizeclass: a layout entry for every region slice");
_Static_assert(SC_COUNT <= REGION_SLICES, "region: a slice for every class");
_Static_assert(SC_COUNT <= 256, "sizeclass: sc_small and sc_large hold a class in a u8");

/* Span sizes (sizeclass.h): the smallest span holds the most objects, and
 * the metadata range reserves SPAN_STRIDE_MAX per smallest span (region.c). */
_Static_assert(SC_SPAN_NOBJS_MAX * SC_MIN_SIZE == 1u << SC_SPAN_SHIFT_MIN,
               "span: the most objects are the smallest class in the smallest span");
_Static_assert(SC_SPAN_NOBJS_MAX % 64 == 0, "span: the fullest bitmap is whole words");
_Static_assert(SPAN_STRIDE_MAX % 16 == 0 && SPAN_STRIDE_MAX >= sizeof(struct span) + SC_SPAN_NOBJS_MAX / 8,
               "span: SPAN_STRIDE_MAX holds the record of the fullest span (span_stride)");
_Static_assert(SC_SPAN_NOBJS_MAX <= 65536, "span: a bitmap word index fits span.scan (u16)");

/* Buffers sized by the batch (sizeclass.h): a refill brings a batch for the
 * cache and one object for the caller; an RSEQ-mode drain sends a batch and p. */
_Static_assert(CACHE_BUF_MAX >= SC_BATCH_MAX + 1, "cache: a refill fits buf[CACHE_BUF_MAX]");
_Static_assert(CACHE_DRAIN_MAX >= SC_BATCH_MAX + 1, "cache: a drain fits buf[CACHE_DRAIN_MAX]");
_Static_assert(SC_BATCH_MIN >= 1 && SC_BATCH_MAX <= CACHE_SLOTS_MAX, "cache: a batch fits a stack");

#endif
