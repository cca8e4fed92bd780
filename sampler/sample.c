/* SPDX-License-Identifier: MIT */
/* sample.c - allocation sampling: the countdown's slow half, the table of
 * live sampled objects and the figures of each site, and the start (see
 * sample.h; the stack table is stack.c's). No malloc, no lock. */
#define _GNU_SOURCE
#include "sample.h"
#include "stack.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "../core/log.h"

/* The live table: where a sampled block is, by its address. Two levels,
 * so that the pages a program touches follow how many samples it has live,
 * not how many it has ever taken: a block goes into its bucket of the small
 * first level (1024 buckets, 128 KiB) and only when all its ways are taken
 * into its bucket of the second (16384 buckets, 2 MiB), a count on the
 * first-level bucket of its blocks there telling the lookups to look there
 * too (a count, not a flag: once they are freed, the frees that hash to
 * that bucket probe one bucket again, not two for the process's life). One
 * level of 16384 buckets hashed by address touched a page per sample until
 * all of its 512 were in, however few were live: `micro rand-small` at
 * POOLALLOC_SAMPLE=4k (1.3M samples, few live) peaked at 17.1 MiB with it,
 * 15.2 with two. */
#define LIVE_WAYS    8
#define LIVE0_BITS   10
#define LIVE0_BUCKETS (1u << LIVE0_BITS)  /* 8192 slots */
#define LIVE_BITS    14
#define LIVE_BUCKETS (1u << LIVE_BITS)    /* 131072 slots more: ~32k live samples before drops matter */
#define META_SITE    0xffffffu           /* meta = size << 24 | site */
#define SIZE_MAX40   ((UINT64_C(1) << 40) - 1)

enum { SMP_NOT_STARTED, SMP_ON, SMP_OFF };

struct live_slot {
    uint64_t key;     /* the block's address; 0: free */
    uint64_t meta;
};

/* The figures of one site as stored: what was sampled, and what of it was
 * freed. The live figures of sample.h are the difference,
 *     live_f = total_f - freed_f        (for f in n, bytes, wn, wbytes)
 * so a sampled malloc adds to four figures and its free to four, where
 * keeping live figures too took eight adds at the malloc: each is a locked
 * read-modify-write (~5 ns, the store buffer drains), and they were the
 * larger part of a sample's own arithmetic. 64 bytes, one line per site. */
struct site_figures {
    uint64_t total_n, total_bytes, total_wn, total_wbytes;
    uint64_t freed_n, freed_bytes, freed_wn, freed_wbytes;
};

/* 128 bytes: the pair of lines adjacent-line prefetch brings in anyway. */
struct live_bucket {
    struct live_slot slot[LIVE_WAYS];
} PA_ALIGNED;

__thread struct sample_tls sample_tls __attribute__((tls_model("initial-exec")));
uint64_t sample_nlive;

static struct {
    int state;
    const char *why;                 /* sample_state() */
    uint64_t mean;
    struct site_figures *counts;     /* by site id, dense */
    struct live_bucket *live0;       /* LIVE0_BUCKETS */
    uint32_t *spilled;               /* by first-level bucket: its blocks on `live` */
    struct live_bucket *live;        /* LIVE_BUCKETS */
    size_t mapped;
} smp = {.why = "not started"};
static int smp_lazy;   /* started without libunwind: sample_tend() loads it when wanted */

static uint64_t smp_dropped;
static uint64_t smp_taken;           /* samples recorded (sample_record that returned 1) */
static uint64_t smp_due_early;       /* sample_due() calls while not started (sample_exit) */
static int smp_verbose;              /* the exit line (sample_exit) */

/* ---- arithmetic without libm --------------------------------------------------------- */

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

union dbits {
    double d;
    uint64_t u;
};

/* ln x for a normal x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172: seven terms of the series
 * leave a relative error below 1e-12. */
static double ln_pos(double x)
{
    union dbits v = {x};
    int e = (int)((v.u >> 52) & 0x7ff) - 1023;
    v.u = (v.u & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52);
    double m = v.d;
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double s = (m - 1) / (m + 1), s2 = s * s;
    double t = s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 + s2 / 13)))));
    return e * 0.6931471805599453 + 2 * s * (1 + t);
}

/* e^x for x <= 0: x = k ln 2 + r with |r| < ln 2, e^r by 14 terms of its
 * series (error < 1e-13), times 2^k built in the exponent bits. */
static double exp_neg(double x)
{
    if (x < -700)
        return 0;
    int k = (int)(x * 1.4426950408889634);
    /* Multiplications by 1/i, not divisions: a division takes ~13 cycles
     * and the fourteen of them were most of a sample's arithmetic. */
    static const double inv[15] = {0, 1, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5, 1.0 / 6, 1.0 / 7,
                                   1.0 / 8, 1.0 / 9, 1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13,
                                   1.0 / 14};
    double r = x - k * 0.6931471805599453, term = 1, sum = 1;
    for (int i = 1; i <= 14; i++) {
        term *= r * inv[i];
        sum += term;
    }
    union dbits v = {.u = (uint64_t)(k + 1023) << 52};
    return sum * v.d;
}

/* p(X) = 1 - e^(-X/T): the chance that a request of x bytes is sampled. */
static double sampled_fraction(uint64_t x)
{
    double y = (double)x / (double)smp.mean;
    if (y < 1e-4)
        return y * (1 - y * 0.5 * (1 - y / 3));   /* no cancellation for tiny requests */
    return 1 - exp_neg(-y);
}

/* The weight of a sample of x bytes: 1/p objects (fixed point) and x/p bytes.
 * A pure function of x (T is fixed at start), so what a free subtracts is
 * exactly what the allocation added. */
static void weights(uint64_t x, uint64_t *wn, uint64_t *wbytes)
{
    double p = sampled_fraction(x ? x : 1);
    *wn = (uint64_t)(SAMPLE_WN_ONE / p + 0.5);
    *wbytes = (uint64_t)((double)x / p + 0.5);
}

/* The distance to the next sampling point: exponential with mean T. */
static int64_t draw(struct sample_tls *t)
{
    uint64_t r = rng_next(&t->rng);
    double u = (double)((r >> 11) + 1) * 0x1p-53;   /* (0, 1] */
    return (int64_t)(-ln_pos(u) * (double)smp.mean);   /* < 37 T */
}

static void seed(struct sample_tls *t)
{
    static uint64_t seq;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = stack_mix((uintptr_t)t ^ ((uint64_t)ts.tv_nsec << 24) ^ (uint64_t)ts.tv_sec ^
                           __atomic_add_fetch(&seq, UINT64_C(0x9E3779B97F4A7C15), __ATOMIC_RELAXED));
    t->rng = s ? s : 1;
}

/* ---- the countdown ------------------------------------------------------------------- */

int sample_due(size_t n)
{
    struct sample_tls *t = &sample_tls;
    int state = __atomic_load_n(&smp.state, __ATOMIC_ACQUIRE);
    if (state != SMP_ON) {
        if (state == SMP_NOT_STARTED)
            __atomic_fetch_add(&smp_due_early, 1, __ATOMIC_RELAXED);
        /* Off for good: parked out of reach. Not started yet: parked at
         * SAMPLE_PARK, so that this thread comes back soon after the start
         * and then draws (rng is still 0: the first-visit branch below). */
        t->left = state == SMP_OFF ? INT64_MAX : SAMPLE_PARK;
        return 0;
    }
    if (t->busy)
        return 0;   /* the unwinder's own malloc, or a signal handler inside the sampler or glibc */
    if (unlikely(!t->rng)) {
        /* First visit: the thread's first distance, then this request
         * counts against it like any other. */
        seed(t);
        int64_t left = (int64_t)((uint64_t)draw(t) - n);
        if (left >= 0) {
            t->left = left;
            return 0;
        }
    }
    /* The sampling point fell inside this request: the next one is a fresh
     * exponential distance from its end (memoryless, so no bias). */
    t->left = draw(t);
    return n != 0;
}

/* ---- figures per site --------------------------------------------------------------------- */

/* Adds v to a figure (v may be a negated amount: unsigned arithmetic).
 * Release: a reader that sees a free's adds sees its malloc's adds too
 * (sample_site_counts). The same locked add as relaxed on x86. */
static inline void add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELEASE);
}

enum { COUNT_SAMPLED, COUNT_FREED, COUNT_RESTORED };

/* A sample was taken (its totals grow, and so its live figures), freed (its
 * freed figures grow: live drops) or restored after a failed realloc (the
 * freed figures drop back: live again). */
static void count(uint64_t meta, int what)
{
    struct site_figures *c = &smp.counts[meta & META_SITE];
    uint64_t x = meta >> 24, wn, wb;
    weights(x, &wn, &wb);
    if (what == COUNT_SAMPLED) {
        add(&c->total_n, 1);
        add(&c->total_bytes, x);
        add(&c->total_wn, wn);
        add(&c->total_wbytes, wb);
        return;
    }
    uint64_t s = what == COUNT_FREED ? 1 : UINT64_MAX;   /* times s: plus or minus */
    add(&c->freed_n, s);
    add(&c->freed_bytes, s * x);
    add(&c->freed_wn, s * wn);
    add(&c->freed_wbytes, s * wb);
}

/* ---- live objects ------------------------------------------------------------------------- */

static inline uint64_t live_hash(const void *p)
{
    return (uint64_t)((uintptr_t)p >> 4) * UINT64_C(0x9E3779B97F4A7C15);
}

/* Claims a free way of bucket b for p. */
static int bucket_put(struct live_bucket *b, void *p, uint64_t meta)
{
    for (int w = 0; w < LIVE_WAYS; w++) {
        struct live_slot *s = &b->slot[w];
        uint64_t zero = 0;
        if (__atomic_load_n(&s->key, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&s->key, &zero, (uint64_t)(uintptr_t)p, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            __atomic_store_n(&s->meta, meta, __ATOMIC_RELAXED);
            return 1;
        }
    }
    return 0;
}

/* Claims a free way for p: its first-level bucket, else (counted there) its
 * second-level one. 0 if all ways of both are taken. */
static int live_put(void *p, uint64_t meta)
{
    uint64_t h = live_hash(p);
    uint32_t i0 = (uint32_t)(h >> (64 - LIVE0_BITS));
    /* Before the key: a free of p, ordered after this malloc by the program,
     * must not see nlive == 0 (nor the count at 0). */
    __atomic_fetch_add(&sample_nlive, 1, __ATOMIC_RELAXED);
    if (bucket_put(&smp.live0[i0], p, meta))
        return 1;
    __atomic_fetch_add(&smp.spilled[i0], 1, __ATOMIC_RELAXED);
    if (bucket_put(&smp.live[h >> (64 - LIVE_BITS)], p, meta))
        return 1;
    __atomic_fetch_sub(&smp.spilled[i0], 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&sample_nlive, 1, __ATOMIC_RELAXED);
    return 0;
}

/* The slot holding p in bucket b, or NULL. */
static struct live_slot *bucket_find(struct live_bucket *b, const void *p)
{
    for (int w = 0; w < LIVE_WAYS; w++)
        if (__atomic_load_n(&b->slot[w].key, __ATOMIC_RELAXED) == (uint64_t)(uintptr_t)p)
            return &b->slot[w];
    return NULL;
}

int sample_record(void *p, size_t n)
{
    struct sample_tls *t = &sample_tls;
    t->busy++;
    uint64_t x = n < SIZE_MAX40 ? n : SIZE_MAX40;
    uint64_t meta = x << 24 | stack_site_of_caller(&t->walked);
    int ok = live_put(p, meta);
    if (ok) {
        count(meta, COUNT_SAMPLED);
        __atomic_fetch_add(&smp_taken, 1, __ATOMIC_RELAXED);
    }
    else
        __atomic_fetch_add(&smp_dropped, 1, __ATOMIC_RELAXED);
    t->busy--;
    return ok;
}

int sample_forget_slow(void *p, struct sample_obj *o)
{
    if (!smp.live)
        return 0;
    uint64_t h = live_hash(p);
    uint32_t i0 = (uint32_t)(h >> (64 - LIVE0_BITS));
    struct live_slot *s = bucket_find(&smp.live0[i0], p);
    int second = 0;
    if (!s && __atomic_load_n(&smp.spilled[i0], __ATOMIC_RELAXED))
        second = (s = bucket_find(&smp.live[h >> (64 - LIVE_BITS)], p)) != NULL;
    if (!s)
        return 0;
    uint64_t meta = __atomic_load_n(&s->meta, __ATOMIC_RELAXED);
    __atomic_store_n(&s->key, 0, __ATOMIC_RELEASE);
    if (second)
        __atomic_fetch_sub(&smp.spilled[i0], 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&sample_nlive, 1, __ATOMIC_RELAXED);
    count(meta, COUNT_FREED);
    if (o)
        o->meta = meta;
    return 1;
}

int sample_restore(void *p, const struct sample_obj *o)
{
    if (!live_put(p, o->meta))
        return 0;
    count(o->meta, COUNT_RESTORED);
    return 1;
}

/* ---- start ------------------------------------------------------------------------------ */

/* The sampler's fork handlers around the stack table's (stack.h). */
void sample_fork_prepare(void)
{
    sample_tls.busy++;   /* until fork returns: glibc's arena locks are held meanwhile */
    stack_fork_prepare();
}

void sample_fork_parent(void)
{
    stack_fork_parent();
    sample_tls.busy--;
}

void sample_fork_child(void)
{
    sample_tls.busy--;
    stack_fork_child();
}

/* One reservation for every table (the stack table's first); pages are
 * touched as samples arrive. */
static int map_tables(void)
{
    size_t s = stack_tables_bytes();
    size_t c = PA_ROUNDUP(SAMPLE_SITES * sizeof(struct site_figures), PA_PAGE);
    size_t d0 = PA_ROUNDUP(LIVE0_BUCKETS * sizeof(struct live_bucket), PA_PAGE);
    size_t f = PA_ROUNDUP(LIVE0_BUCKETS * sizeof(uint32_t), PA_PAGE);
    size_t d = PA_ROUNDUP(LIVE_BUCKETS * sizeof(struct live_bucket), PA_PAGE);
    char *m = mmap(NULL, s + c + d0 + f + d, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    stack_tables_at(m);
    smp.counts = (struct site_figures *)(m + s);
    smp.live0 = (struct live_bucket *)(m + s + c);
    smp.spilled = (uint32_t *)(m + s + c + d0);
    smp.live = (struct live_bucket *)(m + s + c + d0 + f);
    smp.mapped = s + c + d0 + f + d;
    return 0;
}

/* Under POOLALLOC_VERBOSE=1, one line at exit: what the sampler did in this
 * process (tools/bench/sampling.py and tests/sample read it). */
__attribute__((destructor)) static void sample_exit(void)
{
    if (!smp_verbose)
        return;
    struct logbuf b = {0};
    log_str(&b, "poolalloc: sampling: ");
    log_u64(&b, __atomic_load_n(&smp_taken, __ATOMIC_RELAXED));
    log_str(&b, " samples, ");
    log_u64(&b, sample_dropped());
    log_str(&b, " dropped, ");
    log_u64(&b, sample_nsites());
    log_str(&b, " sites, ");
    log_u64(&b, __atomic_load_n(&smp_due_early, __ATOMIC_RELAXED));
    log_str(&b, " countdown calls before the start (");
    log_str(&b, smp.why);
    log_str(&b, ")\n");
    log_flush(&b, 2);
}

/* Sampling off for good, `why` for sample_state(); said on stderr if say. */
static void sampling_off(const char *why, int say)
{
    smp.why = why;
    if (say) {
        struct logbuf b = {0};
        log_str(&b, "poolalloc: sampling ");
        log_str(&b, why);
        log_str(&b, "\n");
        log_flush(&b, 2);
    }
    __atomic_store_n(&smp.state, SMP_OFF, __ATOMIC_RELEASE);
}

/* libunwind loaded, its pipe moved, then stacks published (1); or sampling
 * off with why (1); or 0: a fork is being prepared, ask again. */
static int load_unwinder(void)
{
    static int loaded;
    const char *why = loaded ? NULL : stack_load();
    if (why) {
        sampling_off(why, smp_verbose);
        return 1;
    }
    loaded = 1;
    /* Before the first stack: libunwind's validation pipe would take the two
     * lowest free descriptors, which a program that closes what it did not
     * open hands to its own files (unwind_fds.h). */
    int moved = stack_move_pipe();
    if (moved == STACK_PIPE_LATER)
        return 0;
    stack_publish();
    if (smp_verbose) {
        struct logbuf b = {0};
        log_str(&b, "poolalloc: sampling: libunwind loaded");
        log_str(&b, moved > 0 ? "; its pipe moved out of the program's way, under descriptor 1024\n"
                              : moved < 0 ? "; its pipe could not be moved\n" : "\n");
        log_flush(&b, 2);
    }
    return 1;
}

void sample_start(uint64_t mean, int verbose, int lazy)
{
    /* Once per process: a fork child keeps its parent's state and tables. */
    static int started;
    if (__atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL))
        return;
    smp_verbose = verbose;
    const char *why = NULL;
    if (!mean)
        why = "off (POOLALLOC_SAMPLE=0)";
    else if (map_tables() != 0)
        why = "off: cannot map the sampling tables";
    if (why) {
        sampling_off(why, verbose && mean);
        return;
    }
    smp.mean = mean;
    smp.why = "on";
    if (verbose) {
        struct logbuf b = {0};
        log_str(&b, "poolalloc: sampling every ");
        log_u64(&b, mean);
        log_str(&b, lazy ? " bytes on average (libunwind when the first sample is due)\n"
                         : " bytes on average\n");
        log_flush(&b, 2);
    }
    if (!lazy) {
        while (!load_unwinder())
            ;   /* in a clean context at start: no fork is prepared for long */
    } else {
        smp_lazy = 1;
    }
    if (!lazy && __atomic_load_n(&smp.state, __ATOMIC_ACQUIRE) == SMP_OFF)
        return;
    __atomic_store_n(&smp.state, SMP_ON, __ATOMIC_RELEASE);
    /* The thread that starts it (the constructor's, with an immediate start)
     * draws at its next request instead of waiting out its park. */
    sample_tls.left = 0;
}

void sample_tend(void)
{
    if (!smp_lazy || !stack_wanted())
        return;
    if (load_unwinder())
        smp_lazy = 0;   /* else a fork was being prepared: the next wake tries again */
}

/* ---- for the renderers -------------------------------------------------------------------- */

const char *sample_state(void)
{
    return smp.why;
}

uint64_t sample_mean(void)
{
    return __atomic_load_n(&smp.state, __ATOMIC_ACQUIRE) == SMP_ON ? smp.mean : 0;
}

unsigned sample_nsites(void)
{
    if (!sample_mean())
        return 0;
    return stack_nsites();
}

const struct sample_stack *sample_site_stack(unsigned id)
{
    if (id == 0 || id >= sample_nsites())
        return NULL;
    return stack_get(id);
}

void sample_site_counts(unsigned id, struct sample_counts *c)
{
    *c = (struct sample_counts){0};
    if (id >= sample_nsites())
        return;
    const struct site_figures *s = &smp.counts[id];
    /* The freed figures first: a free is counted after its malloc (the
     * program orders them, and the adds are releases), so totals read after
     * them cover every sample they count and live never comes out below
     * zero. The min() keeps it so whatever a racing reader sees. */
    uint64_t fn = __atomic_load_n(&s->freed_n, __ATOMIC_ACQUIRE);
    uint64_t fb = __atomic_load_n(&s->freed_bytes, __ATOMIC_ACQUIRE);
    uint64_t fwn = __atomic_load_n(&s->freed_wn, __ATOMIC_ACQUIRE);
    uint64_t fwb = __atomic_load_n(&s->freed_wbytes, __ATOMIC_ACQUIRE);
    c->total_n = __atomic_load_n(&s->total_n, __ATOMIC_ACQUIRE);
    c->total_bytes = __atomic_load_n(&s->total_bytes, __ATOMIC_ACQUIRE);
    c->total_wn = __atomic_load_n(&s->total_wn, __ATOMIC_ACQUIRE);
    c->total_wbytes = __atomic_load_n(&s->total_wbytes, __ATOMIC_ACQUIRE);
    c->live_n = c->total_n - (fn < c->total_n ? fn : c->total_n);
    c->live_bytes = c->total_bytes - (fb < c->total_bytes ? fb : c->total_bytes);
    c->live_wn = c->total_wn - (fwn < c->total_wn ? fwn : c->total_wn);
    c->live_wbytes = c->total_wbytes - (fwb < c->total_wbytes ? fwb : c->total_wbytes);
}

uint64_t sample_dropped(void)
{
    return __atomic_load_n(&smp_dropped, __ATOMIC_RELAXED);
}

uint64_t sample_table_bytes(void)
{
    return smp.mapped;
}
