/* client.c - finding a process's socket and asking it (see poolstat.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "poolstat.h"

void poolstat_comm(pid_t pid, char *out, size_t cap)
{
    char p[64];
    out[0] = '\0';
    snprintf(p, sizeof p, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    if (fgets(out, (int)cap, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Value of NAME in /proc/PID/environ, copied to out; 1 if found, 0 if not,
 * -1 if the environment cannot be read. */
static int target_env(pid_t pid, const char *name, char *out, size_t cap)
{
    char p[64], buf[1 << 16];
    snprintf(p, sizeof p, "/proc/%d/environ", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    size_t len = strlen(name);
    for (char *s = buf; s < buf + n; s += strlen(s) + 1)
        if (!strncmp(s, name, len) && s[len] == '=') {
            snprintf(out, cap, "%s", s + len + 1);
            return 1;
        }
    return 0;
}

/* Effective uid of a process (second field of Uid:), or -1. */
static long target_euid(pid_t pid)
{
    char p[64], line[256];
    long ruid, euid = -1;
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Uid:", 4) == 0) {
            char *q = line + 4;
            ruid = strtol(q, &q, 10);
            euid = strtol(q, &q, 10);
            (void)ruid;
            break;
        }
    fclose(f);
    return euid;
}

/* 1 if the process has libpoolalloc mapped, 0 if not, -1 if unknown. */
static int target_has_lib(pid_t pid)
{
    char p[64], line[1024];
    snprintf(p, sizeof p, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "libpoolalloc") != NULL;
    fclose(f);
    return found;
}

static void expand(const char *tmpl, pid_t pid, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *t = tmpl; *t && n + 24 < cap; t++) {
        if (t[0] == '%' && t[1] == 'p') {
            n += (size_t)snprintf(out + n, cap - n, "%d", (int)pid);
            t++;
        } else if (t[0] == '%' && t[1] == '%') {
            out[n++] = '%';
            t++;
        } else {
            out[n++] = *t;
        }
    }
    out[n] = '\0';
}

int poolstat_resolve(const char *arg, struct target *t, char *err)
{
    memset(t, 0, sizeof *t);
    if (strchr(arg, '/')) {
        snprintf(t->path, sizeof t->path, "%s", arg);
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || v <= 0 || v > 0x3fffffff) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: '%s' is neither a process id nor a socket path (try poolstat --help)",
                 arg);
        return -1;
    }
    t->pid = (pid_t)v;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%ld", v);
    if (access(proc, F_OK) != 0) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: no process %ld", v);
        return -1;
    }
    poolstat_comm(t->pid, t->comm, sizeof t->comm);

    /* Candidates, most specific first: the process's own POOLALLOC_SOCKET
     * and XDG_RUNTIME_DIR, then the defaults for its uid and for ours. */
    char cand[6][256], val[4096];
    int nc = 0;
    int env = target_env(t->pid, "POOLALLOC_SOCKET", val, sizeof val);
    if (env == 1 && !strcmp(val, "off")) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: process %ld (%s) runs with POOLALLOC_SOCKET=off: it has no stats socket",
                 v, t->comm);
        return -1;
    }
    if (env == 1 && val[0]) {
        expand(val, t->pid, cand[nc++], sizeof cand[0]);
        snprintf(cand[nc], sizeof cand[0], "%.200s.%ld", cand[nc - 1], v);
        nc++;
    }
    if (target_env(t->pid, "XDG_RUNTIME_DIR", val, sizeof val) == 1 && val[0] == '/')
        snprintf(cand[nc++], sizeof cand[0], "%.200s/poolalloc/%ld.sock", val, v);
    long euid = target_euid(t->pid);
    if (euid >= 0)
        snprintf(cand[nc++], sizeof cand[0], "/tmp/poolalloc-%ld/%ld.sock", euid, v);
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && x[0] == '/')
        snprintf(cand[nc++], sizeof cand[0], "%.200s/poolalloc/%ld.sock", x, v);
    snprintf(cand[nc++], sizeof cand[0], "/tmp/poolalloc-%ld/%ld.sock", (long)geteuid(), v);

    int denied = -1;
    for (int i = 0; i < nc; i++) {
        struct stat st;
        if (lstat(cand[i], &st) == 0 && S_ISSOCK(st.st_mode)) {
            snprintf(t->path, sizeof t->path, "%.250s", cand[i]);
            return 0;
        }
        if (errno == EACCES && denied < 0)
            denied = i;
    }
    if (denied >= 0) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: permission denied looking for %s: process %ld runs as uid %ld; run "
                 "poolstat as that user or as root",
                 cand[denied], v, euid);
        return -1;
    }
    if (target_has_lib(t->pid) == 0) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: process %ld (%s) does not use poolalloc (start it with "
                 "tools/poolalloc CMD, or LD_PRELOAD=.../libpoolalloc.so CMD)",
                 v, t->comm);
        return -1;
    }
    snprintf(err, POOLSTAT_ERR_MAX,
             "poolstat: no process %ld with a poolalloc socket (is POOLALLOC_SOCKET=off?)", v);
    return -1;
}

/* The process's name for messages: "process 4242 (redis)" or the path. */
static void who(const struct target *t, char *out, size_t cap)
{
    if (t->pid && t->comm[0])
        snprintf(out, cap, "process %d (%s)", (int)t->pid, t->comm);
    else if (t->pid)
        snprintf(out, cap, "process %d", (int)t->pid);
    else
        snprintf(out, cap, "%s", t->path);
}

/* Connects to t, sends req and reads the whole reply into *out (NUL-terminated,
 * the caller frees it). 0, or -1 with a message in err. */
static int exchange(const struct target *t, const char *req, char **out, size_t *outlen,
                    int *timed_out, char *err)
{
    char name[320];
    who(t, name, sizeof name);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(t->path) >= sizeof a.sun_path) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: socket path too long: %s", t->path);
        return -1;
    }
    memcpy(a.sun_path, t->path, strlen(t->path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        if (e == EACCES || e == EPERM)
            snprintf(err, POOLSTAT_ERR_MAX,
                     "poolstat: permission denied on %s: only the user the process runs as (and "
                     "root) may ask it",
                     t->path);
        else if (e == ECONNREFUSED)
            snprintf(err, POOLSTAT_ERR_MAX,
                     "poolstat: nobody answers on %s: %s has exited or exec'd a program without "
                     "poolalloc (a stale socket)",
                     t->path, name);
        else if (e == ENOENT)
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: no socket at %s", t->path);
        else
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: cannot connect to %s: %s", t->path,
                     strerror(e));
        return -1;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char line[PROTO_REQ_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", req);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: cannot send to %s: %s", t->path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    /* Read everything (a reply is tens of KiB; a heap profile a few MiB). */
    size_t cap = 1 << 16, len = 0;
    char *buf = poolstat_xmalloc(cap);
    *timed_out = 0;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= (64u << 20))
                break;
            cap *= 2;
            buf = poolstat_xrealloc(buf, cap);
        }
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            *timed_out = 1;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

/* The message for a reply that is not a complete "ok" reply; -1 then, else 0. */
static int check_reply(const struct target *t, const struct proto_reply *r, int timed_out,
                       char *err)
{
    char name[320];
    who(t, name, sizeof name);
    switch (r->status) {
    case PROTO_PENDING:
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: %s %s", name,
                 timed_out ? "did not answer within 5 s" : "closed the connection without a reply");
        return -1;
    case PROTO_FOREIGN:
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: %s is not a poolalloc stats socket (it said \"%.60s\")", t->path,
                 r->bad);
        return -1;
    case PROTO_SKEW:
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: %s speaks stats protocol %ld, this poolstat speaks %d: use the "
                 "poolstat built with that libpoolalloc.so",
                 name, r->version, PROTO_VERSION);
        return -1;
    case PROTO_ERROR:
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: %.200s refused the request: %.250s", name, r->error);
        return -1;
    default:
        break;
    }
    if (!r->ended) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: the reply of %s was cut short%s", name,
                 timed_out ? " (no data for 5 s)" : "");
        return -1;
    }
    return 0;
}

int poolstat_fetch(const struct target *t, const char *req, struct proto_reply *r, char *err)
{
    char *buf;
    size_t len;
    int timed_out;
    proto_reply_init(r);
    if (exchange(t, req, &buf, &len, &timed_out, err) != 0)
        return -1;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (proto_parse_line(r, l) != 0)
            break;
    free(buf);
    if (check_reply(t, r, timed_out, err) != 0)
        return -1;
    if (r->malformed) {
        char name[320];
        who(t, name, sizeof name);
        fprintf(stderr, "poolstat: warning: %s sent a line this poolstat cannot read: %s\n", name,
                r->bad);
    }
    if (t->pid && r->snap.pid && r->snap.pid != (uint64_t)t->pid) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: the socket %s belongs to process %llu, not %d (set POOLALLOC_SOCKET "
                 "with %%p so that every process has its own)",
                 t->path, (unsigned long long)r->snap.pid, (int)t->pid);
        return -1;
    }
    return 0;
}

int poolstat_fetch_body(const struct target *t, const char *req, char **body, size_t *len,
                        char *err)
{
    char *buf;
    size_t n;
    int timed_out;
    if (exchange(t, req, &buf, &n, &timed_out, err) != 0)
        return -1;
    /* The first line says ok or not (the reply parser reads it); the body
     * is what lies between it and the closing "end" line. */
    struct proto_reply *r = poolstat_xmalloc(sizeof *r);
    proto_reply_init(r);
    char *nl = strchr(buf, '\n');
    size_t first = nl ? (size_t)(nl - buf) + 1 : n;
    if (nl) {
        *nl = '\0';
        proto_parse_line(r, buf);
        *nl = '\n';
        r->ended = n - first >= 4 && !strcmp(buf + n - 4, "end\n") &&
                   (n - first == 4 || buf[n - 5] == '\n');
    }
    int rc = check_reply(t, r, timed_out, err);
    free(r);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *len = n - first - 4;
    memmove(buf, buf + first, *len);
    buf[*len] = '\0';
    *body = buf;
    return 0;
}

void *poolstat_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "poolstat: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return q;
}
