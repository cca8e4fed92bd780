/* SPDX-License-Identifier: MIT */
/*
 * libc_heap.h - glibc's heap under the pass-through: what passes through
 * (blocks above POOLALLOC_MAX_SIZE, realloc's blocks above 32 KiB) is all
 * that heap holds, so glibc's defaults, made for a heap that holds
 * everything, work against it: blocks above its mmap threshold are mapped
 * and unmapped one by one (a page fault per 4 KiB every time), and the top
 * of a heap of big blocks is often free, so it is trimmed and faulted in
 * again. glibc raises both thresholds by itself only after it unmaps a
 * block, and by then the faults are paid.
 *
 * So, when the flush thread starts (it is what gives memory back: with the
 * pools, or at POOLALLOC_START_MS without them), unless the user set how
 * glibc's heap grows and shrinks
 * (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_,
 * MALLOC_MMAP_MAX_, the same four glibc.malloc tunables in GLIBC_TUNABLES,
 * or mallopt of one of them before then: it is left as configured), the
 * mmap threshold is set to LIBC_MMAP_THRESHOLD and
 * the trim threshold to LIBC_TRIM_THRESHOLD, the values glibc's own dynamic
 * rule would reach, and the flush thread gives glibc's free memory back
 * instead (libc_heap_tick): once it wakes LIBC_TRIM_QUIET_MS or more after
 * a wake that saw frees of big blocks (LIBC_HEAP_BIG) and sees none since,
 * it calls glibc's malloc_trim(0), which gives back the free top and the
 * free pages inside the heap. So the pass-through keeps the promise the
 * pools make: memory idle for two periods goes back to the OS (here
 * sooner: a few hundred ms). A process that ends before START_MS (most
 * commands) keeps glibc's defaults and pays nothing; one that lives longer
 * but makes few requests (python3 with pymalloc: 1,700 of them, so its
 * pools never start) gets the same setup as one with pools: its big
 * blocks were mapped and unmapped one by one. With the address layout
 * fixed (setarch -R), 72.3k page faults a run without the setup, 68.2k
 * with it (jemalloc 66.8k); with a random layout both move by up to 10k
 * from run to run. mallopt() is ours: it notes that the program set one of
 * the four itself, and passes every call on.
 */
#ifndef POOLALLOC_LIBC_HEAP_H
#define POOLALLOC_LIBC_HEAP_H

#include <malloc.h>   /* mallopt and its M_ names, for libc_heap.c */
#include <stddef.h>
#include <stdint.h>

#define LIBC_MMAP_THRESHOLD (32u << 20)
#define LIBC_TRIM_THRESHOLD (64u << 20)

/* A free of a glibc block this big or bigger is what the idle trim waits
 * to see the end of; smaller ones (every request before the pools start is
 * glibc's) never leave much behind, and a program that frees one now and
 * then would never look idle. */
#define LIBC_HEAP_BIG (32u << 10)

/* No big free for this long (at the flush thread's next wake, or a flush
 * period if shorter): the heap is trimmed (libc_heap.c, quiet_ms). */
#define LIBC_TRIM_QUIET_MS 100u

/* Bytes of big blocks freed so far (plain load and store, no lock prefix:
 * approximate when two threads race, which only moves the trim). */
extern uint64_t libc_heap_big_freed;

/* free() of a glibc block of `usable` bytes: counted if big. */
static inline void libc_heap_note_free(size_t usable)
{
    if (usable >= LIBC_HEAP_BIG)
        __atomic_store_n(&libc_heap_big_freed,
                         __atomic_load_n(&libc_heap_big_freed, __ATOMIC_RELAXED) + usable,
                         __ATOMIC_RELAXED);
}

/* When the pools start (not inside glibc's allocator): the thresholds
 * above, unless the user set glibc's heap; flush_ms 0 (no flush, so no idle
 * trim) leaves glibc alone too. 1 if set. */
int libc_heap_tune(unsigned long flush_ms);

/* On the flush thread's every wake (flush_set_tick): the idle trim. */
void libc_heap_tick(void);

/* glibc's own definition of `name`, looked up in libc.so.6 itself, not with
 * RTLD_NEXT (in a program linked with another allocator that exports the
 * malloc family, the next definition is that allocator's); NULL if libc has
 * none. A clean context only (dlopen), never inside malloc. */
void *libc_own(const char *name);

/* glibc's own malloc_trim(pad), not the exported one (which flushes the
 * pools first); 0 where this glibc has none. Not from inside malloc. */
int libc_trim(size_t pad);

#endif
