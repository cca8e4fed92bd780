/* export.c - Prometheus output (export.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "export.h"
#include "../../stats/render.h"

int poolstat_prom(const struct target *t)
{
    char err[POOLSTAT_ERR_MAX];
    struct proto_reply *r = poolstat_xmalloc(sizeof *r);
    if (poolstat_fetch(t, "all", r, err) != 0) {
        free(r);
        poolstat_printable(err);
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sink o;
    sink_init(&o, 1, 0);
    render_prom(&o, &r->snap);
    int rc = sink_flush(&o);
    free(r);
    return rc ? 1 : 0;
}

int poolstat_prom_all(void)
{
    fprintf(stderr, "poolstat: --prom --all is not written yet\n");
    return 2;
}

int poolstat_export_textfile(const char *dir, double interval, long count)
{
    (void)dir, (void)interval, (void)count;
    fprintf(stderr, "poolstat: export is not written yet\n");
    return 2;
}
