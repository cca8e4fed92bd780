/* SPDX-License-Identifier: MIT */
/*
 * export.h - poolstat's Prometheus output: one process, every process of the
 * caller (--all), and a file kept current for node_exporter's textfile
 * collector. Each returns poolstat's exit code (0 ok, 1 the target failed).
 */
#ifndef POOLSTAT_EXPORT_H
#define POOLSTAT_EXPORT_H

#include "poolstat.h"

/* `poolstat --prom TARGET`: one exposition on stdout. */
int poolstat_prom(const struct target *t);

/* `poolstat --prom --all`: one exposition for every live poolalloc process
 * the caller may read. */
int poolstat_prom_all(void);

/* `poolstat export --textfile DIR [--interval S] [-n COUNT]`: writes
 * DIR/poolalloc.prom (every process, as --all) through a temporary name and
 * a rename, every `interval` seconds; count 0 = until killed. */
int poolstat_export_textfile(const char *dir, double interval, long count);

#endif
