/* SPDX-License-Identifier: MIT */
/*
 * torture_worker.c - the torture's workers: a table of blocks and the seeded random
 * malloc-family calls a thread makes on it (every entry point, realloc chains, growth to
 * the usable size, overflowing requests), the hand-off cells through which blocks pass
 * between threads, and the churn of short-lived threads. Every block is verified before
 * it is freed, resized or given away.
 */
#define _GNU_SOURCE
#include "torture.h"

const char *const op_names[OP_NOPS] = {
    "malloc",  "calloc",        "memalign", "posix_memalign", "aligned_alloc", "valloc",
    "pvalloc", "reallocarray0", "realloc0", "free",           "realloc",       "reallocarray",
    "usable-grow", "verify",    "overflow", "handoff"};

struct worker tables[NTABLES];
_Atomic(unsigned char *) xchg[XCHG];
atomic_int stop_round;
atomic_ulong progress;
atomic_ulong churned;

static int owner_of(uint64_t id)
{
    return (int)((id >> 40) & 0xff);
}

static unsigned gen_of(uint64_t id)
{
    return (unsigned)((id >> 28) & 0xfff);
}

int verify_slot(const struct slot *s, const char *when, int thread)
{
    long off = layout_check(s->p, s->size, s->id, s->size);
    if (off < 0)
        return 1;
    /* How far the damage goes helps tell a stray write from a block handed out twice. */
    size_t bad = 0;
    for (size_t i = (size_t)off; i < s->size; i++)
        bad += s->p[i] != expected(s->id, s->size, i);
    FAILF("%s: thread %d, block id %#llx (allocated by table %d gen %u) size %zu at %p: "
          "byte %ld is %#x, expected %#x (%zu of %zu bytes from there differ)",
          when, thread, (unsigned long long)s->id, owner_of(s->id), gen_of(s->id), s->size,
          (void *)s->p, off, s->p[off], expected(s->id, s->size, (size_t)off), bad,
          s->size - (size_t)off);
    return 0;
}

/* ---- random choices --------------------------------------------------------------- */

static uint64_t new_id(struct worker *w)
{
    return (ID_MAGIC << 48) | ((uint64_t)(w->index & 0xff) << 40) |
           ((uint64_t)(w->gen & 0xfff) << 28) | (w->next_id++ & 0xfffffff);
}

/* A random size for this table's thread, counting the big ones. */
static size_t pick_size(struct worker *w)
{
    size_t n = rand_size(&w->rng);
    w->c.big += n >= TORTURE_BIG;
    return n;
}

/* Count a request toward the "pools really served it" check. */
static void note_small(struct worker *w, const void *p, size_t n)
{
    if (n >= 1 && n <= 1024) {
        w->c.small++;
        w->c.small_owned += pt_owns(p) == 1;
    }
}

/* Allocate a new block into an empty slot with a randomly chosen entry point. */
static void op_alloc(struct worker *w, struct slot *s)
{
    size_t n = pick_size(w);
    unsigned pick = (unsigned)(pt_rand(&w->rng) % 100);
    size_t align = basic_align(n);
    void *p = NULL;
    int op;
    if (pick < 38) {
        op = OP_MALLOC;
        p = malloc(n);
    } else if (pick < 52) {
        op = OP_CALLOC;
        size_t k = 1 + pt_rand(&w->rng) % 8;
        n = n / k * k;
        align = basic_align(n);
        p = calloc(n / k, k);
        if (p && !all_zero(p, n))
            FAILF("calloc(%zu, %zu) returned %p: memory that is not zero", n / k, k, p);
    } else if (pick < 60) {
        op = OP_MEMALIGN;
        size_t a = (size_t)16 << (pt_rand(&w->rng) % 9);
        if (pt_rand(&w->rng) % 50 == 0)
            a = 65536;
        align = a > align ? a : align;
        p = memalign(a, n);
    } else if (pick < 67) {
        op = OP_POSIX_MEMALIGN;
        size_t a = (size_t)8 << (pt_rand(&w->rng) % 10);
        align = a > align ? a : align;
        int rc = posix_memalign(&p, a, n);
        if (rc != 0) {
            FAILF("posix_memalign(%zu, %zu) returned %d", a, n, rc);
            p = NULL;
        }
    } else if (pick < 74) {
        op = OP_ALIGNED_ALLOC;
        size_t a = (size_t)16 << (pt_rand(&w->rng) % 9);
        n = (n + a - 1) / a * a; /* C11: a multiple of the alignment */
        align = a > basic_align(n) ? a : basic_align(n);
        p = aligned_alloc(a, n);
    } else if (pick < 77) {
        op = OP_VALLOC;
        align = page_size;
        p = valloc(n);
    } else if (pick < 80) {
        op = OP_PVALLOC;
        align = page_size;
        p = pvalloc(n);
        /* pvalloc rounds the request up to whole pages. Not pvalloc(0): glibc 2.36
         * masks with -(pagesize - 1) and gives 0 bytes a small block, not a page. */
        n = (n + page_size - 1) / page_size * page_size;
    } else if (pick < 89) {
        op = OP_REALLOCARRAY_NEW;
        size_t k = 1 + pt_rand(&w->rng) % 4;
        n = n / k * k;
        align = basic_align(n);
        p = reallocarray(NULL, n / k, k);
    } else {
        op = OP_REALLOC_NEW;
        p = realloc(NULL, n);
    }
    w->c.op[op]++;
    w->c.bytes += n;
    if (!check_new(p, n, align, op_names[op]))
        return;
    note_small(w, p, n);
    s->p = p;
    s->size = n;
    s->align = align;
    s->id = new_id(w);
    layout_fill(s->p, n, s->id);
}

/* Resize a live block: min(old patterned size, n) bytes must survive. */
static void resize(struct worker *w, struct slot *s, size_t n, int use_array)
{
    size_t old = s->size;
    unsigned char *q;
    if (use_array) {
        size_t k = 1 + pt_rand(&w->rng) % 4;
        n = n / k * k;
        q = reallocarray(pt_opaque(s->p), n / k, k);
        w->c.op[OP_REALLOCARRAY]++;
    } else {
        q = realloc(pt_opaque(s->p), n);
        w->c.op[OP_REALLOC]++;
    }
    w->c.bytes += n;
    if (n == 0 && q == NULL) {
        s->p = NULL; /* realloc(p, 0) freed the block (glibc behaviour) */
        return;
    }
    if (!check_new(q, n, basic_align(n), use_array ? "reallocarray" : "realloc")) {
        s->p = NULL; /* lost on failure; the failure is counted */
        return;
    }
    size_t keep = old < n ? old : n;
    long off = layout_check(q, keep, s->id, old);
    if (off >= 0)
        FAILF("realloc %zu -> %zu (id %#llx, %p -> %p): kept byte %ld changed", old, n,
              (unsigned long long)s->id, (void *)s->p, (void *)q, off);
    s->p = q;
    s->size = n;
    s->align = basic_align(n);
    if (n >= 16) {
        uint64_t hdr[2] = {s->id, n};
        memcpy(q, hdr, 16);
    }
    size_t start = (old >= 16 && n >= 16) ? keep : 0;
    if (n >= 16 && start < 16)
        start = 16;
    pattern_fill(q, start, n, s->id);
}

/* Grow the patterned area to the whole malloc_usable_size: the bytes beyond the request
 * belong to the block too, and writing them must not touch any other block. */
static void usable_grow(struct worker *w, struct slot *s)
{
    size_t u = malloc_usable_size(s->p);
    w->c.op[OP_USABLE_GROW]++;
    if (u < s->size) {
        FAILF("malloc_usable_size(%p) = %zu, less than the %zu bytes in use", (void *)s->p, u,
              s->size);
        return;
    }
    if (u > MAX_BLOCK)
        return; /* keep the hand-off header's sanity bound */
    size_t old = s->size;
    s->size = u;
    if (u >= 16) {
        uint64_t hdr[2] = {s->id, u};
        memcpy(s->p, hdr, 16);
    }
    size_t start = old >= 16 ? old : 0;
    if (u >= 16 && start < 16)
        start = 16;
    pattern_fill(s->p, start, u, s->id);
}

/* Requests that overflow must fail cleanly and leave the block alone. */
static void overflow_probe(struct worker *w, struct slot *s)
{
    w->c.op[OP_OVERFLOW]++;
    errno = 0;
    void *p = calloc(pt_size(SIZE_MAX / 8 + 1), 16);
    CHECK(p == NULL && pt_errno() == ENOMEM, "calloc overflowing size_t returned %p, errno %d",
          p, pt_errno());
    errno = 0;
    p = reallocarray(pt_opaque(s->p), pt_size(SIZE_MAX / 2), 3);
    CHECK(p == NULL && pt_errno() == ENOMEM,
          "reallocarray(%p) overflowing size_t returned %p, errno %d", (void *)s->p, p,
          pt_errno());
    errno = 0;
    p = realloc(pt_opaque(s->p), pt_size(SIZE_MAX - 4096));
    CHECK(p == NULL && pt_errno() == ENOMEM, "realloc(%p, SIZE_MAX - 4096) returned %p, errno %d",
          (void *)s->p, p, pt_errno());
    verify_slot(s, "after failed overflowing reallocs", w->index);
}

/* Receive a block another thread gave away: read its header, verify, free it. */
void take_and_free(unsigned char *p, struct worker *me, struct counters *c)
{
    uint64_t hdr[2];
    memcpy(hdr, p, 16);
    struct slot s = {.p = p, .id = hdr[0], .size = (size_t)hdr[1]};
    if ((s.id >> 48) != ID_MAGIC || s.size < 16 || s.size > MAX_BLOCK ||
        malloc_usable_size(p) < s.size) {
        FAILF("handed-off block %p has a broken header: id %#llx size %zu (usable %zu)",
              (void *)p, (unsigned long long)s.id, s.size, malloc_usable_size(p));
        return; /* do not free what we cannot trust */
    }
    int ok = verify_slot(&s, "handed-off block", me ? me->index : -1);
    if (ok && c && me) {
        int owner = owner_of(s.id);
        if (owner != me->index || gen_of(s.id) != (me->gen & 0xfff))
            c->cross_frees++;
        if (owner < NTABLES && (gen_of(s.id) != (tables[owner].gen & 0xfff) ||
                                !atomic_load_explicit(&tables[owner].running,
                                                      memory_order_relaxed)))
            c->orphan_frees++;
    }
    free(p);
}

/* Free a slot's block, counting a free of another thread's block. */
static void free_slot(struct worker *w, struct slot *s)
{
    if (owner_of(s->id) == w->index && gen_of(s->id) != (w->gen & 0xfff)) {
        w->c.cross_frees++;
        w->c.orphan_frees++; /* the thread that allocated it has been joined */
    }
    free(s->p);
    w->c.op[OP_FREE]++;
    s->p = NULL;
}

/* One random operation on this worker's table. */
static void step(struct worker *w)
{
    uint64_t r = pt_rand(&w->rng);
    struct slot *s = &w->slots[(r >> 10) % SLOTS];
    unsigned pick = (unsigned)(r % 1000);
    int live = atomic_load_explicit(&s->state, memory_order_relaxed) == STABLE;

    slot_busy(s);
    if (pick < 300) {
        if (live && verify_slot(s, "before free (replaced)", w->index))
            free_slot(w, s);
        s->p = NULL;
        op_alloc(w, s);
    } else if (!live) {
        /* nothing to do on an empty slot */
    } else if (pick < 520) {
        if (verify_slot(s, "before free", w->index))
            free_slot(w, s);
        else
            s->p = NULL; /* leave a damaged block alone: its header may be garbage */
    } else if (pick < 720) {
        /* A realloc chain: small steps that stay in a class, big ones that cross it. */
        int steps = 1 + (int)(pt_rand(&w->rng) % 4);
        for (int k = 0; k < steps && s->p; k++) {
            if (!verify_slot(s, "before realloc", w->index)) {
                s->p = NULL;
                break;
            }
            size_t n;
            if (pt_rand(&w->rng) & 1) {
                long d = (long)(pt_rand(&w->rng) % 129) - 64;
                n = (long)s->size + d > 0 ? (size_t)((long)s->size + d) : 1;
            } else {
                n = pick_size(w);
            }
            resize(w, s, n, 0);
        }
    } else if (pick < 760) {
        if (verify_slot(s, "before reallocarray", w->index))
            resize(w, s, pick_size(w), 1);
        else
            s->p = NULL;
    } else if (pick < 800) {
        if (verify_slot(s, "before growing to the usable size", w->index))
            usable_grow(w, s);
    } else if (pick < 850) {
        verify_slot(s, "on touch", w->index);
        if (!aligned_to(s->p, s->align))
            FAILF("block %p lost its %zu alignment", (void *)s->p, s->align);
        size_t u = malloc_usable_size(s->p);
        if (u < s->size)
            FAILF("malloc_usable_size(%p) shrank to %zu below %zu", (void *)s->p, u, s->size);
        w->c.op[OP_VERIFY]++;
    } else if (pick < 853) {
        overflow_probe(w, s);
    } else if (s->size >= 16) {
        /* Give the block away; free whatever the cell held (often another thread's). */
        if (verify_slot(s, "before hand-off", w->index)) {
            unsigned char *old = atomic_exchange(&xchg[(r >> 40) % XCHG], s->p);
            w->c.op[OP_GIVE]++;
            s->p = NULL;
            if (old)
                take_and_free(old, w, &w->c);
        } else {
            s->p = NULL;
        }
    }
    slot_set(s, s->p ? STABLE : EMPTY);
}

/* Verify and free everything in a table (nobody else runs on it). */
void table_drain(struct worker *w, const char *when)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &w->slots[i];
        if (atomic_load(&s->state) != STABLE)
            continue;
        slot_busy(s);
        if (verify_slot(s, when, w->index))
            free(s->p);
        s->p = NULL;
        slot_set(s, EMPTY);
    }
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (uint64_t i = 0; w->ops ? i < w->ops : !atomic_load_explicit(&stop_round,
                                                                       memory_order_relaxed);
         i++) {
        step(w);
        if ((i & 255) == 255)
            atomic_fetch_add_explicit(&progress, 256, memory_order_relaxed);
        if (atomic_load_explicit(&pt_failures, memory_order_relaxed) > 30)
            break;
    }
    atomic_store(&w->running, 0);
    return NULL;
}

int start_on(struct worker *w, uint64_t ops, uint64_t seed)
{
    w->gen++;
    w->ops = ops;
    w->rng = seed ^ ((uint64_t)w->index << 32) ^ ((uint64_t)w->gen * 0x100000001B3ull);
    atomic_store(&w->running, 1);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        atomic_store(&w->running, 0);
        FAILF("pthread_create (table %d): error %d", w->index, rc);
        return 0;
    }
    return 1;
}

/* ---- thread churn ----------------------------------------------------------------- */

/* Creates and joins short-lived threads until the round stops. Each thread does a few
 * hundred to a few thousand operations on a churn table; half the time the table is
 * drained by the exiting thread, otherwise the next thread on it frees what is left. */
void *churn_main(void *arg)
{
    uint64_t rng = *(uint64_t *)arg;
    while (!atomic_load(&stop_round) && atomic_load(&pt_failures) <= 30) {
        int n = 1 + (int)(pt_rand(&rng) % NCHURN);
        int started[NCHURN] = {0};
        for (int i = 0; i < n; i++)
            started[i] = start_on(&tables[MAXT + i], 100 + pt_rand(&rng) % 3000, rng);
        for (int i = 0; i < n; i++) {
            if (!started[i])
                continue;
            pthread_join(tables[MAXT + i].thread, NULL);
            atomic_fetch_add(&churned, 1);
            if (pt_rand(&rng) & 1)
                table_drain(&tables[MAXT + i], "churn table after its thread exited");
        }
    }
    return NULL;
}

