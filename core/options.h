/* SPDX-License-Identifier: MIT */
/*
 * options.h - the POOLALLOC_* environment variables, declared once.
 *
 * The OPTIONS table generates the struct, the parser, the `config` listing and
 * the README table (tools/optdoc). Values are parsed once at init, without
 * allocating; strings are copied into static storage. A bad value gives one
 * warning line on stderr and the default.
 */
#ifndef POOLALLOC_OPTIONS_H
#define POOLALLOC_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

enum opt_kind { OPT_SIZE, OPT_UINT, OPT_BOOL, OPT_STR };

/* X(NAME, field, kind, default, min, max, doc) */
#define OPTIONS(X)                                                                             \
    X(MAX_SIZE, max_size, OPT_SIZE, 262144, 0, 262144,                                         \
      "largest request served from the pools, in bytes (`k`/`m` suffixes allowed); larger "    \
      "requests go to the C library; `0` sends every request there")                          \
    X(FLUSH_MS, flush_ms, OPT_UINT, 1000, 0, 86400000,                                         \
      "flush period in milliseconds: one generation; memory idle for two periods has left "    \
      "every per-CPU pool and empty spans go back to the OS; `0` = never flush")               \
    X(START_MS, start_ms, OPT_UINT, 100, 0, 86400000,                                           \
      "age in milliseconds from which a process has its flush thread and its stats socket "   \
      "(started at its first allocation after it, or with the pools); before that, and "      \
      "before `POOLALLOC_START_ALLOCS`, the library makes nothing, so a short-lived process "  \
      "pays almost nothing; `0` = everything at start (docs/how-it-works.md, Start-up)")       \
    X(START_ALLOCS, start_allocs, OPT_UINT, 20000, 0, 1000000000,                               \
      "allocation requests after which the pools start (and the flush thread with them); "    \
      "the requests before go to the C library; `0` = at the first request")                  \
    X(CPU_CACHE, cpu_cache, OPT_SIZE, 1048576, 0, 1073741824,                                  \
      "per-CPU cache budget in bytes (`k`/`m` suffixes); the victim generation holds at most " \
      "as much again")                                                                         \
    X(SOCKET, socket, OPT_STR, 0, 0, 0,                                                        \
      "stats socket path (`%p` = pid), or `off`; default the abstract name "                   \
      "`@poolalloc-<uid>-<pid>` (no file: it goes with the process), or where another "        \
      "process holds that name `$XDG_RUNTIME_DIR/poolalloc/<pid>.sock`, else "                 \
      "`/tmp/poolalloc-<uid>/<pid>.sock`; read it with `poolstat` (see docs/poolstat.md)")    \
    X(SAMPLE, sample, OPT_SIZE, 2097152, 0, 1073741824,                                        \
      "mean bytes between sampled allocations (`k`/`m` suffixes), recorded with their stacks " \
      "for `poolstat sites` and `poolstat heap`, from the moment the process has lived "       \
      "`POOLALLOC_START_MS`; `0` = off. The default (2m, tcmalloc's) costs python3, sqlite3 "  \
      "and gcc under 1 % CPU (docs/sites.md)")                                                 \
    X(STATS, stats, OPT_BOOL, 0, 0, 1, "`1`: print a per-class summary on stderr at exit")    \
    X(CHECK, check, OPT_BOOL, 0, 0, 1,                                                         \
      "`1`: costly checks: no object is cached anywhere, so every double free is caught, "     \
      "and freed memory is poisoned and verified on reuse (docs/limits.md, Bad frees: the cost)")  \
    X(VERBOSE, verbose, OPT_BOOL, 0, 0, 1,                                                     \
      "`1`: log decisions (init, mode, region size, flush thread) on stderr")

#define OPT_STR_MAX 256

struct opt_values {
#define X(NAME, field, kind, def, min, max, doc) OPT_FIELD_##kind(field)
#define OPT_FIELD_OPT_SIZE(f) uint64_t f;
#define OPT_FIELD_OPT_UINT(f) uint64_t f;
#define OPT_FIELD_OPT_BOOL(f) uint64_t f;
#define OPT_FIELD_OPT_STR(f)  char f[OPT_STR_MAX];
    OPTIONS(X)
#undef X
};

struct opt_desc {
    const char *name;     /* full variable name, POOLALLOC_... */
    enum opt_kind kind;
    uint64_t def, min, max;
    const char *doc;
};

extern const struct opt_desc opt_table[];
extern const unsigned opt_count;

/* Parses one value of the given kind. Returns 0 and sets *out, or -1 with a
 * short reason ("not a number", "out of range", ...). Pure: no globals. */
int opt_parse_value(const struct opt_desc *d, const char *s, uint64_t *out, const char **why);

/* Fills v from the environment through get (getenv in the library, a stub in
 * tests); warns through warn (one line each) about bad values. */
void opt_load(struct opt_values *v, const char *(*get)(const char *name),
              void (*warn)(const char *line));

/* At most this many unknown names are named by opt_warn_unknown(). */
#define OPT_UNKNOWN_MAX 8

/* Warns through warn, once per name, about each POOLALLOC_* name in env (a
 * NULL-terminated "NAME=VALUE" array: environ) that is neither an option nor
 * the wrapper's POOLALLOC_LIB, with the closest known name when one is close
 * (`poolalloc: POOLALLOC_MAXSIZE: unknown, did you mean POOLALLOC_MAX_SIZE?`).
 * Names the first OPT_UNKNOWN_MAX, then says in one more line that there are
 * more. Hostile bytes are shown as '?', a name cut at 64 bytes. Allocates
 * nothing; returns the number of names warned about. */
unsigned opt_warn_unknown(char *const *env, void (*warn)(const char *line));

/* 1 if name[0..len) is a known POOLALLOC_* name (exactly, case included). */
int opt_name_known(const char *name, size_t len);

/* The known name closest to name[0..len) (edit distance, letters without
 * case, over the part after POOLALLOC_), or NULL when none is close. */
const char *opt_closest_name(const char *name, size_t len);

#endif
