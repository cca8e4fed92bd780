/* SPDX-License-Identifier: MIT */
/*
 * stats.h - what the allocator counts, gathered into one snapshot, and the
 * exit summary of it (summary.c). The socket protocol writes it
 * (wire/proto.h); poolstat reads it back (wire/proto_read.h) and renders it
 * (wire/render.h).
 *
 * The face of stats/: the layers above include this header alone; it
 * declares summary.c's calls too.
 *
 * Process-wide counters kept here (pass-through requests) are per-CPU slots
 * of relaxed atomics, summed when read. Everything else is read from core/:
 * the per-CPU per-class counters (counters.h) summed over CPUs, the central
 * lists' gauges, the flush totals.
 *
 * Every figure is declared once, in the X-macro lists below: they generate
 * the struct, the exit summary (summary.c), the wire format (wire/proto.c
 * writes it, wire/proto_read.c reads it) and every renderer (wire/render.c),
 * so a figure added
 * here appears everywhere.
 *
 * Exact: every figure of a class when the program is quiescent; with threads
 * running, each figure is exact in itself but the snapshot is not a single
 * instant (counters are read without stopping the CPUs). resident_bytes is
 * exact for the instant mincore() looked at each span.
 *
 *     in_use = objs_out - local - victim        (objects in the program's hands)
 */
#ifndef POOLALLOC_STATS_H
#define POOLALLOC_STATS_H

#include <stdint.h>

#include "../core/counters.h"
#include "../core/sizeclass.h"

/* Process figures. X(name, kind, doc): kind G = gauge (goes up and down),
 * C = counter (only grows). Names carry their unit where they have one. */
#define STATS_PROCESS(X)                                                                   \
    X(cpus, G, "CPU caches in use (CPUs that ran the program; cache slots in locked mode)") \
    X(in_use_bytes, G, "bytes of pooled objects the program holds (object sizes)")          \
    X(local_bytes, G, "bytes cached in CPU caches, current generation")                    \
    X(victim_bytes, G, "bytes cached in CPU victims, previous generation")                 \
    X(central_bytes, G, "bytes free in spans that are not released (central lists)")       \
    X(passthrough_allocs, C, "requests passed through to the C library")                   \
    X(passthrough_bytes, C, "bytes requested from the C library")                          \
    X(passthrough_frees, C, "frees passed through to the C library")                       \
    X(flushes, C, "generations run (flush thread and flush requests)")                     \
    X(returned_bytes, C, "bytes of empty spans given back to the OS")                      \
    X(released_spans, C, "empty spans given back to the OS")                               \
    X(moved_spans, C, "empty spans whose pages the kernel moved under another class's new span") \
    X(moved_bytes, C, "bytes of those spans (touched pages; only resident ones move)")     \
    X(reserved_bytes, G, "address space reserved for the pools")                           \
    X(committed_bytes, G, "bytes of spans ever made writable in the pool region")          \
    X(resident_bytes, G, "bytes of the pool region resident in memory (mincore)")          \
    X(metadata_bytes, G, "bytes mapped for the allocator's own bookkeeping")              \
    X(libc_in_use_bytes, G, "bytes of blocks the C library holds for the program (mallinfo2: uordblks + hblkhd)") \
    X(libc_free_bytes, G, "bytes free in the C library's heaps, not given back to the OS (mallinfo2: fordblks)")

/* Per-class gauges besides the counters of counters.h. X(name, unit, doc);
 * unit "objects" figures are also rendered in bytes (times the size). */
#define STATS_CLASS_GAUGES(X)                                                    \
    X(in_use, objects, "objects held by the program")                            \
    X(local, objects, "objects cached in CPU caches")                            \
    X(victim, objects, "objects cached in CPU victims")                          \
    X(central, objects, "objects free in spans that are not released")          \
    X(spans, spans, "spans with pages that are not released")                    \
    X(cap, objects, "calibrated cache capacity, summed over CPUs")

/* Per-CPU (per cache slot) figures. X(name, kind, doc). */
#define STATS_CPU_FIELDS(X)                                                   \
    X(local_bytes, G, "bytes cached in this CPU's cache")                     \
    X(victim_bytes, G, "bytes cached in this CPU's victim")                   \
    X(allocs, C, "pool allocations made on this CPU's cache")                 \
    X(frees, C, "pool frees made on this CPU's cache")                        \
    X(drops, C, "objects this CPU's cache sent to central because it was full") \
    X(flushes, C, "generations run on this CPU's cache")

#define STATS_CPU_MAX 1024    /* CPUs listed; more are summed into the totals only */
#define STATS_STR_MAX 128

struct stats_class {
    uint64_t size;            /* object size, bytes */
#define X(name, unit, doc) uint64_t name;
    STATS_CLASS_GAUGES(X)
#undef X
    struct cache_counters ctr;
};

struct stats_cpu {
    uint64_t cpu;
#define X(name, kind, doc) uint64_t name;
    STATS_CPU_FIELDS(X)
#undef X
};

struct stats_snapshot {
    uint64_t pid;
    uint64_t uptime_ms;       /* since the library started in this process (a fork child: since the fork) */
    char mode[16];            /* cpu_mode_name() */
    char mode_reason[STATS_STR_MAX];   /* why the fallback, "" in rseq mode */
#define X(name, kind, doc) uint64_t name;
    STATS_PROCESS(X)
#undef X
    struct stats_class cls[SC_COUNT];
    unsigned ncpu;            /* entries of cpu[] filled */
    struct stats_cpu cpu[STATS_CPU_MAX];
};

/* A request that went to the C library (n bytes). Lock-free, cheap. */
void stats_passthrough_alloc(uint64_t n);
void stats_passthrough_free(void);

/* Uptime counts from here; called when the server starts, and in a fork
 * child when its own server starts. */
void stats_mark_start(void);

/* Fills *s from the live allocator. Takes no lock of ours; costs one
 * mincore() per 4 MiB of committed spans, and the C library's figures cost
 * its mallinfo2() (which locks each of its arenas in turn). */
void stats_snapshot(struct stats_snapshot *s);

/* Where the C library's figures (libc_in_use_bytes, libc_free_bytes) come
 * from: the layer that finds the C library's own calls registers it (none:
 * both read 0). */
void stats_set_libc_reader(void (*read)(uint64_t *in_use, uint64_t *free_bytes));

/* 1 if a class has anything to show (objects, spans or traffic). */
static inline int stats_class_active(const struct stats_class *k)
{
    uint64_t any = k->in_use | k->local | k->victim | k->central | k->spans;
#define X(name, doc) any |= k->ctr.name;
    CACHE_COUNTERS(X)
#undef X
    return any != 0;
}

/* Writes the per-class summary to fd, with write(2) only. */
void stats_print_summary(int fd);

#endif
