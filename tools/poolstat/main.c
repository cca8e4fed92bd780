/* SPDX-License-Identifier: MIT */
/* main.c - poolstat: live stats of programs running with poolalloc. The
 * command line is read in args.c; here each subcommand is run. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "export.h"

/* Prints an error and returns 1. A message may quote a path, a name or a
 * reply another user's process wrote: it reaches the terminal printable. */
static int fail(char *err)
{
    poolstat_printable(err);
    fprintf(stderr, "%s\n", err);
    return 1;
}

/* Resolves arg into t; 0, or 1 after saying why it cannot. */
static int resolve(const char *arg, struct target *t)
{
    char err[POOLSTAT_ERR_MAX];
    if (poolstat_resolve(arg, t, err) == 0)
        return 0;
    return fail(err);
}

/* One request to the target arg and its reply rendered: what is "text",
 * "json", "flush" or "config". poolstat's exit code. */
static int one(const char *what, const char *arg)
{
    struct target t;
    char err[POOLSTAT_ERR_MAX];
    if (resolve(arg, &t) != 0)
        return POOLSTAT_EXIT_TARGET;
    struct proto_reply *r = poolstat_xmalloc(sizeof *r);
    const char *req = !strcmp(what, "flush") ? "flush" : !strcmp(what, "config") ? "config" : "all";
    if (poolstat_fetch(&t, req, r, err) != 0) {
        free(r);
        return fail(err);
    }
    struct sink o;
    sink_init(&o, 1, 0);
    if (!strcmp(what, "json")) {
        render_json(&o, &r->snap, &r->config);
    } else if (!strcmp(what, "text")) {
        render_text(&o, &r->snap, t.comm);
    } else if (!strcmp(what, "flush")) {
        sink_str(&o, "flushed pid ");
        sink_u64(&o, r->snap.pid ? r->snap.pid : (uint64_t)t.pid);
        sink_str(&o, ": returned ");
        sink_bytes(&o, r->returned_now);
        sink_str(&o, " to the OS; ");
        sink_u64(&o, r->snap.flushes);
        sink_str(&o, " generations so far\n");
    } else {
        for (unsigned i = 0; i < r->config.n; i++) {
            sink_strw(&o, r->config.item[i].name, -22);
            sink_str(&o, " ");
            sink_str(&o, r->config.item[i].value);
            sink_str(&o, "\n");
        }
    }
    int rc = sink_flush(&o);
    free(r);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct poolstat_args a;
    int rc = poolstat_parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct target t;
    switch (a.cmd) {
    case CMD_LIST:
        return poolstat_list();
    case CMD_FLUSH:
        return one("flush", a.target);
    case CMD_CONFIG:
        return one("config", a.target);
    case CMD_SITES:
        return resolve(a.target, &t) ? POOLSTAT_EXIT_TARGET : poolstat_sites(&t, a.json);
    case CMD_HEAP:
        return resolve(a.target, &t) ? POOLSTAT_EXIT_TARGET : poolstat_heap(&t);
    case CMD_EXPORT:
        return poolstat_export_textfile(a.textfile, a.interval, a.count);
    case CMD_SHOW:
        if (a.prom && a.all)
            return poolstat_prom_all();
        if (a.prom)
            return resolve(a.target, &t) ? POOLSTAT_EXIT_TARGET : poolstat_prom(&t);
        if (a.watch)
            return resolve(a.target, &t) ? POOLSTAT_EXIT_TARGET : poolstat_watch(&t, &a.w);
        return one(a.json ? "json" : "text", a.target);
    case CMD_HELP:
        break;   /* answered by poolstat_parse_args */
    }
    return POOLSTAT_EXIT_OK;
}
