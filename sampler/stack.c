/* SPDX-License-Identifier: MIT */
/* stack.c - the sampler's stack table and libunwind (see stack.h). No malloc,
 * no lock. */
#define _GNU_SOURCE
#include "stack.h"
#include "unwind_fds.h"

#include <dlfcn.h>
#include <link.h>
#include <time.h>

#include "../core/util.h"

#define SITE_INDEX   (2 * SAMPLE_SITES)  /* hash index of the stacks: at most half full */
#define SITE_BUSY    UINT32_MAX          /* index slot claimed, its stack being written */
#define SKIP_MAX     8                   /* the allocator's own frames above the caller, at most */
#define SPIN_MAX     4096                /* waits for another thread's stack, then gives up */
#define FIRST_STEPPED 1024               /* a thread's first stacks walked by unw_step (below) */

static struct {
    int (*backtrace)(void **, int);  /* libunwind's unw_backtrace */
    struct unw_calls *unw;           /* for a thread's first stacks, or NULL */
    uintptr_t own_lo, own_hi;        /* this library's code */
    uint32_t *index;                 /* SITE_INDEX slots: 0 free, SITE_BUSY, or a site id */
    struct sample_stack *stacks;     /* by site id, dense */
} stk;

static uint32_t stk_nsites = 1;      /* next site id; 0 is the unknown-stack site */
/* stk's calls may be used (release/acquire: stack_publish); until then a
 * sample goes to site 0 and asks for them (stk_wanted). */
static int stk_ready, stk_wanted;
static uint32_t stk_unwinding PA_FORKPAGE;   /* threads inside libunwind for a sample */
static int stk_forking PA_FORKPAGE;          /* a fork is being prepared: no new unwinding */

/* ---- stacks ---------------------------------------------------------------------------- */

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline int own_code(uintptr_t ip)
{
    return ip >= stk.own_lo && ip < stk.own_hi;
}

static uint64_t stack_hash(const uintptr_t *f, uint32_t depth)
{
    uint64_t h = depth;
    for (uint32_t i = 0; i < depth; i++)
        h = (h ^ f[i]) * UINT64_C(0x9E3779B97F4A7C15) + (h >> 29);
    h = stack_mix(h);
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
        uint32_t *slot = &stk.index[(s->hash + i) & mask];
        uint32_t id = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (id == 0) {
            if (__atomic_load_n(&stk_nsites, __ATOMIC_RELAXED) >= SAMPLE_SITES)
                return 0;
            if (__atomic_compare_exchange_n(slot, &id, SITE_BUSY, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                uint32_t nid = __atomic_fetch_add(&stk_nsites, 1, __ATOMIC_RELAXED);
                if (nid >= SAMPLE_SITES) {
                    __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
                    return 0;
                }
                /* Written once, into zeroed (fresh mmap) memory: the frames
                 * past depth stay 0. */
                struct sample_stack *r = &stk.stacks[nid];
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
        if (id != 0 && same_stack(&stk.stacks[id], s))
            return id;
    }
    return 0;
}

/*
 * A thread's first FIRST_STEPPED stacks are walked frame by frame with
 * unw_step rather than with unw_backtrace. unw_backtrace keeps a cache of
 * frame layouts per thread, made at the thread's first call: 16384 slots
 * (256 KiB mmap'ed and written: ~76k instructions and 64 page faults,
 * ~30 us), resident until the thread exits. unw_step reads libunwind's
 * global cache of unwind rules instead (a locked lookup per frame, ~0.3 us),
 * about 8k instructions a stack more than a cached unw_backtrace. So only a
 * thread sampled often builds a cache of its own: one that allocates little
 * (sampled a few times in its life) pays neither the 256 KiB nor the 64
 * faults. Measured: 200 threads holding 50 KiB each (`micro threads-hold`,
 * POOLALLOC_SAMPLE=16k, ~3 samples a thread): peak RSS 59.7 MiB with one
 * stack stepped, 18.4 with 64; but `micro mixed` (a sample every ~80
 * requests) took 9 % more instructions with every stack stepped, hence
 * the bound. It is 1024 rather than 64: at the default rate a thread is
 * sampled 1024 times only after 2 GiB of requests, and the programs of
 * `make bench` take 300-420 samples, so under 64 they built the cache
 * for nothing it saved. With 1024, gcc's cc1 (~300 samples) ran 0.05 %
 * more instructions (callgrind, 12.635G -> 12.641G) for 0.3-0.5 MiB less
 * peak RSS; sqlite3 and python3 kept 0.1-0.3 MiB less. The bound on the
 * extra cost: 1024 stacks x ~25k instructions per thread.
 * Both return the same return addresses (libunwind's backtrace()
 * falls back to this very loop when its fast path gives up), so a site is
 * the same site either way.
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
    const struct unw_calls *u = stk.unw;
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
    stk.unw = &unw_calls;
#else
    (void)h;
#endif
}

/* Every unwinding is bracketed so: seen by stack_fork_prepare() (seq_cst on
 * both sides, Dekker style), either the fork waits for it, or it sees the
 * fork and does not start (0). */
static int unwind_enter(void)
{
    __atomic_fetch_add(&stk_unwinding, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&stk_forking, __ATOMIC_SEQ_CST))
        return 1;
    __atomic_fetch_sub(&stk_unwinding, 1, __ATOMIC_RELEASE);
    return 0;
}

static void unwind_leave(void)
{
    __atomic_fetch_sub(&stk_unwinding, 1, __ATOMIC_RELEASE);
}

uint32_t stack_site_of_caller(unsigned *walked)
{
    if (unlikely(!__atomic_load_n(&stk_ready, __ATOMIC_ACQUIRE))) {
        if (!__atomic_load_n(&stk_wanted, __ATOMIC_RELAXED))
            __atomic_store_n(&stk_wanted, 1, __ATOMIC_RELAXED);
        return 0;   /* libunwind not loaded yet (sample_tend) */
    }
    /* Written by libunwind as void *: uintptr_t here, as the table keeps them
     * (the stores are in another object, and have the same representation). */
    uintptr_t raw[SAMPLE_DEPTH + SKIP_MAX];
    if (!unwind_enter())
        return 0;
    int n;
#ifdef UNW_STEP_NAMES
    if (stk.unw && *walked < FIRST_STEPPED)
        n = step_backtrace(raw, SAMPLE_DEPTH + SKIP_MAX);
    else
#endif
        n = stk.backtrace((void **)raw, SAMPLE_DEPTH + SKIP_MAX);
    (*walked)++;
    unwind_leave();
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

/* ---- fork --------------------------------------------------------------------------------- */

/* fork() while another thread unwinds would leave libunwind's mutexes held
 * in the child, whose first sample would then wait forever. The prepare
 * handler (run before the core's: an unwinding thread may still malloc;
 * preload/init.c, the fork handlers) stops new unwinding and waits for the
 * unwinding under way, at most a second (a signal handler that forks from
 * inside the sampler would wait for itself). Samples taken meanwhile go to
 * site 0. The program's own use of libunwind is not covered. */
void stack_fork_prepare(void)
{
    __atomic_store_n(&stk_forking, 1, __ATOMIC_SEQ_CST);
    struct timespec t0, now, nap = {0, 100000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (__atomic_load_n(&stk_unwinding, __ATOMIC_SEQ_CST)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 2 || (now.tv_sec - t0.tv_sec == 1 && now.tv_nsec >= t0.tv_nsec))
            break;
        nanosleep(&nap, NULL);
    }
}

void stack_fork_parent(void)
{
    __atomic_store_n(&stk_forking, 0, __ATOMIC_SEQ_CST);
}

void stack_fork_child(void)
{
    __atomic_store_n(&stk_unwinding, 0, __ATOMIC_RELAXED);   /* those threads are not here */
    __atomic_store_n(&stk_forking, 0, __ATOMIC_SEQ_CST);
}

/* ---- start -------------------------------------------------------------------------------- */

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
    stk.own_lo = lo;
    stk.own_hi = hi;
}

const char *stack_load(void)
{
    /* RTLD_LOCAL, not a link-time dependency: libunwind.so.8 also defines
     * _Unwind_RaiseException and the rest of the C++ unwinding ABI, and in
     * the global scope it would take C++ exceptions away from libgcc_s in
     * every program we are preloaded into. */
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return "off: libunwind.so.8 cannot be loaded (Debian package libunwind8)";
    if (!(*(void **)&stk.backtrace = dlsym(h, "unw_backtrace")))
        return "off: libunwind.so.8 has no unw_backtrace";
    unw_step_calls(h);
    own_range();
    return NULL;
}

size_t stack_tables_bytes(void)
{
    return PA_ROUNDUP(SITE_INDEX * sizeof(uint32_t), PA_PAGE) +
           PA_ROUNDUP(SAMPLE_SITES * sizeof(struct sample_stack), PA_PAGE);
}

void stack_tables_at(char *m)
{
    stk.index = (uint32_t *)m;
    stk.stacks = (struct sample_stack *)(m + PA_ROUNDUP(SITE_INDEX * sizeof(uint32_t), PA_PAGE));
}

/* The unwind that makes libunwind open its pipe (stack_move_pipe), on the
 * flush thread: by unw_step where there is one, as a thread's first stacks
 * are. unw_backtrace would build the thread's 256 KiB frame cache (see
 * above) for this single call, resident for the process's life: of the
 * 1.0 MiB python3 with pymalloc (whose pools never start) kept at exit
 * with sampling on and not with it off, 256 KiB was that cache. */
static int first_unwind(void **out, int max)
{
#ifdef UNW_STEP_NAMES
    if (stk.unw) {
        uintptr_t raw[8];
        int n = step_backtrace(raw, max < 8 ? max : 8);
        for (int i = 0; i < n; i++)
            out[i] = (void *)raw[i];
        return n;
    }
#endif
    return stk.backtrace(out, max);
}

int stack_move_pipe(void)
{
    /* It unwinds (libunwind opens its pipe at its first unwind), so under
     * the fork protocol of every unwinding: a fork must not copy libunwind's
     * locks held by this thread. */
    if (!unwind_enter())
        return STACK_PIPE_LATER;
    int moved = unwind_fds_move(first_unwind);
    unwind_leave();
    return moved;
}

void stack_publish(void)
{
    __atomic_store_n(&stk_ready, 1, __ATOMIC_RELEASE);
}

int stack_wanted(void)
{
    return __atomic_load_n(&stk_wanted, __ATOMIC_RELAXED);
}

/* ---- for the readers ---------------------------------------------------------------------- */

unsigned stack_nsites(void)
{
    uint32_t n = __atomic_load_n(&stk_nsites, __ATOMIC_RELAXED);
    return n < SAMPLE_SITES ? n : SAMPLE_SITES;
}

const struct sample_stack *stack_get(unsigned id)
{
    const struct sample_stack *s = &stk.stacks[id];
    return __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) ? s : NULL;
}
