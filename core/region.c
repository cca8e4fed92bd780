/* SPDX-License-Identifier: MIT */
/* region.c - reservation of the data and metadata ranges (see region.h). */
#include "region.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "span.h"

struct region region_g;

static void *reserve(size_t len, size_t align)
{
    /* Over-reserve by `align` and trim, so the result is aligned to it. */
    char *p = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t start = PA_ROUNDUP((uintptr_t)p, align);
    size_t head = start - (uintptr_t)p;
    if (head)
        munmap(p, head);
    size_t tail = align - head;
    if (tail)
        munmap((char *)start + len, tail);
    return (void *)start;
}

int region_init(void)
{
    /* Under an address-space limit (ulimit -v) take at most a quarter of it:
     * reserved space counts against the limit, and the C library needs room
     * for the large requests that pass through. */
    struct rlimit rl;
    size_t cap = SIZE_MAX;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cap = (size_t)rl.rlim_cur / 4;

    for (unsigned shift = REGION_SLICE_SHIFT_MAX; shift >= REGION_SLICE_SHIFT_MIN; shift--) {
        size_t slice = (size_t)1 << shift;
        /* Metadata per class: the largest span record per smallest span. */
        size_t meta_slice = PA_ROUNDUP((slice >> SC_SPAN_SHIFT_MIN) * SPAN_STRIDE_MAX, PA_PAGE) +
                            REGION_META_COLOURS * PA_PAGE;
        if ((slice + meta_slice) * REGION_SLICES > cap)
            continue;
        void *meta = reserve(meta_slice * REGION_SLICES, PA_PAGE);
        if (!meta)
            continue;
        /* Aligned to the slice: each span is then aligned to its own size. */
        void *data = reserve(slice * REGION_SLICES, slice);
        if (!data) {
            munmap(meta, meta_slice * REGION_SLICES);
            continue;
        }
        region_g.meta = meta;
        region_g.meta_slice = meta_slice;
        region_g.slice_shift = shift;
        region_g.base = (uintptr_t)data;
        region_g.size = slice * REGION_SLICES;
        return 0;
    }
    region_g.size = 0;
    return -1;
}

int region_commit(void *addr, size_t len)
{
    return mprotect(addr, len, PROT_READ | PROT_WRITE);
}

void region_decommit(void *addr, size_t len)
{
    int saved = errno;
    madvise(addr, len, MADV_DONTNEED);
    errno = saved;
}
