/* main.c - poolstat: live stats of programs running with poolalloc. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poolstat.h"

static const char usage[] =
    "usage: poolstat                      list processes running poolalloc (started or not)\n"
    "       poolstat TARGET               summary and per-class table\n"
    "       poolstat -w [-d SECS] [-n COUNT] [-s KEY] TARGET\n"
    "                                     refreshing view (q or Ctrl-C quits); KEY: u n c a f d h s\n"
    "       poolstat --json TARGET        everything as one JSON object\n"
    "       poolstat --prom TARGET        Prometheus text exposition\n"
    "       poolstat flush TARGET         run one generation now\n"
    "       poolstat config TARGET        options and mode in force\n"
    "       poolstat [--json] sites TARGET  top allocation sites (POOLALLOC_SAMPLE), symbolized\n"
    "       poolstat heap TARGET > F.heap   heap profile for google-pprof --text PROGRAM F.heap\n"
    "TARGET is a process id, or the path of its socket (for a POOLALLOC_SOCKET poolstat cannot\n"
    "guess). Protocol version " "1" "; see docs/poolstat.md.\n";

/* Prints an error and returns 1. A message may quote a path, a name or a
 * reply another user's process wrote: it reaches the terminal printable. */
static int fail(char *err)
{
    poolstat_printable(err);
    fprintf(stderr, "%s\n", err);
    return 1;
}

static int one(const char *what, const char *arg)
{
    struct target t;
    char err[POOLSTAT_ERR_MAX];
    if (poolstat_resolve(arg, &t, err) != 0)
        return fail(err);
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
    } else if (!strcmp(what, "prom")) {
        render_prom(&o, &r->snap);
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
    struct watch_opts w = {.interval = 1.0};
    int watch = 0;
    const char *mode = "text";
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-w") || !strcmp(a, "--watch")) {
            watch = 1;
        } else if (!strcmp(a, "--json")) {
            mode = "json";
        } else if (!strcmp(a, "--prom")) {
            mode = "prom";
        } else if ((!strcmp(a, "-d") || !strcmp(a, "-n") || !strcmp(a, "-s")) && i + 1 < argc) {
            const char *v = argv[++i];
            char *end;
            if (a[1] == 'd') {
                w.interval = strtod(v, &end);
                if (*end || !(w.interval >= 0.05 && w.interval <= 3600)) {
                    fprintf(stderr, "poolstat: -d wants seconds between 0.05 and 3600, not '%s'\n", v);
                    return 2;
                }
            } else if (a[1] == 'n') {
                w.count = strtol(v, &end, 10);
                if (*end || w.count < 1) {
                    fprintf(stderr, "poolstat: -n wants a count of refreshes >= 1, not '%s'\n", v);
                    return 2;
                }
            } else {
                if (strlen(v) != 1 || !strchr("uncafdhs", v[0])) {
                    fprintf(stderr, "poolstat: -s wants one of u n c a f d h s, not '%s'\n", v);
                    return 2;
                }
                w.sort = v[0];
            }
        } else {
            fprintf(stderr, "poolstat: unknown option '%s'\n%s", a, usage);
            return 2;
        }
    }
    int left = argc - i;
    if (left == 0 && !watch && !strcmp(mode, "text"))
        return poolstat_list();
    if (left == 2 && (!strcmp(argv[i], "flush") || !strcmp(argv[i], "config")) && !watch)
        return one(argv[i], argv[i + 1]);
    if (left == 2 && (!strcmp(argv[i], "sites") || !strcmp(argv[i], "heap")) && !watch &&
        strcmp(mode, "prom") != 0) {
        struct target t;
        char err[POOLSTAT_ERR_MAX];
        if (poolstat_resolve(argv[i + 1], &t, err) != 0)
            return fail(err);
        if (argv[i][0] == 'h')
            return poolstat_heap(&t);
        return poolstat_sites(&t, !strcmp(mode, "json"));
    }
    if (left != 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (watch) {
        struct target t;
        char err[POOLSTAT_ERR_MAX];
        if (poolstat_resolve(argv[i], &t, err) != 0)
            return fail(err);
        return poolstat_watch(&t, &w);
    }
    return one(mode, argv[i]);
}
