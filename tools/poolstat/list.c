/* list.c - `poolstat` with no argument: live processes with a socket. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poolstat.h"

#define DIRS_MAX 64

struct row {
    long pid;
    char comm[64];
    int ok;
    char note[160];
    struct stats_snapshot *snap;
};

static int add_dir(char dirs[][256], int n, const char *d)
{
    if (n >= DIRS_MAX)
        return n;
    for (int i = 0; i < n; i++)
        if (!strcmp(dirs[i], d))
            return n;
    snprintf(dirs[n], 256, "%.250s", d);
    return n + 1;
}

static int by_pid(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static void print_bytes(uint64_t v, char *out, size_t cap)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = (double)v;
    int i = 0;
    while (d >= 1024 && i < 4) {
        d /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)v);
    else
        snprintf(out, cap, "%.1f %s", d, u[i]);
}

static void print_uptime(uint64_t ms, char *out, size_t cap)
{
    uint64_t s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
    if (d)
        snprintf(out, cap, "%llud%02lluh", (unsigned long long)d, (unsigned long long)(h % 24));
    else if (h)
        snprintf(out, cap, "%lluh%02llum", (unsigned long long)h, (unsigned long long)(m % 60));
    else if (m)
        snprintf(out, cap, "%llum%02llus", (unsigned long long)m, (unsigned long long)(s % 60));
    else
        snprintf(out, cap, "%llus", (unsigned long long)s);
}

int poolstat_list(void)
{
    static char dirs[DIRS_MAX][256];
    char buf[300];
    int nd = 0;
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && x[0] == '/') {
        snprintf(buf, sizeof buf, "%.250s/poolalloc", x);
        nd = add_dir(dirs, nd, buf);
    }
    snprintf(buf, sizeof buf, "/tmp/poolalloc-%ld", (long)geteuid());
    nd = add_dir(dirs, nd, buf);
    if (geteuid() == 0) {
        /* root can ask everyone: every user's folders. */
        const char *pat[] = {"/tmp/poolalloc-*", "/run/user/*/poolalloc"};
        for (int p = 0; p < 2; p++) {
            glob_t g;
            if (glob(pat[p], GLOB_ONLYDIR, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++)
                    nd = add_dir(dirs, nd, g.gl_pathv[i]);
            globfree(&g);
        }
    }

    struct row *rows = NULL;
    size_t nrows = 0, cap = 0;
    int stale = 0;
    struct proto_reply *r = poolstat_xmalloc(sizeof *r);
    for (int i = 0; i < nd; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            if (pid <= 0 || strcmp(end, ".sock") != 0)
                continue;
            struct target t = {.pid = (pid_t)pid};
            snprintf(t.path, sizeof t.path, "%.200s/%.40s", dirs[i], e->d_name);
            struct stat st;
            if (lstat(t.path, &st) != 0 || !S_ISSOCK(st.st_mode))
                continue;
            if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
                /* The process is gone (killed, or exited without running
                 * its destructors): its socket is stale. */
                if (unlink(t.path) == 0)
                    stale++;
                continue;
            }
            if (nrows == cap) {
                cap = cap ? 2 * cap : 16;
                rows = poolstat_xrealloc(rows, cap * sizeof *rows);
            }
            struct row *w = &rows[nrows++];
            memset(w, 0, sizeof *w);
            w->pid = pid;
            poolstat_comm(t.pid, w->comm, sizeof w->comm);
            snprintf(t.comm, sizeof t.comm, "%s", w->comm);
            char err[POOLSTAT_ERR_MAX];
            if (poolstat_fetch(&t, "stats", r, err) == 0) {
                w->ok = 1;
                w->snap = poolstat_xmalloc(sizeof *w->snap);
                *w->snap = r->snap;
            } else {
                /* "poolstat: " is noise inside a table. */
                snprintf(w->note, sizeof w->note, "%.150s", strncmp(err, "poolstat: ", 10) ? err : err + 10);
            }
        }
        closedir(d);
    }
    free(r);
    if (nrows)
        qsort(rows, nrows, sizeof *rows, by_pid);
    if (!nrows) {
        printf("no process with a poolalloc socket in");
        for (int i = 0; i < nd; i++)
            printf(" %s", dirs[i]);
        printf("\n");
    } else {
        printf("%8s  %-16s %8s %11s %11s  %s\n", "PID", "COMMAND", "UPTIME", "IN USE", "CACHED",
               "MODE");
    }
    for (size_t i = 0; i < nrows; i++) {
        struct row *w = &rows[i];
        if (!w->ok) {
            printf("%8ld  %-16s %s\n", w->pid, w->comm, w->note);
            continue;
        }
        char up[32], use[32], cached[32];
        print_uptime(w->snap->uptime_ms, up, sizeof up);
        print_bytes(w->snap->in_use_bytes, use, sizeof use);
        print_bytes(w->snap->local_bytes + w->snap->victim_bytes, cached, sizeof cached);
        printf("%8ld  %-16s %8s %11s %11s  %s\n", w->pid, w->comm, up, use, cached, w->snap->mode);
        free(w->snap);
    }
    if (stale)
        printf("removed %d stale socket%s of exited processes\n", stale, stale == 1 ? "" : "s");
    free(rows);
    return 0;
}
