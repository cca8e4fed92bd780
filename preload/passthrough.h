/* SPDX-License-Identifier: MIT */
/*
 * passthrough.h - glibc's side of the malloc family (malloc.c routes here):
 * requests the pools do not serve, sampled requests (served by glibc so that
 * the pools' fast paths never meet them), and frees of blocks that are
 * glibc's. Each call into glibc's allocator is marked (reentry.h) and
 * counted as pass-through (stats.h). All out of line: malloc.c reaches them
 * only from its slow paths, as tail calls.
 */
#ifndef POOLALLOC_PASSTHROUGH_H
#define POOLALLOC_PASSTHROUGH_H

#include <stddef.h>

/* n bytes from glibc: memalign when align is set (a power of two > 16),
 * calloc when zero, else malloc; during a fork that refused this thread,
 * fresh pages dressed as a glibc chunk. NULL with errno = ENOMEM on failure. */
void *libc_pass(size_t n, size_t align, int zero);

/* The same for a request the sampling countdown picked, recorded with its
 * stack (sample.h). */
void *sample_alloc(size_t n, size_t align, int zero);

/* free() of a pointer outside the region: glibc's block (pass-through or
 * sampled), or NULL. */
void free_foreign(void *p);

#endif
