/* SPDX-License-Identifier: MIT */
/* api.c - the calls of include/poolalloc.h that read the allocator, and the
 * snapshot and flush glibc_calls.c shares with them. */
#include "preload.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../core/flush.h"
#include "../include/poolalloc.h"
#include "../stats/stats.h"
#include "glibc_calls.h"

/* The snapshot (64 KiB: every class and CPU, much for a caller's stack) in
 * pages of its own for each call, so that no lock guards a shared buffer: a
 * lock held by another thread of the parent at fork would stay held forever
 * in the child. */
const struct stats_snapshot *api_snapshot_take(void)
{
    init_slow_no_start();
    void *p = mmap(NULL, sizeof(struct stats_snapshot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    stats_snapshot(p);
    return p;
}

void api_snapshot_drop(const struct stats_snapshot *s)
{
    if (s)
        munmap((void *)(uintptr_t)s, sizeof *s);
}

size_t api_flush_full(void)
{
    init_slow_no_start();
    /* The first generation sends the victims to central and makes every
     * cache a victim; the second sends those to central too. */
    size_t bytes = flush_run();
    return bytes + flush_run();
}

PA_EXPORT const char *poolalloc_version(void)
{
    return POOLALLOC_VERSION;
}

PA_EXPORT int poolalloc_get_stats(struct poolalloc_stats *s)
{
    if (!s || s->size < offsetof(struct poolalloc_stats, generations) + sizeof s->generations)
        return -1;
    struct poolalloc_stats out = {.size = s->size};
    const struct stats_snapshot *snap = api_snapshot_take();
    if (!snap)
        return -1;
    out.generations = snap->flushes;
    out.returned_bytes = snap->returned_bytes;
    out.in_use_bytes = snap->in_use_bytes;
    out.cached_bytes = snap->local_bytes + snap->victim_bytes;
    out.central_bytes = snap->central_bytes;
    out.resident_bytes = snap->resident_bytes;
    out.metadata_bytes = snap->metadata_bytes;
    out.passthrough_bytes = snap->passthrough_bytes;
    api_snapshot_drop(snap);
    size_t n = s->size < sizeof out ? s->size : sizeof out;
    memcpy(s, &out, n);
    return 0;
}

PA_EXPORT size_t poolalloc_flush(void)
{
    init_slow_no_start();
    return flush_run();
}
