/* SPDX-License-Identifier: MIT */
/* list.c - `poolstat` with no argument: live processes with a socket, and
 * those that map libpoolalloc but have no socket (not started, or no socket
 * where the list looks: each is then resolved by its pid like `poolstat PID`).
 * The sockets are the abstract names "@poolalloc-<uid>-<pid>" listening in
 * /proc/net/unix (the default: gone with their process, never stale) and the
 * files of the default folders (where a name was held by another process,
 * and those an older poolalloc left: removed once their process is gone).
 *
 * The folders of other users are theirs: a folder is read only once walked
 * without links and found to belong to the uid its name says (trust.c), a
 * socket is shown as process N only if N runs as that uid (the exchange then
 * checks the server itself), and stale sockets are removed only in the
 * caller's own folders, by name relative to the verified folder.
 *
 * The walk of /proc that finds processes by their uids (poolstat_proc_each)
 * is here too; `poolstat --prom --all` and export (export.c) walk with it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "poolstat.h"

#define DIRS_MAX 64

/* A folder to look in and the uid that must own it (and every socket in it). */
struct place {
    char path[256];
    uid_t uid;
};

struct row {
    long pid;
    char comm[64];
    int ok;
    int unstarted;          /* maps libpoolalloc, no socket yet: age_ms is its age */
    uint64_t age_ms;
    char note[160];
    struct stats_snapshot *snap;
};

struct list {
    struct row *rows;
    size_t n, cap;
    struct proto_reply *r;
};

static int add_place(struct place *p, int n, const char *d, uid_t uid)
{
    if (n >= DIRS_MAX)
        return n;
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].path, d))
            return n;
    snprintf(p[n].path, sizeof p[n].path, "%.250s", d);
    p[n].uid = uid;
    return n + 1;
}

/* A decimal number spelt the one way the library spells it (no sign, no
 * leading zero), whole string; -1 if not. */
static long canonical(const char *s, const char *stop)
{
    long v = 0;
    const char *c = s;
    for (; c < stop && *c >= '0' && *c <= '9' && c - s < 10; c++)
        v = v * 10 + (*c - '0');
    if (c == s || c != stop || (s[0] == '0' && c - s > 1))
        return -1;
    return v;
}

int poolstat_proc_each(enum poolstat_whose whose, const char *what,
                       int (*fn)(long pid, void *arg), void *arg)
{
    uid_t me = geteuid();
    DIR *d = opendir("/proc");
    struct dirent *e;
    int seen = 0, rc = 0;
    while (rc == 0 && d && (e = readdir(d)) != NULL) {
        long pid = canonical(e->d_name, e->d_name + strlen(e->d_name));
        if (pid <= 0 || pid == (long)getpid())
            continue;
        if (++seen > POOLSTAT_PROC_MAX) {
            fprintf(stderr, "poolstat: looked at the first %d processes%s, not at the rest\n",
                    POOLSTAT_PROC_MAX, what);
            break;
        }
        uid_t ruid, euid;
        if (poolstat_uids((pid_t)pid, &ruid, &euid) != 0)
            continue;
        if (me != 0 && (euid != me || (whose == POOLSTAT_RUID_EUID && ruid != me)))
            continue;
        rc = fn(pid, arg);
    }
    if (d)
        closedir(d);
    return rc;
}

/* root: every user's folders. Names under /tmp and /run/user are anyone's
 * to choose: only "poolalloc-<uid>" and "<uid>/poolalloc" are looked at,
 * and each must then belong to that uid. */
static int add_everyone(struct place *p, int n)
{
    char buf[300];
    DIR *d = opendir("/tmp");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long uid;
        if (strncmp(e->d_name, "poolalloc-", 10) == 0 &&
            (uid = canonical(e->d_name + 10, e->d_name + strlen(e->d_name))) >= 0) {
            snprintf(buf, sizeof buf, "/tmp/%.250s", e->d_name);
            n = add_place(p, n, buf, (uid_t)uid);
        }
    }
    if (d)
        closedir(d);
    d = opendir("/run/user");
    while (d && (e = readdir(d)) != NULL) {
        long uid = canonical(e->d_name, e->d_name + strlen(e->d_name));
        if (uid >= 0) {
            snprintf(buf, sizeof buf, "/run/user/%.250s/poolalloc", e->d_name);
            n = add_place(p, n, buf, (uid_t)uid);
        }
    }
    if (d)
        closedir(d);
    return n;
}

static struct row *row_of(const struct list *l, long pid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->rows[i].pid == pid)
            return &l->rows[i];
    return NULL;
}

static int listed(const struct list *l, long pid)
{
    return row_of(l, pid) != NULL;
}

/* A new, zeroed row for pid with its name. */
static struct row *new_row(struct list *l, long pid)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->rows = poolstat_xrealloc(l->rows, l->cap * sizeof *l->rows);
    }
    struct row *w = &l->rows[l->n++];
    memset(w, 0, sizeof *w);
    w->pid = pid;
    poolstat_comm((pid_t)pid, w->comm, sizeof w->comm);
    return w;
}

/* A failed exchange or resolution as the row's note ("poolstat: " is noise
 * inside a table). */
static void set_note(struct row *w, const char *err)
{
    snprintf(w->note, sizeof w->note, "%.150s", strncmp(err, "poolstat: ", 10) ? err : err + 10);
    poolstat_printable(w->note);
}

/* Asks process t.pid for its figures and adds its row (a failure is a
 * note in the row: one server that does not answer stops nothing). A pid
 * may be found at two places (an old version's socket file beside its
 * abstract name, or a file of a process whose name another one holds): a
 * row that failed is tried again at the next, and the first note stays. */
static void add_row(struct list *l, struct target *t)
{
    struct row *w = row_of(l, t->pid);
    if (w && w->ok)
        return;
    char comm[64];
    poolstat_comm(t->pid, comm, sizeof comm);
    snprintf(t->comm, sizeof t->comm, "%s", w ? w->comm : comm);
    char err[POOLSTAT_ERR_MAX];
    if (poolstat_fetch(t, "stats", l->r, err) == 0) {
        if (!w)
            w = new_row(l, t->pid);
        w->ok = 1;
        w->note[0] = '\0';
        w->snap = poolstat_xmalloc(sizeof *w->snap);
        *w->snap = l->r->snap;
    } else if (!w) {
        set_note(new_row(l, t->pid), err);
    }
}

/* Is the live process pid of uid? If not, says on stderr why where is ignored. */
static int runs_as(long pid, uid_t uid, const char *where)
{
    long euid = poolstat_euid((pid_t)pid);
    if (euid == (long)uid)
        return 1;
    if (euid >= 0)
        fprintf(stderr, "poolstat: ignoring %s: process %ld runs as uid %ld, not as uid %u\n",
                where, pid, euid, (unsigned)uid);
    return 0;
}

/* The sockets of one folder: rows for live processes; stale sockets
 * removed if the folder is the caller's. Returns how many were removed. */
static int scan_place(struct list *l, const struct place *p)
{
    char why[POOLSTAT_ERR_MAX], shown[256], where[320];
    uid_t uid = p->uid;
    int unsafe = -1, stale = 0;
    snprintf(shown, sizeof shown, "%.250s", p->path);
    poolstat_printable(shown);
    int dfd = poolstat_open_dir(p->path, ".", &uid, why, sizeof why, &unsafe);
    if (unsafe >= 0)
        close(unsafe);
    if (dfd < 0) {
        if (errno == EPERM)
            fprintf(stderr, "poolstat: ignoring %s: %s\n", shown, why);
        return 0;
    }
    int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
    if (!d) {
        if (rfd >= 0)
            close(rfd);
        close(dfd);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        long pid;
        if (n < 6 || strcmp(e->d_name + n - 5, ".sock") != 0 ||
            (pid = canonical(e->d_name, e->d_name + n - 5)) <= 0)
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        snprintf(where, sizeof where, "%s/%.60s", shown, e->d_name);   /* a pid and .sock */
        poolstat_printable(where);
        if (st.st_uid != uid) {
            fprintf(stderr, "poolstat: ignoring %s: it belongs to uid %u, not to uid %u\n", where,
                    (unsigned)st.st_uid, (unsigned)uid);
            continue;
        }
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            /* The process is gone (killed, or exited without running its
             * destructors): its socket is stale. Only the caller's own are
             * removed: root leaves other users' files alone. */
            if (uid == geteuid() && unlinkat(dfd, e->d_name, 0) == 0)
                stale++;
            continue;
        }
        if (!runs_as(pid, uid, where))
            continue;
        struct target t = {.pid = (pid_t)pid, .uid = uid};
        snprintf(t.path, sizeof t.path, "%.200s/%.40s", p->path, e->d_name);
        add_row(l, &t);
    }
    closedir(d);
    close(dfd);
    return stale;
}

/* poolstat_abstract_each callback: a row for "@poolalloc-<uid>-<pid>", the
 * caller's own or, for root, anyone's. */
static int abstract_row(unsigned long uid, long pid, void *arg)
{
    struct list *l = arg;
    char where[64];
    if (geteuid() != 0 && uid != geteuid())
        return 0;
    snprintf(where, sizeof where, "@poolalloc-%lu-%ld", uid, pid);
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    if (!runs_as(pid, (uid_t)uid, where))
        return 0;
    struct target t = {.pid = (pid_t)pid, .uid = (uid_t)uid, .abstract = 1};
    snprintf(t.path, sizeof t.path, "%s", where);
    add_row(l, &t);
    return 0;
}

/* How long process pid has lived (/proc/PID/stat: its start in clock ticks
 * since boot, field 22, counted after the ")" that ends the name it chose).
 * 0, or -1 if it cannot be read. */
static int age_ms(long pid, uint64_t *ms)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *c = strrchr(buf, ')');
    if (!c)
        return -1;
    for (int f = 2; f < 22 && c; f++)
        c = strchr(c + 1, ' ');
    char *end;
    unsigned long long start = c ? strtoull(c + 1, &end, 10) : 0;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec now;
    if (!c || end == c + 1 || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0)
        return -1;
    uint64_t up = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    uint64_t born = start * 1000 / (uint64_t)hz;
    *ms = up > born ? up - born : 0;
    return 0;
}

/* poolstat_proc_each callback: a row for process pid (the caller's own, by
 * real and effective uid, or for root anyone's) if it maps libpoolalloc and
 * has no row yet. It is resolved as `poolstat PID` would be: a socket the
 * folders above did not hold (its own POOLALLOC_SOCKET) gives its figures,
 * none gives a "not started" row, and anything else (POOLALLOC_SOCKET=off, a
 * refused socket) a note. A process that ends meanwhile is left out. The
 * abstract names were read already (abstract_row). */
static int proc_row(long pid, void *arg)
{
    struct list *l = arg;
    if (listed(l, pid) || poolstat_maps_lib((pid_t)pid) != 1)
        return 0;
    char err[POOLSTAT_ERR_MAX];
    struct target t;
    if (poolstat_resolve_pid((pid_t)pid, 0, &t, err) == 0) {
        add_row(l, &t);
        return 0;
    }
    uint64_t age;
    if (age_ms(pid, &age) != 0)
        return 0;   /* gone */
    struct row *w = new_row(l, pid);
    w->unstarted = t.unstarted;
    w->age_ms = age;
    if (!t.unstarted)
        set_note(w, err);
    return 0;
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
    static struct place places[DIRS_MAX];
    char buf[300];
    int np = 0;
    uid_t me = geteuid();
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && x[0] == '/') {
        snprintf(buf, sizeof buf, "%.250s/poolalloc", x);
        np = add_place(places, np, buf, me);
    }
    snprintf(buf, sizeof buf, "/tmp/poolalloc-%u", (unsigned)me);
    np = add_place(places, np, buf, me);
    if (me == 0)
        np = add_everyone(places, np);

    struct list l = {.r = poolstat_xmalloc(sizeof *l.r)};
    int stale = 0;
    for (int i = 0; i < np; i++)
        stale += scan_place(&l, &places[i]);
    poolstat_abstract_each(abstract_row, &l);
    poolstat_proc_each(POOLSTAT_RUID_EUID, " for one that has not started", proc_row, &l);
    free(l.r);
    struct row *rows = l.rows;
    size_t nrows = l.n;
    if (nrows)
        qsort(rows, nrows, sizeof *rows, by_pid);
    if (!nrows) {
        if (me == 0)
            printf("no process with a poolalloc socket (@poolalloc-* names, or files in");
        else
            printf("no process with a poolalloc socket (@poolalloc-%u-* names, or files in",
                   (unsigned)me);
        for (int i = 0; i < np; i++) {
            snprintf(buf, sizeof buf, "%.250s", places[i].path);
            poolstat_printable(buf);
            printf(" %s", buf);
        }
        printf("), and %s maps libpoolalloc\n", me == 0 ? "no process" : "none of your processes");
    } else {
        printf("%8s  %-16s %8s %11s %11s  %s\n", "PID", "COMMAND", "UPTIME", "IN USE", "CACHED",
               "MODE");
    }
    int unstarted = 0;
    for (size_t i = 0; i < nrows; i++) {
        struct row *w = &rows[i];
        char up[32], use[32], cached[32];
        if (w->unstarted) {
            print_uptime(w->age_ms, up, sizeof up);
            printf("%8ld  %-16s %8s %11s %11s  %s\n", w->pid, w->comm, up, "-", "-", "not started");
            unstarted = 1;
            continue;
        }
        if (!w->ok) {
            printf("%8ld  %-16s %s\n", w->pid, w->comm, w->note);
            continue;
        }
        print_uptime(w->snap->uptime_ms, up, sizeof up);
        print_bytes(w->snap->in_use_bytes, use, sizeof use);
        print_bytes(w->snap->local_bytes + w->snap->victim_bytes, cached, sizeof cached);
        printf("%8ld  %-16s %8s %11s %11s  %s\n", w->pid, w->comm, up, use, cached, w->snap->mode);
        free(w->snap);
    }
    if (unstarted)
        printf("not started: " POOLSTAT_UNSTARTED_WHY "\n");
    if (stale)
        printf("removed %d stale socket%s of exited processes\n", stale, stale == 1 ? "" : "s");
    free(rows);
    return 0;
}
