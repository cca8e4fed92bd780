/* SPDX-License-Identifier: MIT */
/*
 * check.h - POOLALLOC_CHECK=1: freed memory is poisoned, and verified when it
 * is handed out again.
 *
 * In that mode the caches hold nothing (core.c), so every free reaches its
 * span's bitmap, where a double free is always seen (central.c). Poisoning
 * adds: a freed object is filled with CHECK_POISON; when it is handed out
 * again and its first 8 bytes still read as poison, the whole object must
 * still be poison, or something wrote to it after it was freed. (A write
 * after free to the first 8 bytes is not seen: then the object is taken for a
 * fresh one.) Fresh objects and pages given back to the OS read as zero.
 */
#ifndef POOLALLOC_CHECK_H
#define POOLALLOC_CHECK_H

#include "sizeclass.h"

#define CHECK_POISON 0xdb

/* Fills a freed object of class cls with poison. */
void check_on_free(unsigned cls, void *p);

/* Verifies a poisoned object before it is handed out; reports and aborts if
 * it was written after its free. */
void check_on_alloc(unsigned cls, void *p);

#endif
