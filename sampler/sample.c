/* SPDX-License-Identifier: MIT */
/* sample.c - allocation sampling: the countdown's slow half, the stack table
 * and the table of live sampled objects (see sample.h). No malloc, no lock. */
#define _GNU_SOURCE
#include "sample.h"
#include "unwind_fds.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "../core/log.h"

#define SITE_INDEX   (2 * SAMPLE_SITES)  /* hash index of the stacks: at most half full */
#define SITE_BUSY    UINT32_MAX          /* index slot claimed, its stack being written */
#define SKIP_MAX     8                   /* the allocator's own frames above the caller, at most */
#define SPIN_MAX     4096                /* waits for another thread's stack, then gives up */
#define LIVE_WAYS    8
#define LIVE_BITS    14
#define LIVE_BUCKETS (1u << LIVE_BITS)   /* 131072 slots: ~32k live samples before drops matter */
#define META_SITE    0xffffffu           /* meta = size << 24 | site */
#define SIZE_MAX40   ((UINT64_C(1) << 40) - 1)
#define FIRST_STEPPED 1                  /* a thread's first stacks walked by unw_step (below) */

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
    int (*backtrace)(void **, int);  /* libunwind's unw_backtrace */
    struct unw_calls *unw;           /* for a thread's first stacks, or NULL */
    uintptr_t own_lo, own_hi;        /* this library's code */
    uint32_t *index;                 /* SITE_INDEX slots: 0 free, SITE_BUSY, or a site id */
    struct sample_stack *stacks;     /* by site id, dense */
    struct site_figures *counts;     /* by site id, dense */
    struct live_bucket *live;
    size_t mapped;
} smp = {.why = "not started"};

static uint32_t smp_nsites = 1;      /* next site id; 0 is the unknown-stack site */
static uint64_t smp_dropped;
static uint64_t smp_taken;           /* samples recorded (sample_record that returned 1) */
static uint64_t smp_due_early;       /* sample_due() calls while not started (sample_exit) */
static int smp_verbose;              /* the exit line (sample_exit) */
static uint32_t smp_unwinding;       /* threads inside libunwind for a sample */
static int smp_forking;              /* a fork is being prepared: no new unwinding */

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

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
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
    uint64_t s = mix((uintptr_t)t ^ ((uint64_t)ts.tv_nsec << 24) ^ (uint64_t)ts.tv_sec ^
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

/* ---- stacks ---------------------------------------------------------------------------- */

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline int own_code(uintptr_t ip)
{
    return ip >= smp.own_lo && ip < smp.own_hi;
}

static uint64_t stack_hash(const uintptr_t *f, uint32_t depth)
{
    uint64_t h = depth;
    for (uint32_t i = 0; i < depth; i++)
        h = (h ^ f[i]) * UINT64_C(0x9E3779B97F4A7C15) + (h >> 29);
    h = mix(h);
    return h ? h : 1;
}

/* A stack as unwound: frames in the caller's buffer, not yet a table entry. */
struct stack_key {
    const uintptr_t *frame;
    uint32_t depth;
    uint64_t hash;
};

static int same_stack(const struct sample_stack *a, const struct stack_key *b)
{
    if (a->hash != b->hash || a->depth != b->depth)
        return 0;
    for (uint32_t i = 0; i < a->depth; i++)
        if (a->frame[i] != b->frame[i])
            return 0;
    return 1;
}

/* The id of stack s, inserted if new. 0 when the table is full, or when the
 * slot it needs stays claimed by a thread that does not finish writing (it
 * may be stopped, or be the thread a signal handler interrupted). */
static uint32_t site_find(const struct stack_key *s)
{
    const uint32_t mask = SITE_INDEX - 1;
    for (uint32_t i = 0; i < SITE_INDEX; i++) {
        uint32_t *slot = &smp.index[(s->hash + i) & mask];
        uint32_t id = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (id == 0) {
            if (__atomic_load_n(&smp_nsites, __ATOMIC_RELAXED) >= SAMPLE_SITES)
                return 0;
            if (__atomic_compare_exchange_n(slot, &id, SITE_BUSY, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                uint32_t nid = __atomic_fetch_add(&smp_nsites, 1, __ATOMIC_RELAXED);
                if (nid >= SAMPLE_SITES) {
                    __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
                    return 0;
                }
                /* Written once, into zeroed (fresh mmap) memory: the frames
                 * past depth stay 0. */
                struct sample_stack *r = &smp.stacks[nid];
                r->hash = s->hash;
                r->depth = s->depth;
                for (uint32_t k = 0; k < s->depth; k++)
                    r->frame[k] = s->frame[k];
                __atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
                __atomic_store_n(slot, nid, __ATOMIC_RELEASE);
                return nid;
            }
            /* Lost the race: id is what the winner stored. */
        }
        for (int spin = 0; id == SITE_BUSY && spin < SPIN_MAX; spin++) {
            spin_pause();
            id = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        }
        if (id == SITE_BUSY)
            return 0;
        if (id != 0 && same_stack(&smp.stacks[id], s))
            return id;
    }
    return 0;
}

/*
 * A thread's first stack, walked frame by frame with unw_step rather than
 * with unw_backtrace. unw_backtrace keeps a cache of frame layouts per thread,
 * made at the thread's first call: 16384 slots (256 KiB mmap'ed and written:
 * ~76k instructions and 64 page faults, ~30 us) and unmapped at its exit. A
 * thread that is sampled once or twice in its life (short-lived threads: at
 * POOLALLOC_SAMPLE=2m, 122 of 2500 in `micro threads`) paid that for one
 * stack. unw_step reads libunwind's global cache of unwind rules instead (a
 * locked lookup per frame, ~0.3 us), so the first stack costs a few us, and
 * only a thread that comes back for more builds its own cache. Both return
 * the same return addresses (libunwind's backtrace() falls back to this very
 * loop when its fast path gives up), so a site is the same site either way.
 *
 * x86_64 only: the names are libunwind's for that target, and the context and
 * cursor are opaque blocks of its x86_64 sizes (968 and 1016 bytes in 1.6).
 */
#if defined(__x86_64__)
#define UNW_STEP_NAMES "_Ux86_64_getcontext", "_ULx86_64_init_local", "_ULx86_64_step", \
                       "_ULx86_64_get_reg"
#define UNW_REG_IP_NO  16                /* UNW_X86_64_RIP */
#define UNW_CONTEXT_BYTES 1024
#define UNW_CURSOR_BYTES  1088
#endif

struct unw_calls {
    int (*getcontext)(void *ctx);
    int (*init_local)(void *cursor, void *ctx);
    int (*step)(void *cursor);
    int (*get_reg)(void *cursor, int reg, uintptr_t *val);
};

#ifdef UNW_STEP_NAMES
static struct unw_calls unw_calls;

static int step_backtrace(uintptr_t *out, int max)
{
    _Alignas(64) char ctx[UNW_CONTEXT_BYTES];
    _Alignas(64) char cursor[UNW_CURSOR_BYTES];
    const struct unw_calls *u = smp.unw;
    if (u->getcontext(ctx) != 0 || u->init_local(cursor, ctx) < 0)
        return 0;
    int n = 0;
    while (n < max && u->step(cursor) > 0) {
        uintptr_t ip;
        if (u->get_reg(cursor, UNW_REG_IP_NO, &ip) < 0)
            break;
        out[n++] = ip;
    }
    return n;
}
#endif

/* libunwind's calls for step_backtrace, or none: then every stack is
 * unw_backtrace's. */
static void unw_step_calls(void *h)
{
#ifdef UNW_STEP_NAMES
    static const char *const name[] = {UNW_STEP_NAMES};
    void *f[4];
    for (int i = 0; i < 4; i++)
        if (!(f[i] = dlsym(h, name[i])))
            return;
    *(void **)&unw_calls.getcontext = f[0];
    *(void **)&unw_calls.init_local = f[1];
    *(void **)&unw_calls.step = f[2];
    *(void **)&unw_calls.get_reg = f[3];
    smp.unw = &unw_calls;
#else
    (void)h;
#endif
}

/* The site of the caller of malloc: libunwind's return addresses, the
 * allocator's own frames (the sampler, malloc's slow half) left out. */
static uint32_t site_of_caller(void)
{
    /* Written by libunwind as void *: uintptr_t here, as the table keeps them
     * (the stores are in another object, and have the same representation). */
    uintptr_t raw[SAMPLE_DEPTH + SKIP_MAX];
    /* Seen by sample_fork_prepare() (seq_cst on both sides, Dekker style):
     * either it waits for this unwinding, or this one sees the fork. */
    __atomic_fetch_add(&smp_unwinding, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&smp_forking, __ATOMIC_SEQ_CST)) {
        __atomic_fetch_sub(&smp_unwinding, 1, __ATOMIC_RELEASE);
        return 0;
    }
    int n;
#ifdef UNW_STEP_NAMES
    if (smp.unw && sample_tls.walked < FIRST_STEPPED)
        n = step_backtrace(raw, SAMPLE_DEPTH + SKIP_MAX);
    else
#endif
        n = smp.backtrace((void **)raw, SAMPLE_DEPTH + SKIP_MAX);
    sample_tls.walked++;
    __atomic_fetch_sub(&smp_unwinding, 1, __ATOMIC_RELEASE);
    int i = 0;
    while (i < n && own_code(raw[i]))
        i++;
    if (i >= n)
        return 0;
    /* Looked up in place: a stack is copied only when it is new. */
    struct stack_key k;
    k.frame = raw + i;
    k.depth = (uint32_t)(n - i < SAMPLE_DEPTH ? n - i : SAMPLE_DEPTH);
    k.hash = stack_hash(k.frame, k.depth);
    return site_find(&k);
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

static inline struct live_bucket *bucket_of(const void *p)
{
    uint64_t h = (uint64_t)((uintptr_t)p >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    return &smp.live[h >> (64 - LIVE_BITS)];
}

/* Claims a free way of p's bucket. 0 if all ways are taken. */
static int live_put(void *p, uint64_t meta)
{
    struct live_bucket *b = bucket_of(p);
    /* Before the key: a free of p, ordered after this malloc by the program,
     * must not see nlive == 0. */
    __atomic_fetch_add(&sample_nlive, 1, __ATOMIC_RELAXED);
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
    __atomic_fetch_sub(&sample_nlive, 1, __ATOMIC_RELAXED);
    return 0;
}

int sample_record(void *p, size_t n)
{
    struct sample_tls *t = &sample_tls;
    t->busy++;
    uint64_t x = n < SIZE_MAX40 ? n : SIZE_MAX40;
    uint64_t meta = x << 24 | site_of_caller();
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
    struct live_bucket *b = bucket_of(p);
    for (int w = 0; w < LIVE_WAYS; w++) {
        struct live_slot *s = &b->slot[w];
        if (__atomic_load_n(&s->key, __ATOMIC_RELAXED) != (uint64_t)(uintptr_t)p)
            continue;
        uint64_t meta = __atomic_load_n(&s->meta, __ATOMIC_RELAXED);
        __atomic_store_n(&s->key, 0, __ATOMIC_RELEASE);
        __atomic_fetch_sub(&sample_nlive, 1, __ATOMIC_RELAXED);
        count(meta, COUNT_FREED);
        if (o)
            o->meta = meta;
        return 1;
    }
    return 0;
}

int sample_restore(void *p, const struct sample_obj *o)
{
    if (!live_put(p, o->meta))
        return 0;
    count(o->meta, COUNT_RESTORED);
    return 1;
}

/* ---- start ------------------------------------------------------------------------------ */

/* Linker-made: this library's own ELF header, at its load address. */
extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

/* [own_lo, own_hi): the executable segments of this library. */
static void own_range(void)
{
    const ElfW(Ehdr) *eh = &__ehdr_start;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
    uintptr_t base = 0, lo = UINTPTR_MAX, hi = 0;
    int first = 1;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (first)   /* the first segment maps the header: offset 0 */
            base = (uintptr_t)eh - ph[i].p_vaddr, first = 0;
        if (!(ph[i].p_flags & PF_X))
            continue;
        uintptr_t a = base + ph[i].p_vaddr, z = a + ph[i].p_memsz;
        lo = a < lo ? a : lo;
        hi = z > hi ? z : hi;
    }
    smp.own_lo = lo;
    smp.own_hi = hi;
}

static size_t page_round(size_t n)
{
    return PA_ROUNDUP(n, PA_PAGE);
}

/* fork() while another thread unwinds would leave libunwind's mutexes held
 * in the child, whose first sample would then wait forever. The prepare
 * handler (run before the core's: an unwinding thread may still malloc;
 * preload/init.c, the fork handlers) stops new unwinding and waits for the
 * unwinding under way, at most a second (a signal handler that forks from
 * inside the sampler would wait for itself). Samples taken meanwhile go to
 * site 0. The program's own use of libunwind is not covered. */
void sample_fork_prepare(void)
{
    sample_tls.busy++;   /* until fork returns: glibc's arena locks are held meanwhile */
    __atomic_store_n(&smp_forking, 1, __ATOMIC_SEQ_CST);
    struct timespec t0, now, nap = {0, 100000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (__atomic_load_n(&smp_unwinding, __ATOMIC_SEQ_CST)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 2 || (now.tv_sec - t0.tv_sec == 1 && now.tv_nsec >= t0.tv_nsec))
            break;
        nanosleep(&nap, NULL);
    }
}

void sample_fork_parent(void)
{
    __atomic_store_n(&smp_forking, 0, __ATOMIC_SEQ_CST);
    sample_tls.busy--;
}

void sample_fork_child(void)
{
    sample_tls.busy--;
    __atomic_store_n(&smp_unwinding, 0, __ATOMIC_RELAXED);   /* those threads are not here */
    __atomic_store_n(&smp_forking, 0, __ATOMIC_SEQ_CST);
}

/* One reservation for every table; pages are touched as samples arrive. */
static int map_tables(void)
{
    size_t a = page_round(SITE_INDEX * sizeof(uint32_t));
    size_t b = page_round(SAMPLE_SITES * sizeof(struct sample_stack));
    size_t c = page_round(SAMPLE_SITES * sizeof(struct site_figures));
    size_t d = page_round(LIVE_BUCKETS * sizeof(struct live_bucket));
    char *m = mmap(NULL, a + b + c + d, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    smp.index = (uint32_t *)m;
    smp.stacks = (struct sample_stack *)(m + a);
    smp.counts = (struct site_figures *)(m + a + b);
    smp.live = (struct live_bucket *)(m + a + b + c);
    smp.mapped = a + b + c + d;
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

void sample_start(uint64_t mean, int verbose)
{
    const char *why = NULL;
    /* Once per process: a fork child keeps its parent's state and tables. */
    static int started;
    if (__atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL))
        return;
    smp_verbose = verbose;
    if (!mean) {
        why = "off (POOLALLOC_SAMPLE=0)";
    } else {
        /* RTLD_LOCAL, not a link-time dependency: libunwind.so.8 also
         * defines _Unwind_RaiseException and the rest of the C++ unwinding
         * ABI, and in the global scope it would take C++ exceptions away
         * from libgcc_s in every program we are preloaded into. */
        void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (!h)
            why = "off: libunwind.so.8 cannot be loaded (Debian package libunwind8)";
        else if (!(*(void **)&smp.backtrace = dlsym(h, "unw_backtrace")))
            why = "off: libunwind.so.8 has no unw_backtrace";
        else if (map_tables() != 0)
            why = "off: cannot map the sampling tables";
        else
            unw_step_calls(h);
    }
    /* Before the first sample: libunwind's validation pipe would take the two
     * lowest free descriptors, which a program that closes what it did not
     * open hands to its own files (unwind_fds.h). */
    int moved = why ? 0 : unwind_fds_move(smp.backtrace);
    if (why) {
        smp.why = why;
        if (verbose && mean) {
            struct logbuf b = {0};
            log_str(&b, "poolalloc: sampling ");
            log_str(&b, why);
            log_str(&b, "\n");
            log_flush(&b, 2);
        }
        __atomic_store_n(&smp.state, SMP_OFF, __ATOMIC_RELEASE);
        return;
    }
    own_range();
    smp.mean = mean;
    smp.why = "on";
    __atomic_store_n(&smp.state, SMP_ON, __ATOMIC_RELEASE);
    /* The thread that starts it (the constructor's, with an immediate start)
     * draws at its next request instead of waiting out its park. */
    sample_tls.left = 0;
    if (verbose) {
        struct logbuf b = {0};
        log_str(&b, "poolalloc: sampling every ");
        log_u64(&b, mean);
        log_str(&b, " bytes on average (libunwind");
        log_str(&b, moved > 0 ? "; its pipe moved to the top of the descriptor table)\n"
                              : moved < 0 ? "; its pipe could not be moved)\n" : ")\n");
        log_flush(&b, 2);
    }
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
    uint32_t n = __atomic_load_n(&smp_nsites, __ATOMIC_RELAXED);
    return n < SAMPLE_SITES ? n : SAMPLE_SITES;
}

const struct sample_stack *sample_site_stack(unsigned id)
{
    if (id == 0 || id >= sample_nsites())
        return NULL;
    const struct sample_stack *s = &smp.stacks[id];
    return __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) ? s : NULL;
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
