/* api.c - the calls of include/poolalloc.h that read the allocator. */
#include "preload.h"

#include <string.h>

#include "../core/flush.h"
#include "../core/lock.h"
#include "../include/poolalloc.h"
#include "../stats/stats.h"

/* One snapshot buffer (it is large: every class and CPU), filled under a
 * lock; a caller's stack may be small. */
static struct stats_snapshot api_snap;
static pa_lock api_lock;

PA_EXPORT const char *poolalloc_version(void)
{
    return POOLALLOC_VERSION;
}

PA_EXPORT int poolalloc_get_stats(struct poolalloc_stats *s)
{
    if (!s || s->size < offsetof(struct poolalloc_stats, generations) + sizeof s->generations)
        return -1;
    init_slow_no_start();
    struct poolalloc_stats out = {.size = s->size};
    lock_take(&api_lock);
    stats_snapshot(&api_snap);
    out.generations = api_snap.flushes;
    out.returned_bytes = api_snap.returned_bytes;
    out.in_use_bytes = api_snap.in_use_bytes;
    out.cached_bytes = api_snap.local_bytes + api_snap.victim_bytes;
    out.central_bytes = api_snap.central_bytes;
    out.resident_bytes = api_snap.resident_bytes;
    out.metadata_bytes = api_snap.metadata_bytes;
    out.passthrough_bytes = api_snap.passthrough_bytes;
    lock_give(&api_lock);
    size_t n = s->size < sizeof out ? s->size : sizeof out;
    memcpy(s, &out, n);
    return 0;
}

PA_EXPORT size_t poolalloc_flush(void)
{
    init_slow_no_start();
    return flush_run();
}
