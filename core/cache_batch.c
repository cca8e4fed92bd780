/* SPDX-License-Identifier: MIT */
/* cache_batch.c - the CPU tables, a CPU's cache made on first use, and the
 * refills both modes share (see cache_batch.h). */
#include "cache_batch.h"

#include "central.h"
#include "cpu.h"
#include "meta.h"

struct cpu_cache **cache_cpus;
struct cache_class **cache_rseq_table;
struct cpu_cache cache_parked;
unsigned cache_cpu_mask;
unsigned cache_nslots;
uint32_t cache_cap[SC_COUNT];
uint32_t cache_slots[SC_COUNT];
pa_lock cache_create_lock;

int cache_tables_init(void)
{
    unsigned n = cpu_possible();
    unsigned slots = 1;
    while (slots < n)
        slots <<= 1;
    cache_cpus = meta_alloc(slots * sizeof(struct cpu_cache *));
    cache_rseq_table = meta_alloc(slots * sizeof(struct cache_class *));
    if (!cache_cpus || !cache_rseq_table)
        return -1;
    for (unsigned i = 0; i < slots; i++)
        cache_rseq_table[i] = cache_parked.cls;
    cache_nslots = slots;
    cache_cpu_mask = slots - 1;
    return 0;
}

/* Offsets in slots from a cache's first slot ((void **)(cc + 1)) of each
 * class's stacks, the same in every CPU's cache: big[cls] is side 0's big
 * stack (side 1's follows it), small[side][cls] the small ones, every
 * class's side 0 together, then every class's side 1: a cache that starts
 * fills the start of each side-0 stack (a batch), and those lie side by
 * side. One slot of NULL below each stack. A class whose small stack would
 * be its whole stack has none (small = big). Written once, under
 * cache_create_lock, before the first cache. */
static size_t stack_big[SC_COUNT], stack_small[2][SC_COUNT], stack_total;
static uint32_t stack_room[SC_COUNT];

/* A small stack holds what a cache starts with and two batches more (two
 * misses that grow it, cache_grow_locked) before it moves to the big one. */
static uint32_t small_room(unsigned c)
{
    uint32_t room = cache_cap[c] + 2u * sc_batch[c];
    return room < cache_slots[c] ? room : cache_slots[c];
}

static void stack_layout(void)
{
    size_t at = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        stack_big[c] = at + 1;
        at += 2 * ((size_t)cache_slots[c] + 1);
    }
    for (unsigned c = 0; c < SC_COUNT; c++)
        stack_room[c] = small_room(c);
    for (int side = 0; side < 2; side++)
        for (unsigned c = 0; c < SC_COUNT; c++) {
            if (stack_room[c] < cache_slots[c]) {
                stack_small[side][c] = at + 1;
                at += (size_t)stack_room[c] + 1;
            } else {
                stack_small[side][c] = stack_big[c] + (size_t)side * (cache_slots[c] + 1);
            }
        }
    stack_total = at;
}

static void **stack_at(const struct cpu_cache *cc, size_t off)
{
    return (void **)(cc + 1) + off;
}

/* The small (small = 1) or big stack of cls on a side. */
static void **stack_of(const struct cpu_cache *cc, unsigned cls, int small, int side)
{
    if (small)
        return stack_at(cc, stack_small[side][cls]);
    return stack_at(cc, stack_big[cls] + (size_t)side * (cache_slots[cls] + 1));
}

unsigned cache_stack_room(const struct cpu_cache *cc, unsigned cls, void *const *stack)
{
    int small = stack == stack_of(cc, cls, 1, 0) || stack == stack_of(cc, cls, 1, 1);
    return small ? stack_room[cls] : cache_slots[cls];
}

void cache_park(struct cpu_cache *cc)
{
    __atomic_store_n(&cc->stopped, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cache_rseq_table[cc->cpu], cache_parked.cls, __ATOMIC_SEQ_CST);
}

void cache_stop(struct cpu_cache *cc)
{
    if (cpu_mode == CPU_MODE_RSEQ) {
        cache_park(cc);
        cpu_fence((int)cc->cpu);
    }
}

void cache_unstop(struct cpu_cache *cc)
{
    __atomic_store_n(&cache_rseq_table[cc->cpu], cc->cls, __ATOMIC_RELEASE);
    __atomic_store_n(&cc->stopped, 0, __ATOMIC_RELEASE);
}

void cache_stack_fit(struct cpu_cache *cc, unsigned cls, uint32_t cap, int stopped)
{
    struct cache_class *cl = &cc->cls[cls];
    if (cap <= cache_stack_room(cc, cls, cl->slots))
        return;
    int side = cl->slots == stack_of(cc, cls, 1, 0) ? 0 : 1;
    void **big = stack_of(cc, cls, 0, side);
    PA_ASSERT(cl->vslots != big && cl->slots == stack_of(cc, cls, 1, side),
              "cache: a small local stack moves to its side's big one, which no stack uses");
    if (!stopped)
        cache_stop(cc);
    for (uint32_t i = 0; i < cl->count; i++)
        big[i] = cl->slots[i];
    cl->slots = big;
    if (!stopped)
        cache_unstop(cc);
}

struct cpu_cache *cache_create_slow(unsigned cpu)
{
    if (lock_mine(&cache_create_lock))
        return NULL;   /* a signal handler interrupted this very function */
    lock_take(&cache_create_lock);
    struct cpu_cache *cc = cache_cpus[cpu];
    if (cc)
        goto out;
    if (!stack_total)
        stack_layout();
    cc = meta_alloc(sizeof *cc + stack_total * sizeof(void *));
    if (!cc)
        goto out;
    cc->cpu = cpu;
    /* Each stack has a NULL below its bottom: the push compares p with the
     * slot under the count (the top) without testing for an empty stack.
     * meta_alloc's memory is zeroed (fresh pages), so the NULLs are there
     * without a store: a store would fault in a page of every stack, used
     * or not (about 170 pages a CPU, most of them for classes the program
     * never asks for on that CPU). */
    for (unsigned c = 0; c < SC_COUNT; c++) {
        cc->cls[c].cap = cache_cap[c];
        cc->cap_bytes += (uint64_t)cache_cap[c] * sc_size[c];
        cc->cls[c].slots = stack_of(cc, c, 1, 0);
        cc->cls[c].vslots = stack_of(cc, c, 1, 1);
        PA_ASSERT(cc->cls[c].slots[-1] == NULL && cc->cls[c].vslots[-1] == NULL,
                  "cache: a NULL below every stack's bottom");
    }
    /* Published fully built: readers load the pointer without the lock. */
    __atomic_store_n(&cache_cpus[cpu], cc, __ATOMIC_RELEASE);
    __atomic_store_n(&cache_rseq_table[cpu], cc->cls, __ATOMIC_RELEASE);
out:
    lock_give(&cache_create_lock);
    return cc;
}

/* Up to `want` objects from another CPU's victim. Never waits for its lock:
 * two CPUs stealing from each other would otherwise deadlock. */
unsigned cache_steal(unsigned self, unsigned cls, void **out, unsigned want)
{
    for (unsigned i = 1; i < cache_nslots; i++) {
        struct cpu_cache *o =
            __atomic_load_n(&cache_cpus[(self + i) & cache_cpu_mask], __ATOMIC_ACQUIRE);
        if (!o || !__atomic_load_n(&o->cls[cls].vcount, __ATOMIC_RELAXED) || !lock_try(&o->lock))
            continue;
        struct cache_class *ocl = &o->cls[cls];
        unsigned n = ocl->vcount < want ? ocl->vcount : want;
        for (unsigned k = 0; k < n; k++)
            out[k] = ocl->vslots[ocl->vcount - 1 - k];
        /* Atomic stores of vcount: steal() reads it as a hint without the lock. */
        __atomic_store_n(&ocl->vcount, ocl->vcount - n, __ATOMIC_RELAXED);
        lock_give(&o->lock);
        if (n)
            return n;
    }
    return 0;
}

void *cache_victim_pop(struct cache_class *cl)
{
    if (!cl->vcount)
        return NULL;
    __atomic_store_n(&cl->vcount, cl->vcount - 1, __ATOMIC_RELAXED);
    CTR_ADD(cl, alloc_victim, 1);
    return cl->vslots[cl->vcount];
}

unsigned cache_refill(struct cpu_cache *cc, unsigned cls, void **buf)
{
    struct cache_class *cl = &cc->cls[cls];

    /* One object for the caller plus up to a batch for the cache, never
     * more than the cache can take (cap may be 0 for a big class). */
    unsigned want = sc_batch[cls] < cl->cap ? sc_batch[cls] : cl->cap;
    want += 1;
    PA_ASSERT(want <= CACHE_BUF_MAX, "cache: a refill fits buf[CACHE_BUF_MAX]");
    unsigned fresh = 0;
    unsigned got = central_alloc(cls, want, buf, CENTRAL_EXISTING, &fresh);
    if (got) {
        /* buf[0] is a reused object unless every one is fresh. */
        if (got == fresh)
            CTR_ADD(cl, alloc_new, 1);
        else
            CTR_ADD(cl, alloc_central, 1);
    } else if ((got = cache_steal(cc->cpu, cls, buf, want)) != 0) {
        CTR_ADD(cl, alloc_steal, 1);
    } else if ((got = central_alloc(cls, want, buf, CENTRAL_GROW, &fresh)) != 0) {
        CTR_ADD(cl, alloc_new, 1);
    }
    /* central_alloc() gives a span's objects lowest address first, and the
     * caller keeps buf[0] and pushes the rest in order, so the next pops
     * would come highest first. Reversed, they come in address order:
     * objects a program makes one after another lie one after another in
     * memory, read forwards (the hardware prefetchers' direction). */
    if (got > 2) {
        for (unsigned i = 1, j = got - 1; i < j; i++, j--) {
            void *t = buf[i];
            buf[i] = buf[j];
            buf[j] = t;
        }
    }
    return got;
}
