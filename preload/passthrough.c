/* SPDX-License-Identifier: MIT */
/* passthrough.c - what glibc serves for the malloc family (see passthrough.h). */
#define _GNU_SOURCE
#include "passthrough.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../core/cache.h"
#include "../sampler/sample.h"
#include "../stats/stats.h"
#include "libc_heap.h"
#include "preload.h"
#include "reentry.h"

/*
 * The pools refused this request (reentry.h, R3: the fork guard) and glibc
 * cannot serve it either: this thread holds its arena's lock. The block
 * comes straight from mmap, dressed as one of glibc's own mmapped chunks
 * (the size word before it, with bit 1 set; the word before that, the offset
 * back to the mapping's start), so glibc's free, realloc and
 * malloc_usable_size take it as theirs and munmap it in the end. Rare (a
 * handler, inside glibc, during a fork) and a page or more each. NULL with
 * ENOMEM if mmap fails.
 */
static PA_NOINLINE void *fork_reserve(size_t n, size_t align)
{
    cache_tls_refused = 0;
    const size_t hdr = 2 * sizeof(size_t);
    if (align < hdr)
        align = hdr;
    if (n > SIZE_MAX / 2 - align - PA_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t len = PA_ROUNDUP(n + align + hdr, PA_PAGE);
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    char *mem = (char *)PA_ROUNDUP((uintptr_t)base + hdr, align);
    size_t lead = (size_t)(mem - hdr - base);
    ((size_t *)mem)[-2] = lead;               /* back to the mapping's start */
    ((size_t *)mem)[-1] = (len - lead) | 2;   /* chunk size, IS_MMAPPED */
    stats_passthrough_alloc(n);
    return mem;
}

/* glibc's allocator for n bytes: memalign when align is set (a power of two
 * > 16), calloc when zero, else malloc. The caller marks the call (reentry.h),
 * as libc_pass() and sample_alloc() do. */
static inline void *libc_call(size_t n, size_t align, int zero)
{
    return align ? __libc_memalign(align, n) : zero ? __libc_calloc(1, n) : __libc_malloc(n);
}

/*
 * The pass-through: a request the pools do not serve goes to glibc
 * (libc_call's align and zero), marked and counted. A thread that the pools
 * refused during a fork (fork_reserve) gets fresh pages instead, which are
 * zero for calloc too. NULL with errno = ENOMEM on failure.
 */
PA_NOINLINE void *libc_pass(size_t n, size_t align, int zero)
{
    if (unlikely(cache_tls_refused))
        return fork_reserve(n, align);
    reentry_libc_enter();
    void *p = libc_call(n, align, zero);
    reentry_libc_leave();
    if (likely(p))
        stats_passthrough_alloc(n);
    else
        errno = ENOMEM;
    return p;
}

/* A sampled request: served by glibc, so that free() meets it on its
 * out-of-line foreign path and the pools' fast paths never know, then
 * recorded with its stack (align: > 16 for memalign; zero: calloc). */
PA_NOINLINE void *sample_alloc(size_t n, size_t align, int zero)
{
    size_t m = n ? n : 1;
    sigset_t old;
    sample_libc_enter_quiet(&old);
    void *p = libc_call(m, align, zero);
    sample_libc_leave_quiet(&old);
    if (unlikely(!p)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!sample_record(p, n))
        stats_passthrough_alloc(n);   /* no room to record it: a plain pass-through */
    return p;
}

/* Not ours: glibc's (a pass-through or a sampled block), or NULL. Out of
 * line, like every call free makes. */
PA_NOINLINE void free_foreign(void *p)
{
    if (p) {
        if (sample_forget(p, NULL)) {
            sigset_t old;
            sample_libc_enter_quiet(&old);
            __libc_free(p);
            sample_libc_leave_quiet(&old);
            return;
        }
        stats_passthrough_free();
        libc_heap_note_free(libc_chunk_usable(p));
        reentry_libc_enter();
        __libc_free(p);
        reentry_libc_leave();
    }
}
