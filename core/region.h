/* SPDX-License-Identifier: MIT */
/*
 * region.h - the reserved virtual region and the page map.
 *
 * At init one range of address space is reserved (PROT_NONE, so it costs no
 * memory and no commit charge) and cut into equal slices, one per size
 * class. A span is carved from its class's slice; pages are made
 * writable when a span is first used and given back with madvise when a span
 * is left empty.
 *
 * Because every class owns one slice and spans are a power of two aligned to
 * their size, the page map is arithmetic, not a table:
 *
 *     owned(p)  <=>  p - base < size                  (one subtraction, one compare)
 *     class(p)   =   (p - base) >> slice_shift
 *     span(p)    =   ((p - base) & (slice - 1)) >> span_shift[class]
 *
 * So free() decodes a pointer with no memory access besides the region
 * descriptor, and a pointer from glibc, from mmap or from before we loaded is
 * never mistaken for ours: ownership is the address range, never a header.
 *
 * Colours: slices are 4 GiB apart, so the same offset in two slices has the
 * same low virtual page number bits, the bits a TLB picks its set by. Were
 * every class's spans to start at its slice's start, the pages a program
 * uses most (every class's first spans) would crowd into a few TLB sets and
 * evict each other: on this machine 40 classes x 16 pages read at random
 * took 24 ns an access against 5.3 ns for the same pages side by side
 * (docs/performance.md). So class c's spans start c x REGION_COLOUR_STEP
 * into its slice (rounded up to a span), and its span metadata c % 16 pages
 * into its metadata slice: the first spans of all the classes then lie
 * side by side in page-number terms, as they would in one heap. The spans
 * before a class's first are never made; free() refuses them as it refuses
 * any address past the carving frontier (sizeclass.h, sc_layout).
 *
 * Span metadata lives in a second reservation, away from user data, so an
 * overflowing program cannot scribble on it: per class an array of struct
 * span indexed by span number, committed as spans are first used.
 *
 * If the reservation fails (RLIMIT_AS, a small address space under valgrind)
 * the slice is halved until it fits; if nothing fits, size is 0, nothing is
 * owned, and every request passes through to the C library.
 */
#ifndef POOLALLOC_REGION_H
#define POOLALLOC_REGION_H

#include "sizeclass.h"
#include "util.h"

/* Only the classes: reserved space counts against an address-space limit
 * (ulimit -v), under which the region takes a quarter of it at most. */
#define REGION_SLICES         SC_COUNT
#define REGION_SLICE_SHIFT_MAX 32   /* 4 GiB per class, 352 GiB reserved */
#define REGION_SLICE_SHIFT_MIN 22   /* 4 MiB per class, 352 MiB reserved */
#define REGION_COLOUR_STEP ((size_t)64 * 1024)  /* class c's spans start c x this into its slice */
#define REGION_META_COLOURS 16      /* class c's span records start c % this pages in */

struct region {
    uintptr_t base;      /* start of the data region */
    uintptr_t size;      /* bytes reserved; 0 if the reservation failed */
    unsigned slice_shift;
    char *meta;          /* span metadata reservation */
    size_t meta_slice;   /* bytes of metadata reserved per class */
};

extern struct region region_g PA_HIDDEN;

/* Reserves the data and metadata ranges. Returns 0, or -1 if nothing could be
 * reserved (then region_g.size == 0 and region_owns() is always false). */
int region_init(void);

static inline int region_owns(const void *p)
{
    return (uintptr_t)p - region_g.base < region_g.size;
}

/* Class of an owned pointer. */
static inline unsigned pagemap_class(const void *p)
{
    return (unsigned)(((uintptr_t)p - region_g.base) >> region_g.slice_shift);
}

static inline char *region_slice(unsigned cls)
{
    return (char *)(region_g.base + ((uintptr_t)cls << region_g.slice_shift));
}

static inline size_t region_slice_size(void)
{
    return (size_t)1 << region_g.slice_shift;
}

/* Makes [addr, addr+len) readable and writable. Page-aligned arguments.
 * Returns 0, or -1 (errno from mprotect: ENOMEM under a commit limit). */
int region_commit(void *addr, size_t len);

/* Gives the pages of [addr, addr+len) back to the OS; they read as zero when
 * next touched. MADV_DONTNEED rather than MADV_FREE: the drop in RSS is
 * immediate and visible to the user and to tests, where MADV_FREE leaves the
 * pages counted until the kernel is short of memory. */
void region_decommit(void *addr, size_t len);

#endif
