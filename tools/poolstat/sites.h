/* SPDX-License-Identifier: MIT */
/*
 * sites.h - one `sites` reply as poolstat holds it: the sampled allocation
 * sites of a process with their frames (return addresses, as the target
 * sent them) and the names found for those frames. Shared by sites.c (the
 * reply read, and shown), symbols.c (naming the frames) and addr2line.c.
 * Everything here came from the target, which may be another user's.
 */
#ifndef POOLSTAT_SITES_H
#define POOLSTAT_SITES_H

#include <stddef.h>
#include <stdint.h>

#define FRAMES_MAX 64

struct site {
    uint64_t id, live_objects, live_bytes, total_objects, total_bytes, live_samples, total_samples;
    size_t nframes;
    uint64_t frame[FRAMES_MAX];
};

struct sym {
    uint64_t addr;       /* return address as sent */
    char *func, *file;   /* from addr2line; NULL if unknown */
    char *object;        /* mapped file, NULL if none */
    uint64_t offset;     /* address within the object's ELF */
};

struct sites {
    char sampling[160];   /* "on", or "off (why)" */
    uint64_t pid, sample_bytes, nsites, samples_live, samples_total, dropped;
    uint64_t live_objects, live_bytes, total_objects, total_bytes;
    struct site *site;
    size_t n;
    uint64_t order_live[64], order_total[64];
    size_t nlive, ntotal;
    struct sym *sym;
    size_t nsym;
};

#endif
