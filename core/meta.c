/* SPDX-License-Identifier: MIT */
/* meta.c - bump allocator for bookkeeping (see meta.h). */
#include "meta.h"

#include <sys/mman.h>

#include "lock.h"
#include "util.h"

#define META_CHUNK (256u * 1024)

static pa_lock meta_lock;
static char *meta_cur, *meta_end;
static uint64_t meta_total;

void *meta_alloc(size_t size)
{
    size = PA_ROUNDUP(size, PA_CACHELINE);
    lock_take(&meta_lock);
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t len = size > META_CHUNK ? PA_ROUNDUP(size, PA_PAGE) : META_CHUNK;
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            lock_give(&meta_lock);
            return NULL;
        }
        meta_cur = p;
        meta_end = p + len;
        meta_total += len;
    }
    void *r = meta_cur;
    meta_cur += size;
    lock_give(&meta_lock);
    return r;
}

uint64_t meta_mapped(void)
{
    return meta_total;
}

void meta_lock_for_fork(void)
{
    lock_take(&meta_lock);
}

void meta_unlock_after_fork(int child)
{
    if (child)
        lock_reset(&meta_lock);
    else
        lock_give(&meta_lock);
}
