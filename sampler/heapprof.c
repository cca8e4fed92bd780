/* SPDX-License-Identifier: MIT */
/* heapprof.c - the `sites` and `heap` replies, read from the sampler's tables
 * (see sample.h). Runs in the stats server thread: no malloc, no stdio. */
#include <unistd.h>

#include "../wire/proto.h"
#include "sample.h"

static void hex(struct sink *o, uint64_t v)
{
    static const char digit[] = "0123456789abcdef";
    char d[18];
    int n = 0;
    do {
        d[sizeof d - 1 - n++] = digit[v & 15];
        v >>= 4;
    } while (v);
    d[sizeof d - 1 - n++] = 'x';
    d[sizeof d - 1 - n++] = '0';
    sink_mem(o, d + sizeof d - n, (size_t)n);
}

static void kv(struct sink *o, const char *key, uint64_t v)
{
    sink_str(o, key);
    sink_str(o, " ");
    sink_u64(o, v);
    sink_str(o, "\n");
}

/* Estimated objects from the fixed-point figure, rounded. */
static uint64_t objects(uint64_t wn)
{
    return (wn + SAMPLE_WN_ONE / 2) / SAMPLE_WN_ONE;
}

/* A top list: ids by decreasing key, at most HEAPPROF_TOP. */
struct top {
    unsigned n;
    unsigned id[HEAPPROF_TOP];
    uint64_t key[HEAPPROF_TOP];
};

static void top_offer(struct top *t, unsigned id, uint64_t key)
{
    if (!key || (t->n == HEAPPROF_TOP && key <= t->key[t->n - 1]))
        return;
    unsigned i = t->n < HEAPPROF_TOP ? t->n++ : t->n - 1;
    for (; i > 0 && t->key[i - 1] < key; i--) {
        t->id[i] = t->id[i - 1];
        t->key[i] = t->key[i - 1];
    }
    t->id[i] = id;
    t->key[i] = key;
}

static int top_has(const struct top *t, unsigned id)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->id[i] == id)
            return 1;
    return 0;
}

static void frames(struct sink *o, const struct sample_stack *s, int first_as_pc)
{
    sink_str(o, " @");
    for (uint32_t i = 0; s && i < s->depth; i++) {
        sink_str(o, " ");
        hex(o, s->frame[i] - (i == 0 && first_as_pc ? 1 : 0));
    }
    sink_str(o, "\n");
}

static void site_row(struct sink *o, unsigned id)
{
    struct sample_counts c;
    sample_site_counts(id, &c);
    sink_str(o, "site ");
    sink_u64(o, id);
    const uint64_t v[] = {objects(c.live_wn), c.live_wbytes, objects(c.total_wn), c.total_wbytes,
                          c.live_n, c.total_n};
    for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
        sink_str(o, " ");
        sink_u64(o, v[i]);
    }
    frames(o, sample_site_stack(id), 0);
}

/* "KEY id id ...": "KEY " alone when the list is empty (a key, no values). */
static void order(struct sink *o, const char *key, const struct top *t)
{
    sink_str(o, key);
    sink_str(o, " ");
    for (unsigned i = 0; i < t->n; i++) {
        if (i)
            sink_str(o, " ");
        sink_u64(o, t->id[i]);
    }
    sink_str(o, "\n");
}

/* "sampling on", or "sampling off (why)". 1 if on. */
static int state(struct sink *o)
{
    sink_str(o, "sampling ");
    sink_printable(o, sample_state());
    sink_str(o, "\n");
    return sample_mean() != 0;
}

void heapprof_write_sites(struct sink *o)
{
    if (!state(o))
        return;
    struct top live = {0}, total = {0};
    struct sample_counts sum = {0};
    unsigned n = sample_nsites();
    for (unsigned id = 0; id < n; id++) {
        struct sample_counts c;
        sample_site_counts(id, &c);
#define X(f) sum.f += c.f;
        SAMPLE_COUNTS(X)
#undef X
        top_offer(&live, id, c.live_wbytes);
        top_offer(&total, id, c.total_wbytes);
    }
    kv(o, "pid", (uint64_t)getpid());
    kv(o, "sample_bytes", sample_mean());
    kv(o, "sites", n ? n - 1 : 0);
    kv(o, "samples_live", sum.live_n);
    kv(o, "samples_total", sum.total_n);
    kv(o, "samples_dropped", sample_dropped());
    kv(o, "sample_table_bytes", sample_table_bytes());
    kv(o, "live_objects", objects(sum.live_wn));
    kv(o, "live_bytes", sum.live_wbytes);
    kv(o, "total_objects", objects(sum.total_wn));
    kv(o, "total_bytes", sum.total_wbytes);
    sink_str(o, "site.columns site live_objects live_bytes total_objects total_bytes "
                "live_samples total_samples\n");
    for (unsigned i = 0; i < live.n; i++)
        site_row(o, live.id[i]);
    for (unsigned i = 0; i < total.n; i++)
        if (!top_has(&live, total.id[i]))
            site_row(o, total.id[i]);
    order(o, "order.live", &live);
    order(o, "order.total", &total);
}

/* "%6u: %8u [%6u: %8u] @": gperftools' spacing (pprof wants a blank after
 * each colon). */
static void bucket(struct sink *o, uint64_t ln, uint64_t lb, uint64_t tn, uint64_t tb)
{
    sink_u64w(o, ln, 6);
    sink_str(o, ": ");
    sink_u64w(o, lb, 8);
    sink_str(o, " [");
    sink_u64w(o, tn, 6);
    sink_str(o, ": ");
    sink_u64w(o, tb, 8);
    sink_str(o, "]");
}

int heapprof_write_heap(struct sink *o)
{
    if (!state(o))
        return 0;
    unsigned n = sample_nsites();
    struct sample_counts sum = {0};
    for (unsigned id = 1; id < n; id++) {
        struct sample_counts c;
        if (!sample_site_stack(id))
            continue;
        sample_site_counts(id, &c);
#define X(f) sum.f += c.f;
        SAMPLE_COUNTS(X)
#undef X
    }
    /* Sampled counts, not estimates: heap_v2/T tells pprof to scale each
     * stack by 1/(1 - exp(-(bytes/objects)/T)), as for tcmalloc's profiles. */
    sink_str(o, "heap heap profile: ");
    bucket(o, sum.live_n, sum.live_bytes, sum.total_n, sum.total_bytes);
    sink_str(o, " @ heap_v2/");
    sink_u64(o, sample_mean());
    sink_str(o, "\n");
    for (unsigned id = 1; id < n; id++) {
        const struct sample_stack *s = sample_site_stack(id);
        struct sample_counts c;
        sample_site_counts(id, &c);
        if (!s || !c.total_n)
            continue;
        sink_str(o, "heap ");
        bucket(o, c.live_n, c.live_bytes, c.total_n, c.total_bytes);
        /* pprof takes every address but the first for a return address and
         * subtracts 1; all of ours are return addresses, so the first is
         * written as one inside its call instruction. */
        frames(o, s, 1);
    }
    sink_str(o, "heap \nheap MAPPED_LIBRARIES:\n");
    return 1;
}
