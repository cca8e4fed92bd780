/* SPDX-License-Identifier: MIT */
/*
 * symbols.h - naming the frames of a `sites` reply: each return address is
 * looked up one byte back (inside its call instruction) in the target's
 * maps (maps.h), turned into an address of its ELF file, and named by
 * addr2line (addr2line.h), one run per file, within one time budget.
 */
#ifndef POOLSTAT_SYMBOLS_H
#define POOLSTAT_SYMBOLS_H

#include "sites.h"

/* Fills s->sym with one entry per frame address of s's sites, named where it can be. */
void symbols_name(struct sites *s);

#endif
