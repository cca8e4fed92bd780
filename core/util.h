/* SPDX-License-Identifier: MIT */
/*
 * util.h - the small vocabulary every layer shares: branch hints, cache-line
 * padding, hidden visibility, and the assertion that reports through write(2).
 *
 * Nothing here allocates. PA_ASSERT is always compiled (config_debug style):
 * with DEBUG=1 it checks, otherwise the condition is only type-checked, so the
 * fast path pays nothing and debug code cannot rot.
 */
#ifndef POOLALLOC_UTIL_H
#define POOLALLOC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define PA_NOINLINE __attribute__((noinline))
#define PA_COLD     __attribute__((cold, noinline))
#define PA_UNUSED   __attribute__((unused))
/* On the declarations of data the fast path reads: -fvisibility=hidden
 * covers definitions only, and an extern without it is read through the GOT,
 * one more load per use. */
#define PA_HIDDEN   __attribute__((visibility("hidden")))

/* Two lines: adjacent-line prefetch pulls pairs of 64-byte lines, so per-CPU
 * data is padded to 128 bytes, as Go pads poolLocal. */
#define PA_CACHELINE 128
#define PA_ALIGNED   __attribute__((aligned(PA_CACHELINE)))

#define PA_PAGE       4096UL
#define PA_ROUNDUP(x, a) (((x) + (a) - 1) & ~((uintptr_t)(a) - 1))

/* On the data a fork writes, in the parent (prepare, parent handlers) or in
 * the child (its handlers, its first moments), and on what a process that
 * has not started its pools writes on every request: all of it lies in one
 * page-aligned section (core/forkpage.ld), so that a fork costs the program
 * one copied page of ours in each process, not one per module. After a fork
 * every page either process writes is a page fault (a copy while the other
 * still shares it); a shell forks thousands of times. */
#define PA_FORKPAGE __attribute__((section(".pa_forkpage")))

#ifdef POOLALLOC_DEBUG
static const int config_debug = 1;
#else
static const int config_debug = 0;
#endif

/* Copies src (NULL: "") into dst, cut to cap - 1 bytes, NUL-terminated. For
 * code that may not call the C library's string functions. */
static inline void pa_copy_str(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

/* 1 if the n bytes at a are exactly the string word. */
static inline int pa_word_eq(const char *a, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (a[i] != word[i])
            return 0;
    return i == n && !word[i];
}

/* Prints "poolalloc: law broken: <law>: <expr> (<file>:<line>)" and aborts. */
void util_assert_fail(const char *law, const char *expr, const char *file, int line)
    __attribute__((noreturn));

/* A run-time law that must hold at this point: `law` names it as its header
 * states it (e.g. "span: used + free bits == nobjs"). Checked only with
 * DEBUG=1 (POOLALLOC_DEBUG); cheap enough to sit on slow paths, never on the
 * fast path. Layout facts are _Static_assert instead (invariants.h). */
#define PA_ASSERT(e, law)                                                              \
    do {                                                                               \
        if (config_debug && unlikely(!(e)))                                            \
            util_assert_fail(law, #e, __FILE__, __LINE__);                             \
    } while (0)

#endif
