/* SPDX-License-Identifier: MIT */
/* libc_heap.c - glibc's heap under the pass-through (see libc_heap.h). */
#define _GNU_SOURCE
#include "libc_heap.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preload.h"

static unsigned long libc_heap_period_ms;   /* 0: glibc's heap left alone */
static int libc_heap_user;                  /* the user set glibc's heap */
uint64_t libc_heap_big_freed;

/* The settings this file would set, and those they work with: a program
 * that sets one of them has chosen how its heap grows and shrinks. */
static int heap_shape_param(int param)
{
    return param == M_TRIM_THRESHOLD || param == M_TOP_PAD || param == M_MMAP_THRESHOLD ||
           param == M_MMAP_MAX;
}

PA_EXPORT int mallopt(int param, int value)
{
    if (heap_shape_param(param))
        __atomic_store_n(&libc_heap_user, 1, __ATOMIC_RELAXED);
    return __libc_mallopt(param, value);
}

/* 1 if the environment sets one of the same four. */
static int env_tuned(void)
{
    static const char *const names[] = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                        "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"};
    static const char *const tunables[] = {"glibc.malloc.mmap_threshold",
                                           "glibc.malloc.trim_threshold",
                                           "glibc.malloc.top_pad", "glibc.malloc.mmap_max"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]))
            return 1;
    const char *t = getenv("GLIBC_TUNABLES");
    for (size_t i = 0; t && i < sizeof tunables / sizeof tunables[0]; i++)
        if (strstr(t, tunables[i]))
            return 1;
    return 0;
}

int libc_heap_tune(unsigned long flush_ms)
{
    /* The environment read now, not kept: with START_MS=0 this may run
     * before the constructor. getenv does not allocate. */
    if (!flush_ms || __atomic_load_n(&libc_heap_user, __ATOMIC_RELAXED) || env_tuned())
        return 0;
    /* Setting either turns glibc's dynamic rule off. */
    if (!__libc_mallopt(M_MMAP_THRESHOLD, (int)LIBC_MMAP_THRESHOLD) ||
        !__libc_mallopt(M_TRIM_THRESHOLD, (int)LIBC_TRIM_THRESHOLD))
        return 0;
    libc_heap_period_ms = flush_ms;
    return 1;
}

void *libc_own(const char *name)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc)
        return NULL;
    void *f = dlsym(libc, name);
    dlclose(libc);   /* NOLOAD took a reference; libc itself stays */
    return f;
}

/* glibc's malloc_trim (the exported name is ours), found at the first
 * call: a clean context, the flush thread's or a program's call of
 * malloc_trim. Threads that race store the same pointer. */
static int (*libc_trim_fn)(size_t);
static int libc_trim_found;

int libc_trim(size_t pad)
{
    if (!__atomic_load_n(&libc_trim_found, __ATOMIC_ACQUIRE)) {
        __atomic_store_n((void **)&libc_trim_fn, libc_own("malloc_trim"), __ATOMIC_RELAXED);
        __atomic_store_n(&libc_trim_found, 1, __ATOMIC_RELEASE);
    }
    return libc_trim_fn ? libc_trim_fn(pad) : 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* How long without a big free makes the pass-through idle: the next wake
 * of the flush thread (every ORPHAN_CHECK_MS, 200 ms) that sees none, or
 * the flush period if that is shorter. Not a whole flush period: a short
 * program's phases are shorter than that, and a block freed in one of
 * them would stay in glibc's heap, where the pools cannot use it, through
 * the next ones (sqlite3's sort buffers, ~2 MiB of its peak). A program
 * that frees big blocks all the time is never idle, so it keeps them. */
static uint64_t quiet_ms(void)
{
    return libc_heap_period_ms < LIBC_TRIM_QUIET_MS ? libc_heap_period_ms : LIBC_TRIM_QUIET_MS;
}

/* The flush thread's own: only it reads and writes these. */
static uint64_t seen_freed, last_free_ms;
static int trim_due;

void libc_heap_tick(void)
{
    if (!libc_heap_period_ms)
        return;
    uint64_t freed = __atomic_load_n(&libc_heap_big_freed, __ATOMIC_RELAXED), now = now_ms();
    if (freed != seen_freed) {
        /* Frees since the last wake (at most ORPHAN_CHECK_MS ago): memory
         * to give back once they stop. */
        seen_freed = freed;
        last_free_ms = now;
        trim_due = 1;
    } else if (trim_due && now - last_free_ms >= quiet_ms()) {
        libc_trim(0);   /* a wake without one: idle */
        trim_due = 0;
    }
}
