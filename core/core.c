/* SPDX-License-Identifier: MIT */
/* core.c - init, fork and the attention gate (see core.h). */
#include "core.h"

#include <sched.h>

#include "cache.h"
#include "central.h"
#include "cpu.h"
#include "flush.h"
#include "log.h"
#include "meta.h"
#include "region.h"
#include "sizeclass.h"

size_t core_gate;
size_t core_gate_small;
struct core_config core_cfg;
static int core_ready;
static int core_failed;  /* core_start_pools() failed: no second attempt */
static int core_held;   /* core_hold(): the gate stays closed until core_start_pools() */

/* Opens the gates (max_size) or closes them (0); see core.h. */
static void gate_set(size_t max)
{
    __atomic_store_n(&core_gate_small, max < SC_SMALL_MAX ? max : SC_SMALL_MAX, __ATOMIC_RELEASE);
    __atomic_store_n(&core_gate, max, __ATOMIC_RELEASE);
}

int core_configure(const struct core_config *cfg)
{
    core_cfg = *cfg;
    if (core_cfg.max_size > SC_MAX_SIZE)
        core_cfg.max_size = SC_MAX_SIZE;
    sc_init();
    cpu_init(!core_cfg.no_rseq);
    return core_cfg.max_size == 0 ? -1 : 0;
}

int core_start_pools(void)
{
    if (core_ready) {
        /* A fork child whose gate was held: the pools are its parent's copy. */
        core_held = 0;
        gate_set(core_cfg.max_size);
        return 0;
    }
    if (core_failed)
        return -1;
    core_failed = 1;   /* until the end: a second attempt would find half of it done */
    if (core_cfg.max_size == 0)
        return -1;
    if (region_init() != 0) {
        log_line("cannot reserve address space for the pools; every request goes to the C library");
        return -1;
    }
    sc_init_large();
    central_init(core_cfg.max_size, core_cfg.check);
    /* Checking: caches of capacity 0 and no transfer stacks, so every free
     * goes to its span's bitmap, where a second free is seen. */
    if (cache_init(core_cfg.check ? 0 : core_cfg.cpu_cache, core_cfg.max_size, core_cfg.check) != 0)
        return -1;
    core_held = 0;
    core_failed = 0;
    core_ready = 1;
    gate_set(core_cfg.max_size);
    return 0;
}

int core_init(const struct core_config *cfg)
{
    if (core_configure(cfg) != 0)
        return -1;
    return core_start_pools();
}

int core_pools_ready(void)
{
    return core_ready;
}

int core_start_background(void)
{
    if (!core_ready || !core_cfg.flush_ms)
        return 0;
    return flush_start(core_cfg.flush_ms);
}

void core_hold(void)
{
    core_held = 1;
    gate_set(0);
}

void core_attend(void)
{
    if (!core_ready || core_held)
        return;
    gate_set(core_cfg.max_size);
}

void core_fork_prepare(void)
{
    if (!core_ready)
        return;
    /* Any malloc between here and the fork (another atfork handler, glibc
     * itself) passes through: this thread is about to hold every lock. */
    cache_tls_busy = 1;
    /* No lock is taken while a thread stopped inside glibc's allocator is
     * in a slow path: its glibc lock is one fork will wait for (preload/reentry.h, R3). */
    __atomic_add_fetch(&cache_fork_pending, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&cache_guarded_total, __ATOMIC_SEQ_CST) > cache_tls_guarded)
        sched_yield();
    flush_lock_for_fork();
    cache_lock_all();
    central_lock_all();
    meta_lock_for_fork();
}

void core_fork_parent(void)
{
    if (!core_ready)
        return;
    meta_unlock_after_fork(0);
    central_unlock_all();
    cache_unlock_all();
    flush_unlock_after_fork(0);
    __atomic_sub_fetch(&cache_fork_pending, 1, __ATOMIC_SEQ_CST);
    cache_tls_busy = 0;
}

void core_fork_child(void)
{
    /* The flush thread is the parent's, pools or not (it may run only for
     * the stats server). */
    flush_unlock_after_fork(1);
    if (!core_ready)
        return;
    meta_unlock_after_fork(1);
    central_reset_all();
    cache_reset_all();
    /* Only this thread is in the child; a fork under way in another thread
     * of the parent is not. */
    cache_guarded_total = cache_tls_guarded;
    __atomic_store_n(&cache_fork_pending, 0, __ATOMIC_SEQ_CST);
    cache_tls_busy = 0;
    /* The flush thread did not survive the fork; the preload layer decides
     * when the child starts its own (core_hold, core_start_background). */
}
