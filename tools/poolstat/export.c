/* SPDX-License-Identifier: MIT */
/* export.c - Prometheus output (export.h): one process, every process of the
 * caller in one exposition, and the file node_exporter's textfile collector
 * reads, kept current.
 *
 * Every sample carries pid and comm (wire/render.c), so the figures of many
 * processes sit in one exposition without two series alike; Prometheus sums
 * them, not us. A process that cannot be asked is left out with one line on
 * stderr: one stuck server costs a round at most its exchange deadline
 * (POOLSTAT_DEADLINE_MS) and never the others' figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "../../wire/proto_read.h"

#define EXPORT_FILE "poolalloc.prom"     /* the name node_exporter's *.prom glob reads */
#define EXPORT_BYTES_MAX (256u << 20)    /* one exposition, in memory before it is written */

/* One process's figures, as fetched. */
struct fig {
    struct target t;
    struct proto_reply *r;
};

/* The poolalloc version the process reports in its config, or NULL. */
static const char *reported_version(const struct proto_reply *r)
{
    for (unsigned i = 0; i < r->config.n; i++)
        if (!strcmp(r->config.item[i].name, "version") && r->config.item[i].value[0])
            return r->config.item[i].value;
    return NULL;
}

/* Asks t for everything. 0, or -1 with the reason in err (printable). */
static int fetch(struct fig *f, char *err)
{
    f->r = poolstat_xmalloc(sizeof *f->r);
    if (poolstat_fetch(&f->t, "all", f->r, err) != 0) {
        free(f->r);
        f->r = NULL;
        poolstat_printable(err);
        return -1;
    }
    /* poolstat_fetch believes a pid only if the serving process has it;
     * a reply without one is labelled with the pid we asked. */
    if (!f->r->snap.pid)
        f->r->snap.pid = (uint64_t)f->t.pid;
    /* A socket given by its path names no process until it answers. */
    if (!f->t.comm[0] && f->r->snap.pid)
        poolstat_comm((pid_t)f->r->snap.pid, f->t.comm, sizeof f->t.comm);
    return 0;
}

/* Renders n fetched processes. */
static void render(struct sink *o, const struct fig *f, size_t n)
{
    struct prom_process *p = poolstat_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i].snap = &f[i].r->snap;
        p[i].comm = f[i].t.comm;
        p[i].version = reported_version(f[i].r);
    }
    render_prom(o, p, (unsigned)n);
    free(p);
}

int poolstat_prom(const struct target *t)
{
    char err[POOLSTAT_ERR_MAX];
    struct fig f = {.t = *t};
    if (fetch(&f, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sink o;
    sink_init(&o, 1, 0);
    render(&o, &f, 1);
    int rc = sink_flush(&o);
    free(f.r);
    return rc ? 1 : 0;
}

/* ---- every process ------------------------------------------------------------------ */

struct pids {
    long *v;
    size_t n, cap;
};

static void pids_add(struct pids *p, long pid)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->v = poolstat_xrealloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = pid;
}

static int pids_has(const struct pids *p, long pid)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i] == pid)
            return 1;
    return 0;
}

/* poolstat_abstract_each callback: the abstract names of the caller's uid
 * (root: of every uid). The exchange checks the server behind each. */
static int note_abstract(unsigned long uid, long pid, void *arg)
{
    if (geteuid() == 0 || uid == (unsigned long)geteuid())
        pids_add(arg, pid);
    return 0;
}

static int by_pid(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* What candidates gathers: the pids of the abstract names, and its result. */
struct found {
    struct pids abs;
    struct pids *out;
};

/* poolstat_proc_each callback: pid is a candidate if it has an abstract
 * socket or maps libpoolalloc. */
static int note_proc(long pid, void *arg)
{
    struct found *f = arg;
    if (pids_has(&f->abs, pid) || poolstat_maps_lib((pid_t)pid) == 1)
        pids_add(f->out, pid);
    return 0;
}

/* The processes `poolstat` alone lists with figures, in pid order: those of
 * the caller's effective uid (root: everyone's) with an abstract socket or
 * mapping libpoolalloc, each resolved as `poolstat PID` would be. */
static void candidates(struct pids *out)
{
    struct found f = {.out = out};
    poolstat_abstract_each(note_abstract, &f.abs);
    poolstat_proc_each(POOLSTAT_EUID, "", note_proc, &f);
    free(f.abs.v);
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, by_pid);
}

/* Is SIGINT or SIGTERM waiting (blocked by the export loop)? */
static int stop_pending(void)
{
    sigset_t p;
    return sigpending(&p) == 0 && (sigismember(&p, SIGINT) == 1 || sigismember(&p, SIGTERM) == 1);
}

/* The processes fetch_all has said it left out: each is said once per run,
 * not every round of an export that runs for days (a process with
 * POOLALLOC_SOCKET=off stays without a socket). */
static struct pids told;

/* Fetches every live process (candidates): *out gets their figures, the
 * return is how many. A process that cannot be resolved or asked is left
 * out with one line on stderr (the first time); one that has not started
 * yet (no figures by design) or that ended meanwhile, silently. With
 * `stoppable`, a pending SIGINT/SIGTERM ends the round early: -1. */
static long fetch_all(struct fig **out, int stoppable)
{
    struct pids c = {0};
    candidates(&c);
    struct fig *f = poolstat_xmalloc((c.n ? c.n : 1) * sizeof *f);
    size_t n = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (stoppable && stop_pending()) {
            for (size_t k = 0; k < n; k++)
                free(f[k].r);
            free(f);
            free(c.v);
            return -1;
        }
        char err[POOLSTAT_ERR_MAX];
        struct fig *g = &f[n];
        int rc = poolstat_resolve_pid((pid_t)c.v[i], 1, &g->t, err);
        if (rc != 0)
            poolstat_printable(err);
        else
            rc = fetch(g, err);
        if (rc == 0) {
            n++;
            continue;
        }
        if (g->t.unstarted || (kill((pid_t)c.v[i], 0) != 0 && errno == ESRCH) ||
            pids_has(&told, c.v[i]))
            continue;
        pids_add(&told, c.v[i]);
        fprintf(stderr, "poolstat: left out pid %ld (%s): %s\n", c.v[i], g->t.comm,
                strncmp(err, "poolstat: ", 10) ? err : err + 10);
    }
    free(c.v);
    *out = f;
    return (long)n;
}

static void free_figs(struct fig *f, long n)
{
    for (long i = 0; i < n; i++)
        free(f[i].r);
    free(f);
}

int poolstat_prom_all(void)
{
    struct fig *f;
    long n = fetch_all(&f, 0);
    struct sink o;
    sink_init(&o, 1, 0);
    render(&o, f, (size_t)n);
    int rc = sink_flush(&o);
    free_figs(f, n);
    return rc ? 1 : 0;
}

/* ---- the textfile ------------------------------------------------------------------- */

/* One round: every process's exposition, written to a temporary name in the
 * folder dfd (hidden, and not matching node_exporter's *.prom) and renamed
 * over EXPORT_FILE, so that a reader sees the old file or the new one, never
 * half of one. The file is 0644 whatever the umask: node_exporter runs as
 * its own user. 0, 1 if stopped by a signal before anything was written,
 * -1 on failure (said on stderr; the old file stays). */
static int export_round(int dfd, const char *shown)
{
    struct fig *f;
    long n = fetch_all(&f, 1);
    if (n < 0)
        return 1;
    struct sink o;
    sink_init_mem(&o, EXPORT_BYTES_MAX);
    render(&o, f, (size_t)n);
    sink_flush(&o);
    free_figs(f, n);
    if (o.failed) {
        fprintf(stderr, "poolstat: the exposition passed %u MiB; %s/" EXPORT_FILE " not updated\n",
                EXPORT_BYTES_MAX >> 20, shown);
        if (o.mem)
            munmap(o.mem, o.mem_cap);
        return -1;
    }

    char tmp[64];
    snprintf(tmp, sizeof tmp, "." EXPORT_FILE ".%ld", (long)getpid());
    unlinkat(dfd, tmp, 0);   /* left by an earlier poolstat that had our pid and was killed */
    int rc = -1;
    const char *what = "create";
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        what = "write";
        while (off < o.mem_len) {
            ssize_t w = write(fd, o.mem + off, o.mem_len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off == o.mem_len && fchmod(fd, 0644) == 0) {
            what = "close";
            if (close(fd) == 0) {
                what = "rename";
                rc = renameat(dfd, tmp, dfd, EXPORT_FILE) == 0 ? 0 : -1;
            }
            fd = -1;
        }
        int saved = errno;
        if (fd >= 0)
            close(fd);
        if (rc != 0)
            unlinkat(dfd, tmp, 0);
        errno = saved;
    }
    if (rc != 0)
        fprintf(stderr, "poolstat: cannot %s %s/%s: %s; %s/" EXPORT_FILE " not updated\n", what,
                shown, tmp, errno ? strerror(errno) : "short write", shown);
    if (o.mem)
        munmap(o.mem, o.mem_cap);
    return rc;
}

/* Waits until CLOCK_MONOTONIC reaches due_ms, or SIGINT/SIGTERM (blocked in
 * `stop`) arrives: 1 then, else 0. */
static int wait_until(long long due_ms, const sigset_t *stop)
{
    for (;;) {
        long long left = due_ms - poolstat_now_ms();
        if (left <= 0)
            return 0;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        int sig = sigtimedwait(stop, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            return 1;
    }
}

int poolstat_export_textfile(const char *dir, double interval, long count)
{
    char shown[300];
    snprintf(shown, sizeof shown, "%.290s", dir);
    poolstat_printable(shown);
    if (!isfinite(interval) || interval <= 0 || interval > 86400 || count < 0) {
        fprintf(stderr, "poolstat: export needs --interval between 0 and 86400 seconds and a "
                        "count >= 0 (0: until stopped)\n");
        return 2;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOTDIR)
            fprintf(stderr, "poolstat: %s is not a directory; give the folder node_exporter "
                            "reads (its --collector.textfile.directory)\n", shown);
        else
            fprintf(stderr, "poolstat: cannot open the folder %s: %s\n", shown, strerror(errno));
        return 1;
    }
    /* SIGINT and SIGTERM end the loop between rounds (or between two
     * processes of a round), never halfway through writing the file. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, &old);
    long long period = (long long)(interval * 1000 + 0.5), next = poolstat_now_ms();
    if (period < 1)
        period = 1;
    int last = 0;
    for (long round = 0; count == 0 || round < count; round++) {
        if (round && wait_until(next, &stop))
            break;
        last = export_round(dfd, shown);
        if (last == 1)
            break;
        /* The next round is one period after this one was due; after a
         * round that took longer than a period, one period from now. */
        next += period;
        if (next < poolstat_now_ms())
            next = poolstat_now_ms() + period;
    }
    close(dfd);
    /* A signal still pending (it stopped a round) is taken here: unblocked,
     * it would end poolstat by its default action instead of exit 0. */
    struct timespec zero = {0};
    while (sigtimedwait(&stop, NULL, &zero) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return last < 0 ? 1 : 0;
}
