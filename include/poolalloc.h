/* SPDX-License-Identifier: MIT */
/*
 * poolalloc.h - what a program can ask poolalloc itself.
 *
 * For programs that link libpoolalloc.so or run under the preload. Under the
 * preload a program need not be built against this header's library: look
 * the functions up at run time, and run as usual when they are absent:
 *
 *     int (*get)(struct poolalloc_stats *) =
 *         (int (*)(struct poolalloc_stats *))dlsym(RTLD_DEFAULT, "poolalloc_get_stats");
 *
 * Every function here may be called from any thread, at any time, but not
 * from a signal handler (they take the allocator's locks); none of them
 * calls malloc.
 *
 * The calls glibc programs already make (<malloc.h>: malloc_trim, mallinfo2,
 * mallinfo, malloc_stats, malloc_info) answer for the pools as well as for
 * glibc's heap under poolalloc: poolalloc(3) and docs/api.md say how.
 */
#ifndef POOLALLOC_H
#define POOLALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one version number of poolalloc: the library, poolstat, the wrapper,
 * the man pages and the package (the Makefile reads these lines). The major
 * number is the SONAME's (libpoolalloc.so.1): it changes only when a program
 * built against an older one could break. The stats socket's protocol has its
 * own version (docs/poolstat.md). */
#define POOLALLOC_VERSION_MAJOR 1
#define POOLALLOC_VERSION_MINOR 0
#define POOLALLOC_VERSION_PATCH 0
#define POOLALLOC_VERSION "1.0.0"

/* The version of the library running (which may be newer than the header a
 * program was built with): "MAJOR.MINOR.PATCH". */
const char *poolalloc_version(void);

/* The figures of one moment. A caller sets `size` to sizeof(struct
 * poolalloc_stats) as it was compiled; the library fills the fields that fit
 * in that size, so an old program keeps working with a newer library whose
 * struct has grown (fields are only ever added at the end). Figures are in
 * bytes unless named otherwise. */
struct poolalloc_stats {
    size_t size;                  /* in: sizeof(struct poolalloc_stats) */
    uint64_t generations;         /* flush generations run in this process so far */
    uint64_t returned_bytes;      /* given back to the OS by the flushes, in all */
    uint64_t in_use_bytes;        /* pooled objects the program holds */
    uint64_t cached_bytes;        /* free objects kept in CPU caches and victims */
    uint64_t central_bytes;       /* free objects in spans not given back */
    uint64_t resident_bytes;      /* pool pages resident in memory now */
    uint64_t metadata_bytes;      /* mapped for poolalloc's own bookkeeping */
    uint64_t passthrough_bytes;   /* requested from the C library, in all */
};

/* Fills *s (up to s->size bytes). Returns 0, or -1 when s is NULL, when
 * s->size is too small to hold even `generations`, or when no memory can be
 * mapped for the snapshot. Costs one mincore() per 4 MiB of pool memory: not
 * for a hot loop. */
int poolalloc_get_stats(struct poolalloc_stats *s);

/* Runs one generation now and gives every empty span back to the OS, as
 * `poolstat PID flush` does. Returns the bytes given back. */
size_t poolalloc_flush(void);

/* 1 if p points into poolalloc's pools, 0 otherwise (a block of the C
 * library's, a stack or static address, NULL). */
int poolalloc_owns(const void *p);

#ifdef __cplusplus
}
#endif

#endif
