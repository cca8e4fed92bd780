/* SPDX-License-Identifier: MIT */
/*
 * args.h - poolstat's command line: `poolstat [OPTIONS] [SUBCOMMAND] [TARGET]`.
 *
 * Options may come before or after the subcommand and the target (GNU
 * getopt_long permutation, whatever POSIXLY_CORRECT says); `--` ends them.
 * Every option, subcommand and usage line is declared once in args.c, which
 * also prints --help, `help SUBCOMMAND` and --version. Exit codes: 0 ok, 1 the
 * target failed, 2 usage (one line on stderr: what is wrong; what to do).
 */
#ifndef POOLSTAT_ARGS_H
#define POOLSTAT_ARGS_H

#include "poolstat.h"

enum poolstat_cmd {
    CMD_LIST,     /* no subcommand, no target, no option */
    CMD_SHOW,     /* [show] TARGET, -w, --json, --prom [--all] */
    CMD_FLUSH,
    CMD_CONFIG,
    CMD_SITES,
    CMD_HEAP,
    CMD_EXPORT,
    CMD_HELP
};

#define POOLSTAT_EXIT_OK     0
#define POOLSTAT_EXIT_TARGET 1
#define POOLSTAT_EXIT_USAGE  2

/* What the command line asks for, checked: every combination that reaches
 * main is one the subcommand accepts. */
struct poolstat_args {
    enum poolstat_cmd cmd;
    const char *target;     /* NULL for list, --prom --all, export */
    int watch, json, prom, all;
    struct watch_opts w;    /* -d, -n, -s (interval 1.0 unless -d) */
    const char *textfile;   /* export --textfile DIR */
    double interval;        /* export --interval (15.0 unless given) */
    long count;             /* export -n (0: until killed) */
};

/* Parses argv into *a. Returns -1 when main should go on and run a->cmd;
 * otherwise the exit code, the work done here: 0 after --help, `help ...` or
 * --version (printed on stdout), 2 after a usage mistake (one line on
 * stderr, user-given strings made printable). */
int poolstat_parse_args(int argc, char **argv, struct poolstat_args *a);

#endif
