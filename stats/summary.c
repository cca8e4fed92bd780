/* SPDX-License-Identifier: MIT */
/* summary.c - the POOLALLOC_STATS=1 report at exit (see stats.h). */
#include "stats.h"

#include <sys/mman.h>

#include "../core/core.h"
#include "../core/log.h"
#include "../include/poolalloc.h"

static void mib(struct logbuf *b, uint64_t bytes)
{
    log_fixed1(b, bytes, 1024 * 1024);
    log_str(b, " MiB");
}

void stats_print_summary(int fd)
{
    /* The snapshot (64 KiB, much for an exiting or a caller's stack) in pages
     * of its own: malloc_stats() may print it from any thread, the exit from
     * another, with no lock that a fork could leave held in a child. */
    struct stats_snapshot *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct logbuf b = {0};
    if (s == MAP_FAILED) {
        log_str(&b, "poolalloc: no summary: no memory for its snapshot\n");
        log_flush(&b, fd);
        return;
    }
    stats_snapshot(s);

    log_str(&b, "poolalloc: summary for pid ");
    log_u64(&b, s->pid);
    log_str(&b, " (poolalloc " POOLALLOC_VERSION "): mode ");
    log_str(&b, s->mode);
    log_str(&b, ", ");
    log_u64(&b, s->cpus);
    log_str(&b, " cpu caches, max_size ");
    log_u64(&b, core_cfg.max_size);
    log_str(&b, ", flush ");
    log_u64(&b, core_cfg.flush_ms);
    log_str(&b, " ms, cpu_cache ");
    log_u64(&b, core_cfg.cpu_cache);
    log_str(&b, "\n");
    log_str(&b, "class   size   in_use  in_use_KiB  local victim central spans   cap"
                "      cache   victim  central   steal      new     frees    drops\n");
    log_flush(&b, fd);

    uint64_t use_b = 0, local_b = 0, victim_b = 0, central_b = 0;
    for (unsigned c = 0; c < SC_COUNT; c++) {
        struct stats_class *k = &s->cls[c];
        uint64_t allocs = k->ctr.alloc_cache + k->ctr.alloc_victim + k->ctr.alloc_central +
                          k->ctr.alloc_steal + k->ctr.alloc_new;
        use_b += k->in_use * k->size;
        local_b += k->local * k->size;
        victim_b += k->victim * k->size;
        central_b += k->central * k->size;
        if (!allocs && !k->in_use && !k->spans)
            continue;
        log_u64w(&b, c, 5);
        log_u64w(&b, k->size, 7);
        log_u64w(&b, k->in_use, 9);
        log_u64w(&b, k->in_use * k->size / 1024, 12);
        log_u64w(&b, k->local, 7);
        log_u64w(&b, k->victim, 7);
        log_u64w(&b, k->central, 8);
        log_u64w(&b, k->spans, 6);
        log_u64w(&b, k->cap, 6);
        log_u64w(&b, k->ctr.alloc_cache, 11);
        log_u64w(&b, k->ctr.alloc_victim, 9);
        log_u64w(&b, k->ctr.alloc_central, 9);
        log_u64w(&b, k->ctr.alloc_steal, 8);
        log_u64w(&b, k->ctr.alloc_new, 9);
        log_u64w(&b, k->ctr.frees, 10);
        log_u64w(&b, k->ctr.drops, 9);
        log_str(&b, "\n");
        log_flush(&b, fd);
    }
    log_str(&b, "poolalloc: in use ");
    mib(&b, use_b);
    log_str(&b, "; cached local ");
    mib(&b, local_b);
    log_str(&b, ", victim ");
    mib(&b, victim_b);
    log_str(&b, ", central ");
    mib(&b, central_b);
    log_str(&b, "\npoolalloc: pass-through ");
    log_u64(&b, s->passthrough_allocs);
    log_str(&b, " allocations (");
    mib(&b, s->passthrough_bytes);
    log_str(&b, "), ");
    log_u64(&b, s->passthrough_frees);
    log_str(&b, " frees; ");
    log_u64(&b, s->flushes);
    log_str(&b, " flushes; returned to the OS ");
    mib(&b, s->returned_bytes);
    log_str(&b, " (");
    log_u64(&b, s->released_spans);
    log_str(&b, " spans); reserved ");
    log_u64(&b, s->reserved_bytes >> 30);
    log_str(&b, " GiB; metadata ");
    mib(&b, s->metadata_bytes);
    log_str(&b, "\n");
    log_flush(&b, fd);
    munmap(s, sizeof *s);
}
