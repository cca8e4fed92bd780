/* SPDX-License-Identifier: MIT */
/* glibc_calls.c - malloc_trim, mallinfo2, mallinfo, malloc_stats and
 * malloc_info for both heaps (see glibc_calls.h). */
#define _GNU_SOURCE
#include "glibc_calls.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/poolalloc.h"
#include "../stats/stats.h"
#include "libc_heap.h"
#include "preload.h"

/* glibc's own, from libc.so.6 (NULL where this glibc lacks one: mallinfo2
 * came in 2.33). Written by libc_calls_init() before libc_calls_found.
 * (glibc's malloc_trim is libc_heap.c's: libc_trim.) */
static struct {
    struct mallinfo2 (*info2)(void);
    struct mallinfo (*info)(void);
    void (*stats)(void);
    int (*xml)(int, FILE *);
} libc_calls;
static int libc_calls_found;

/* Looked up in libc.so.6 itself (libc_own, libc_heap.h). At the first
 * of these calls, not at start: a process that never makes one (nearly all)
 * pays nothing. No lock (one held at a fork would stay held in the child):
 * threads that race all store the same pointers. */
static void libc_calls_init(void)
{
    if (__atomic_load_n(&libc_calls_found, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n((void **)&libc_calls.info2, libc_own("mallinfo2"), __ATOMIC_RELAXED);
    __atomic_store_n((void **)&libc_calls.info, libc_own("mallinfo"), __ATOMIC_RELAXED);
    __atomic_store_n((void **)&libc_calls.stats, libc_own("malloc_stats"), __ATOMIC_RELAXED);
    __atomic_store_n((void **)&libc_calls.xml, libc_own("malloc_info"), __ATOMIC_RELAXED);
    __atomic_store_n(&libc_calls_found, 1, __ATOMIC_RELEASE);
}

/* malloc_trim(pad): the full flush (every empty span of the pools back to the
 * OS, the CPU caches emptied first), then glibc's trim of its own heap, to
 * which pad applies (the pools keep no top to pad). 1 if either gave any
 * memory back, as glibc's. */
PA_EXPORT int malloc_trim(size_t pad)
{
    int released = api_flush_full() > 0;
    if (libc_trim(pad))
        released = 1;
    return released;
}

/* glibc's figures (zero where it has no mallinfo at all). */
static struct mallinfo2 libc_info2(void)
{
    libc_calls_init();
    if (libc_calls.info2)
        return libc_calls.info2();
    struct mallinfo2 m = {0};
    if (libc_calls.info) {
        struct mallinfo o = libc_calls.info();
        /* Read back as unsigned: an old glibc's int fields wrapped. */
        m.arena = (unsigned)o.arena, m.ordblks = (unsigned)o.ordblks;
        m.smblks = (unsigned)o.smblks, m.hblks = (unsigned)o.hblks;
        m.hblkhd = (unsigned)o.hblkhd, m.usmblks = (unsigned)o.usmblks;
        m.fsmblks = (unsigned)o.fsmblks, m.uordblks = (unsigned)o.uordblks;
        m.fordblks = (unsigned)o.fordblks, m.keepcost = (unsigned)o.keepcost;
    }
    return m;
}

/* The C library's own figures in every snapshot (stats.h): the blocks it
 * holds for the program, in its heaps and mapped alone, and what its heaps
 * keep free. */
static void libc_figures(uint64_t *in_use, uint64_t *free_bytes)
{
    struct mallinfo2 m = libc_info2();
    *in_use = m.uordblks + m.hblkhd;
    *free_bytes = m.fordblks;
}

/* At load: it only stores a pointer (the C library's calls are looked up at
 * the first snapshot that reads them). */
__attribute__((constructor)) static void libc_figures_register(void)
{
    stats_set_libc_reader(libc_figures);
}

/* glibc's figures plus the pools' (docs/api.md has the table):
 *     arena    += bytes of the pools' live spans = in use + cached + central
 *     uordblks += in use            fordblks += cached + central
 *     smblks   += cached objects    fsmblks  += cached bytes  (as fastbins)
 *     ordblks  += central objects
 * so glibc's own law, arena == uordblks + fordblks, still holds for the
 * sum; hblks, hblkhd, usmblks and keepcost stay glibc's. */
PA_EXPORT struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 m = libc_info2();
    uint64_t cached_n = 0, central_n = 0;
    const struct stats_snapshot *s = api_snapshot_take();
    if (!s)
        return m;   /* no memory for a snapshot: glibc's figures alone */
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cached_n += s->cls[c].local + s->cls[c].victim;
        central_n += s->cls[c].central;
    }
    uint64_t in_use = s->in_use_bytes, cached = s->local_bytes + s->victim_bytes,
             central = s->central_bytes;
    api_snapshot_drop(s);
    m.arena += in_use + cached + central;
    m.uordblks += in_use;
    m.fordblks += cached + central;
    m.smblks += cached_n;
    m.fsmblks += cached;
    m.ordblks += central_n;
    return m;
}

static int sat(size_t v)
{
    return v > (size_t)INT_MAX ? INT_MAX : (int)v;
}

/* mallinfo2() in glibc's old int fields, each saturated at INT_MAX where
 * glibc's own wraps (a 3 GiB hblkhd would read as negative). */
PA_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo m = {
        .arena = sat(m2.arena),
        .ordblks = sat(m2.ordblks),
        .smblks = sat(m2.smblks),
        .hblks = sat(m2.hblks),
        .hblkhd = sat(m2.hblkhd),
        .usmblks = sat(m2.usmblks),
        .fsmblks = sat(m2.fsmblks),
        .uordblks = sat(m2.uordblks),
        .fordblks = sat(m2.fordblks),
        .keepcost = sat(m2.keepcost),
    };
    return m;
}

/* glibc's report of its arenas on stderr, then poolalloc's exit summary
 * (POOLALLOC_STATS=1's), written with write(2): no malloc, no stdio. */
PA_EXPORT void malloc_stats(void)
{
    libc_calls_init();
    if (libc_calls.stats) {
        libc_calls.stats();
        fflush(stderr);   /* unbuffered as a rule; a program may have changed that */
    }
    stats_print_summary(2);
}

/* Our part of malloc_info(): copied out of the snapshot, then printed on the
 * caller's FILE (stdio may allocate: never while the allocator is read). */
struct info_class {
    uint64_t from, to, free_n, in_use_n;
};
struct info_figures {
    struct info_class cls[SC_COUNT];
    uint64_t in_use_n, in_use, cached_n, cached, central_n, central;
    uint64_t resident, committed, reserved, metadata, returned, released_spans;
    char mode[16];
};

static void info_read(struct info_figures *f)
{
    memset(f, 0, sizeof *f);
    memcpy(f->mode, "unknown", 8);
    const struct stats_snapshot *s = api_snapshot_take();
    if (!s)
        return;   /* no memory for a snapshot: zeros */
    uint64_t prev = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        const struct stats_class *k = &s->cls[c];
        f->cls[c] = (struct info_class){prev + 1, k->size, k->local + k->victim + k->central,
                                        k->in_use};
        prev = k->size;
        f->in_use_n += k->in_use;
        f->cached_n += k->local + k->victim;
        f->central_n += k->central;
    }
    f->in_use = s->in_use_bytes;
    f->cached = s->local_bytes + s->victim_bytes;
    f->central = s->central_bytes;
    f->resident = s->resident_bytes;
    f->committed = s->committed_bytes;
    f->reserved = s->reserved_bytes;
    f->metadata = s->metadata_bytes;
    f->returned = s->returned_bytes;
    f->released_spans = s->released_spans;
    /* cpu_mode_name(): a word of ours, safe in an attribute. */
    memcpy(f->mode, s->mode, sizeof f->mode);
    f->mode[sizeof f->mode - 1] = '\0';
    api_snapshot_drop(s);
}

/* The pools in the shape of one of glibc's <heap> elements, as a sibling of
 * them: glibc numbers its heaps (nr="0"), and a reader that sums them
 * expects glibc's arenas. <sizes> lists the free objects of each class. */
static void info_print(FILE *fp, const struct info_figures *f)
{
    fprintf(fp, "<poolalloc version=\"%s\" mode=\"%s\">\n<sizes>\n", POOLALLOC_VERSION,
            f->mode);
    for (unsigned c = 0; c < SC_COUNT; c++) {
        const struct info_class *k = &f->cls[c];
        uint64_t total = k->free_n * k->to;
        if (k->free_n)
            fprintf(fp, "  <size from=\"%llu\" to=\"%llu\" total=\"%llu\" count=\"%llu\"/>\n",
                    (unsigned long long)k->from, (unsigned long long)k->to,
                    (unsigned long long)total, (unsigned long long)k->free_n);
    }
    fprintf(fp, "</sizes>\n");
    const struct {
        const char *type;
        uint64_t count, size;
    } totals[] = {
        {"in_use", f->in_use_n, f->in_use},
        {"cached", f->cached_n, f->cached},
        {"central", f->central_n, f->central},
        {"returned", f->released_spans, f->returned},
    };
    for (unsigned i = 0; i < sizeof totals / sizeof totals[0]; i++)
        fprintf(fp, "<total type=\"%s\" count=\"%llu\" size=\"%llu\"/>\n", totals[i].type,
                (unsigned long long)totals[i].count, (unsigned long long)totals[i].size);
    fprintf(fp,
            "<system type=\"current\" size=\"%llu\"/>\n"
            "<system type=\"committed\" size=\"%llu\"/>\n"
            "<system type=\"metadata\" size=\"%llu\"/>\n"
            "<aspace type=\"total\" size=\"%llu\"/>\n"
            "</poolalloc>\n",
            (unsigned long long)f->resident, (unsigned long long)f->committed,
            (unsigned long long)f->metadata, (unsigned long long)f->reserved);
}

/* glibc's document, with the poolalloc element added before its closing
 * </malloc>. glibc's is written to a memory stream first (outside every
 * allocator lock), so the whole stays one well-formed document. 0, or -1
 * with EINVAL for options other than 0 (and a NULL fp), as glibc. */
PA_EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0 || !fp) {
        errno = EINVAL;
        return -1;
    }
    libc_calls_init();
    char *doc = NULL;
    size_t len = 0;
    FILE *mem = libc_calls.xml ? open_memstream(&doc, &len) : NULL;
    int rc = 0;
    if (mem) {
        rc = libc_calls.xml(0, mem);
        if (fclose(mem) != 0)
            rc = -1;
    } else if (libc_calls.xml) {
        /* No memory for the copy: glibc's document alone, still whole. */
        free(doc);
        return libc_calls.xml(0, fp);
    }
    const char *end = NULL;
    for (const char *p = doc && rc == 0 ? strstr(doc, "</malloc>") : NULL; p;
         p = strstr(p + 1, "</malloc>"))
        end = p;
    if (end)
        fwrite(doc, 1, (size_t)(end - doc), fp);
    else
        fprintf(fp, "<malloc version=\"1\">\n");
    struct info_figures fig;   /* about 2 KiB */
    info_read(&fig);
    info_print(fp, &fig);
    fprintf(fp, "</malloc>\n");
    free(doc);
    return 0;
}
