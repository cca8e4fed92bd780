/* SPDX-License-Identifier: MIT */
/*
 * torture.h - what the files of the torture share (torture.c says what the program does
 * and how to run it):
 *   torture.c          options, the rounds, the final checks and the summary line
 *   torture_worker.c   a table of blocks and the random malloc-family calls on it; the
 *                      hand-off cells; thread churn
 *   torture_fork.c     the main thread's long-lived blocks; fork storms, fork children
 *                      and grandchildren
 *   torture_watch.c    crash reports, the watchdog, stacks of hung processes
 * The program is every tests/stress/torture*.c: the stress tier and the preload tier
 * build it so. Every file defines PT_SHARED before preload_test.h (through this header):
 * one failure count and one ownership query for the whole program (torture.c defines
 * them).
 *
 * A block id is (ID_MAGIC << 48) | table << 40 | thread generation << 28 | serial: the
 * table and generation name the thread that allocated it, so a free can tell whether it
 * frees another thread's block and whether that thread has exited.
 */
#ifndef TORTURE_H
#define TORTURE_H

#define PT_SHARED
#include "torture_blocks.h"

#include <pthread.h>

enum {
    MAXT = 64,            /* most worker threads */
    NCHURN = 4,           /* churn thread tables */
    NTABLES = MAXT + NCHURN,
    SLOTS = 256,          /* live blocks per table */
    XCHG = 128,           /* hand-off cells */
    MAIN_BLOCKS = 64,     /* held by the main thread across everything */
    CHILD_OPS = 4000,     /* operations per thread of a storm's later children */
    FULL_CHILD_OPS = 20000, /* ... of a storm's first child and of a grandchild */
    MAX_STORM = 32,
};

#define ID_MAGIC 0xB10Cull
#define MAX_BLOCK ((size_t)4 << 20)
#define MAIN_OWNER 0xfe   /* the table field of the main thread's blocks */

enum { OP_MALLOC, OP_CALLOC, OP_MEMALIGN, OP_POSIX_MEMALIGN, OP_ALIGNED_ALLOC, OP_VALLOC,
       OP_PVALLOC, OP_REALLOCARRAY_NEW, OP_REALLOC_NEW, OP_FREE, OP_REALLOC, OP_REALLOCARRAY,
       OP_USABLE_GROW, OP_VERIFY, OP_OVERFLOW, OP_GIVE, OP_NOPS };
extern const char *const op_names[OP_NOPS];

struct counters {
    uint64_t op[OP_NOPS];
    uint64_t cross_frees;   /* freed a block another thread allocated */
    uint64_t orphan_frees;  /* ... whose allocating thread had exited */
    uint64_t small;         /* requests of 1..1024 bytes */
    uint64_t small_owned;   /* ... served from poolalloc's pools */
    uint64_t big;           /* requests of TORTURE_BIG bytes and more */
    uint64_t bytes;
};

/* A table of blocks and the thread that currently runs on it. */
struct worker {
    int index;      /* table number: owner field of ids */
    _Atomic unsigned gen; /* thread generation on this table: (index, gen) names a thread */
    uint64_t rng;
    uint64_t next_id;
    uint64_t ops;   /* 0: run until stop_round */
    struct slot slots[SLOTS];
    struct counters c;
    pthread_t thread;
    _Atomic int running;
};

/* ---- torture.c: the run's settings ---- */
extern size_t page_size;
extern uint64_t run_seed;
extern int verbose;        /* -v */

/* ---- torture_worker.c ---- */
extern struct worker tables[NTABLES];      /* MAXT round tables, then NCHURN churn tables */
extern _Atomic(unsigned char *) xchg[XCHG]; /* blocks given away, each with its header */
extern atomic_int stop_round;              /* set: threads with ops == 0 return */
extern atomic_ulong progress;              /* operations done, for the watchdog */
extern atomic_ulong churned;               /* short-lived threads created and joined */

/* Verify a block against its layout; on a changed byte report it (thread is the
 * table running, -1 for none) and return 0. */
int verify_slot(const struct slot *s, const char *when, int thread);
/* Verify a block that came out of a hand-off cell and free it; one with a broken header
 * is reported and not freed. me and c (both or neither) count cross-thread frees. */
void take_and_free(unsigned char *p, struct worker *me, struct counters *c);
/* Verify and free every block of a table no thread runs on. */
void table_drain(struct worker *w, const char *when);
/* Run w->ops random operations (0: until stop_round) on a table; a thread's body. */
void *worker_main(void *arg);
/* Start the next thread generation on a table; 0 (reported) if it could not start. */
int start_on(struct worker *w, uint64_t ops, uint64_t seed);
/* Thread body: create and join short-lived threads on the churn tables until stop_round. */
void *churn_main(void *arg);

/* ---- torture_fork.c ---- */
extern struct slot main_blocks[MAIN_BLOCKS];

struct storm_stats {
    unsigned long forks, failed;
    unsigned long child_threads, grandchildren; /* started and passed, as children said */
};

/* Make the main thread's blocks (ids from base); exits 1 if malloc fails. */
void main_blocks_make(uint64_t *rng, uint64_t base);
/* Verify the main thread's blocks; 0 if any changed. */
int main_blocks_verify(const char *when);
/* Make the memory fork children report through; call once before the first storm. */
void fork_tally_init(void);
/* Fork n children back to back while the workers run and wait for them (deadline:
 * watchdog_s); adds to st what they did and how many failed. */
void fork_storm(int n, uint64_t seed, struct storm_stats *st);

/* ---- torture_watch.c ---- */
extern atomic_int run_done;              /* set: the watchdog returns */
extern unsigned watchdog_s;              /* -w */
extern _Atomic(const char *) main_stage; /* what the main thread is doing, for reports */

/* Print to stderr with write(2): safe in signal handlers and a stuck allocator. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* This thread's stack on stderr (backtrace_symbols_fd: allocates nothing). */
void print_stack(const char *who);
/* Every thread's stack through gdb, when installed; 0 when it is not. */
int gdb_stacks(void);
/* Crash and SIGQUIT handlers (a stack on stderr), gdb allowed to attach. */
void watch_install(void);
/* Thread body: no progress for watchdog_s seconds prints stacks and exits 3. */
void *watchdog(void *arg);

#endif
