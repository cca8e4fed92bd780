/* SPDX-License-Identifier: MIT */
/* watch.c - `poolstat -w PID`: a refreshing view like slabtop. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "poolstat.h"

static volatile sig_atomic_t watch_stop;
static struct termios watch_saved;
static int watch_raw;

static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static void restore_terminal(void)
{
    if (watch_raw) {
        tcsetattr(0, TCSAFLUSH, &watch_saved);
        watch_raw = 0;
        fputs("\033[?25h", stdout);   /* cursor back */
        fflush(stdout);
    }
}

static double now_s(void)
{
    return (double)poolstat_now_ms() / 1e3;
}

static const char *human(double v, char *out, size_t cap, int bytes)
{
    static const char *bu[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    static const char *cu[] = {"", "k", "M", "G", "T"};
    double base = bytes ? 1024 : 1000;
    int i = 0;
    while (v >= base && i < 4) {
        v /= base;
        i++;
    }
    if (bytes)
        snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", v, bu[i]);
    else
        snprintf(out, cap, i ? "%.1f%s" : "%.0f%s", v, cu[i]);
    return out;
}

static uint64_t allocs_of(const struct cache_counters *c)
{
    return c->alloc_cache + c->alloc_victim + c->alloc_central + c->alloc_steal + c->alloc_new;
}

struct line {
    unsigned cls;
    uint64_t size, in_use, cached, central, spans;
    double alloc_rate, free_rate, drop_rate;
    double pct[5];   /* cache victim central steal new */
};

static char sort_key = 'u';

static double key_of(const struct line *l)
{
    switch (sort_key) {
    case 'c': return (double)(l->cached * l->size);
    case 'a': return l->alloc_rate;
    case 'f': return l->free_rate;
    case 'd': return l->drop_rate;
    case 'h': return -l->pct[0];   /* worst cache hit ratio first */
    case 's': return -(double)l->size;
    case 'n': return (double)l->in_use;
    default: return (double)(l->in_use * l->size);
    }
}

static int by_key(const void *a, const void *b)
{
    double x = key_of(a), y = key_of(b);
    if (x != y)
        return x < y ? 1 : -1;
    const struct line *p = a, *q = b;
    return (p->cls > q->cls) - (p->cls < q->cls);
}

static const char *sort_name(char k)
{
    switch (k) {
    case 'c': return "cached bytes";
    case 'a': return "allocations/s";
    case 'f': return "frees/s";
    case 'd': return "drops/s";
    case 'h': return "cache hit ratio, worst first";
    case 's': return "size";
    case 'n': return "objects in use";
    default: return "bytes in use";
    }
}

static void frame(FILE *f, const struct target *t, const struct stats_snapshot *s,
                  const struct stats_snapshot *prev, double dt, double interval, int rows_max)
{
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(f, "poolstat %d (%s) - up ", (int)s->pid, t->comm[0] ? t->comm : "?");
    uint64_t up = s->uptime_ms / 1000;
    if (up >= 3600)
        fprintf(f, "%lluh%02llum", (unsigned long long)up / 3600, (unsigned long long)up / 60 % 60);
    else
        fprintf(f, "%llum%02llus", (unsigned long long)up / 60, (unsigned long long)up % 60);
    fprintf(f, " - mode %s - %llu CPU caches - every %.1f s - sorted by %s\n", s->mode,
            (unsigned long long)s->cpus, interval, sort_name(sort_key));
    fprintf(f, "in use %s | cached %s (local %s, victim %s) | free in spans %s | resident %s\n",
            human((double)s->in_use_bytes, a, sizeof a, 1),
            human((double)(s->local_bytes + s->victim_bytes), b, sizeof b, 1),
            human((double)s->local_bytes, c, sizeof c, 1),
            human((double)s->victim_bytes, d, sizeof d, 1),
            human((double)s->central_bytes, e, sizeof e, 1),
            human((double)s->resident_bytes, a, sizeof a, 1));

    static struct line lines[SC_COUNT];
    unsigned n = 0;
    struct cache_counters tot = {0};
    for (unsigned k = 0; k < SC_COUNT; k++) {
        const struct stats_class *x = &s->cls[k];
        const struct stats_class *p = prev ? &prev->cls[k] : NULL;
        struct cache_counters dl = x->ctr;
        if (p) {
#define X(name, doc) dl.name = x->ctr.name >= p->ctr.name ? x->ctr.name - p->ctr.name : 0;
            CACHE_COUNTERS(X)
#undef X
        }
#define X(name, doc) tot.name += dl.name;
        CACHE_COUNTERS(X)
#undef X
        if (!stats_class_active(x))
            continue;
        struct line *l = &lines[n++];
        l->cls = k;
        l->size = x->size;
        l->in_use = x->in_use;
        l->cached = x->local + x->victim;
        l->central = x->central;
        l->spans = x->spans;
        double span = p ? dt : (double)(s->uptime_ms ? s->uptime_ms : 1) / 1000.0;
        uint64_t al = allocs_of(&dl);
        l->alloc_rate = (double)al / span;
        l->free_rate = (double)dl.frees / span;
        l->drop_rate = (double)dl.drops / span;
        double den = al ? (double)al : 1;
        l->pct[0] = al ? 100.0 * (double)dl.alloc_cache / den : 0;
        l->pct[1] = 100.0 * (double)dl.alloc_victim / den;
        l->pct[2] = 100.0 * (double)dl.alloc_central / den;
        l->pct[3] = 100.0 * (double)dl.alloc_steal / den;
        l->pct[4] = 100.0 * (double)dl.alloc_new / den;
    }
    double span = prev ? dt : (double)(s->uptime_ms ? s->uptime_ms : 1) / 1000.0;
    uint64_t al = allocs_of(&tot);
    double den = al ? (double)al : 1;
    uint64_t pass = s->passthrough_allocs - (prev ? prev->passthrough_allocs : 0);
    uint64_t fl = s->flushes - (prev ? prev->flushes : 0);
    fprintf(f,
            "allocs %s/s | frees %s/s | from cache %.1f%% victim %.1f%% central %.1f%% steal "
            "%.1f%% new %.1f%% | pass-through %s/s | flushes %.1f/s\n",
            human((double)al / span, a, sizeof a, 0), human((double)tot.frees / span, b, sizeof b, 0),
            100.0 * (double)tot.alloc_cache / den, 100.0 * (double)tot.alloc_victim / den,
            100.0 * (double)tot.alloc_central / den, 100.0 * (double)tot.alloc_steal / den,
            100.0 * (double)tot.alloc_new / den, human((double)pass / span, c, sizeof c, 0),
            (double)fl / span);
    fprintf(f, "%s\n", prev ? "" : "(rates since start; per interval from the next refresh)");

    qsort(lines, n, sizeof lines[0], by_key);
    fprintf(f, "%5s %7s %9s %10s %9s %9s %5s %8s %8s %7s %6s %5s %5s %5s %5s\n", "CLASS", "SIZE",
            "IN USE", "USE B", "CACHED", "CENTRAL", "SPANS", "ALLOC/s", "FREE/s", "DROP/s", "CACHE%",
            "VICT%", "CENT%", "STEAL", "NEW%");
    for (unsigned i = 0; i < n && (rows_max <= 0 || (int)i < rows_max); i++) {
        struct line *l = &lines[i];
        fprintf(f, "%5u %7llu %9llu %10s %9llu %9llu %5llu %8s %8s %7s %6.1f %5.1f %5.1f %5.1f %5.1f\n",
                l->cls, (unsigned long long)l->size, (unsigned long long)l->in_use,
                human((double)(l->in_use * l->size), a, sizeof a, 1), (unsigned long long)l->cached,
                (unsigned long long)l->central, (unsigned long long)l->spans,
                human(l->alloc_rate, b, sizeof b, 0), human(l->free_rate, c, sizeof c, 0),
                human(l->drop_rate, d, sizeof d, 0), l->pct[0], l->pct[1], l->pct[2], l->pct[3],
                l->pct[4]);
    }
    fprintf(f, "keys: q quit | sort u in use, n objects, c cached, a allocs/s, f frees/s, d drops/s, "
               "h hit%%, s size\n");
}

int poolstat_watch(const struct target *t, const struct watch_opts *o)
{
    int tty = isatty(0) && isatty(1);
    sort_key = o->sort ? o->sort : 'u';
    struct sigaction sa = {.sa_handler = on_signal};   /* no SA_RESTART: poll returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (tty && tcgetattr(0, &watch_saved) == 0) {
        struct termios raw = watch_saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);   /* ISIG stays: Ctrl-C is SIGINT */
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(0, TCSAFLUSH, &raw) == 0) {
            watch_raw = 1;
            atexit(restore_terminal);
            fputs("\033[?25l", stdout);
        }
    }
    struct proto_reply *r = poolstat_xmalloc(sizeof *r);
    struct stats_snapshot *prev = poolstat_xmalloc(sizeof *prev);
    int have_prev = 0, rc = 0;
    double last = 0;
    char err[POOLSTAT_ERR_MAX];
    for (long frames = 0; !watch_stop;) {
        if (poolstat_fetch(t, "all", r, err) != 0) {
            restore_terminal();
            poolstat_printable(err);
            fprintf(stderr, "%s\n", err);
            rc = 1;
            break;
        }
        double now = now_s();
        int rows = 0;
        if (tty) {
            struct winsize ws;
            if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 8)
                rows = ws.ws_row - 7;
            fputs("\033[H\033[2J", stdout);
        }
        frame(stdout, t, &r->snap, have_prev ? prev : NULL, now - last, o->interval, rows);
        if (!tty)
            fputs("\n", stdout);
        fflush(stdout);
        *prev = r->snap;
        have_prev = 1;
        last = now;
        if (o->count && ++frames >= o->count)
            break;
        /* Wait for the next refresh, a key, or a signal. */
        double until = now + o->interval;
        int redraw = 0;
        while (!watch_stop && !redraw) {
            double left = until - now_s();
            if (left <= 0)
                break;
            struct pollfd p = {.fd = 0, .events = POLLIN};
            int n = poll(&p, tty ? 1 : 0, (int)(left * 1000) + 1);
            if (n > 0 && (p.revents & POLLIN)) {
                char ch;
                if (read(0, &ch, 1) != 1)
                    continue;
                if (ch == 'q' || ch == 'Q')
                    watch_stop = 1;
                else if (ch && strchr("uncafdhs", ch)) {
                    sort_key = ch;
                    redraw = 1;
                }
            } else if (n < 0 && errno != EINTR) {
                break;
            }
        }
        /* A new sort key: fetch and draw at once (rates over the shorter interval). */
    }
    restore_terminal();
    free(r);
    free(prev);
    return rc;
}
