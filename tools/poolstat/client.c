/* SPDX-License-Identifier: MIT */
/* client.c - asking a resolved target (see poolstat.h): connecting within
 * the deadline by a path no one else controls, checking who serves the
 * socket before a byte goes out, the request sent and the reply read, then
 * checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "poolstat.h"

/* The process's name for messages: "process 4242 (redis)" or the path. */
static void who(const struct target *t, char *out, size_t cap)
{
    if (t->pid && t->comm[0])
        snprintf(out, cap, "process %d (%s)", (int)t->pid, t->comm);
    else if (t->pid)
        snprintf(out, cap, "process %d", (int)t->pid);
    else
        snprintf(out, cap, "%s", t->path);
    poolstat_printable(out);
}

long long poolstat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline, at least 0. */
static int left_ms(long long deadline)
{
    long long l = deadline - poolstat_now_ms();
    return l > 0 ? (int)l : 0;
}

/* Connects fd to t's socket by a path that is not resolved through names
 * someone else controls: the verified folder's descriptor, through
 * /proc/self/fd (or fchdir when that path would not fit). An abstract name
 * has no file. Retries a full backlog until the deadline. 0, or -1 with
 * errno (ETIMEDOUT at the deadline, ENOTSOCK for a file that is not a
 * socket) and, for a refused socket, why. */
static int connect_target(int fd, const struct target *t, uid_t *uid, long long deadline,
                          char *why, size_t cap)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t alen;
    int dfd = -1;
    char name[256];
    why[0] = '\0';
    if (t->abstract) {
        size_t n = strlen(t->path + 1);   /* "@poolalloc-U-P": the name after '@' */
        if (n + 1 >= sizeof a.sun_path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(a.sun_path + 1, t->path + 1, n);   /* sun_path[0] stays '\0' */
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    } else {
        char dir[256];
        if (poolstat_split_path(t->path, dir, sizeof dir, name, sizeof name) != 0) {
            errno = EINVAL;
            return -1;
        }
        int unsafe = -1;
        dfd = poolstat_open_dir(dir, name, uid, why, cap, &unsafe);
        if (unsafe >= 0)
            close(unsafe);
        if (dfd < 0)
            return -1;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            int e = errno;
            close(dfd);
            errno = e;
            return -1;
        }
        if (!S_ISSOCK(st.st_mode)) {
            close(dfd);
            errno = ENOTSOCK;   /* a file, a folder: not a place to connect to */
            return -1;
        }
        if (st.st_uid != *uid) {
            snprintf(why, cap, "the socket belongs to uid %u, not to uid %u", (unsigned)st.st_uid,
                     (unsigned)*uid);
            close(dfd);
            errno = EPERM;
            return -1;
        }
        char via[32];
        int n = snprintf(via, sizeof via, "/proc/self/fd/%d/", dfd);
        size_t nl = strlen(name);
        if ((size_t)n + nl < sizeof a.sun_path) {
            memcpy(a.sun_path, via, (size_t)n);
            memcpy(a.sun_path + n, name, nl + 1);
        } else if (nl < sizeof a.sun_path) {
            memcpy(a.sun_path, name, nl + 1);   /* relative: fchdir below */
        } else {
            close(dfd);
            errno = ENAMETOOLONG;
            return -1;
        }
        alen = sizeof a;
    }
    int cwd = -1;
    if (dfd >= 0 && a.sun_path[0] != '/') {
        cwd = open(".", O_PATH | O_CLOEXEC);
        if (cwd < 0 || fchdir(dfd) != 0) {
            int e = errno;
            if (cwd >= 0)
                close(cwd);
            close(dfd);
            errno = e;
            return -1;
        }
    }
    int rc;
    for (;;) {
        rc = connect(fd, (struct sockaddr *)&a, alen);
        if (rc == 0 || errno != EAGAIN)
            break;
        /* The listener's backlog is full (it does not accept): try again
         * until the deadline; there is nothing to poll for. */
        if (!left_ms(deadline)) {
            errno = ETIMEDOUT;
            break;
        }
        poll(NULL, 0, 10);
    }
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t el = sizeof e;
        if (poll(&p, 1, left_ms(deadline)) <= 0)
            errno = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
            rc = 0;
        else
            errno = e;
    }
    int e = errno;
    if (cwd >= 0) {
        if (fchdir(cwd) != 0)
            e = errno, rc = -1;
        close(cwd);
    }
    if (dfd >= 0)
        close(dfd);
    errno = e;
    return rc;
}

/* The server at the other end of fd must be who t says: uid and pid by
 * SO_PEERCRED (the uid the server runs as, the pid that called listen()).
 * For a path target the pid is learnt here, and a server of another uid
 * than ours must have libpoolalloc mapped: naming some service's socket does
 * not make poolstat talk to it. 0 with *peer set, or -1 with why. */
static int check_peer(int fd, const struct target *t, uid_t uid, pid_t *peer, char *why,
                      size_t cap)
{
    struct ucred c;
    socklen_t cl = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &cl) != 0 || cl != sizeof c) {
        snprintf(why, cap, "cannot tell who serves it (SO_PEERCRED: %s)", strerror(errno));
        return -1;
    }
    if (c.uid != uid) {
        if (t->pid)
            snprintf(why, cap, "its server runs as uid %u, but process %d runs as uid %u",
                     (unsigned)c.uid, (int)t->pid, (unsigned)uid);
        else
            snprintf(why, cap, "its server runs as uid %u, but the socket belongs to uid %u",
                     (unsigned)c.uid, (unsigned)uid);
        return -1;
    }
    if (t->pid && c.pid != t->pid) {
        snprintf(why, cap,
                 "it is served by process %d, not by process %d (give every process its own "
                 "socket: POOLALLOC_SOCKET with %%p)",
                 (int)c.pid, (int)t->pid);
        return -1;
    }
    if (!t->pid && c.uid != geteuid() && poolstat_maps_lib(c.pid) != 1) {
        snprintf(why, cap, "its server, process %d (uid %u), does not use poolalloc", (int)c.pid,
                 (unsigned)c.uid);
        return -1;
    }
    *peer = c.pid;
    return 0;
}

/* Connects to t, checks who serves it, sends req and reads the whole reply
 * into *out (NUL-terminated, the caller frees it), all within
 * POOLSTAT_DEADLINE_MS. *peer: the server's pid. 0 (a reply cut by the
 * deadline sets *timed_out), or -1 with a message in err. */
static int exchange(const struct target *t, const char *req, char **out, size_t *outlen,
                    int *timed_out, pid_t *peer, char *err)
{
    long long deadline = poolstat_now_ms() + POOLSTAT_DEADLINE_MS;
    char name[320], shown[256], why[POOLSTAT_ERR_MAX];
    who(t, name, sizeof name);
    snprintf(shown, sizeof shown, "%s", t->path);
    poolstat_printable(shown);
    *timed_out = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: socket: %s", strerror(errno));
        return -1;
    }
    uid_t uid = t->pid ? t->uid : (uid_t)-1;
    if (connect_target(fd, t, &uid, deadline, why, sizeof why) != 0) {
        int e = errno;
        close(fd);
        if (why[0])
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: refusing %.200s: %.250s", shown, why);
        else if (e == EACCES || e == EPERM)
            snprintf(err, POOLSTAT_ERR_MAX,
                     "poolstat: permission denied on %s: only the user the process runs as (and "
                     "root) may ask it",
                     shown);
        else if (e == ECONNREFUSED)
            snprintf(err, POOLSTAT_ERR_MAX,
                     "poolstat: nobody answers on %.200s: %.200s has exited or exec'd a program without "
                     "poolalloc (a stale socket)",
                     shown, name);
        else if (e == ETIMEDOUT)
            snprintf(err, POOLSTAT_ERR_MAX,
                     "poolstat: %s did not accept the connection within %d s (is it stopped?)",
                     name, POOLSTAT_DEADLINE_MS / 1000);
        else if (e == ENOENT)
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: no socket at %s", shown);
        else if (e == ENOTSOCK)
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: %s is not a socket", shown);
        else
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: cannot connect to %s: %s", shown,
                     strerror(e));
        return -1;
    }
    /* Before a byte goes out: a socket the target chose may be anyone's. */
    if (check_peer(fd, t, uid, peer, why, sizeof why) != 0) {
        close(fd);
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: refusing %.200s: %.250s", shown, why);
        return -1;
    }
    char line[PROTO_REQ_MAX + 2];
    size_t n = (size_t)snprintf(line, sizeof line, "%s\n", req), sent = 0;
    while (sent < n) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        ssize_t k = send(fd, line + sent, n - sent, MSG_NOSIGNAL);
        if (k > 0) {
            sent += (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EINTR || errno == EAGAIN) && poll(&p, 1, left_ms(deadline)) > 0)
            continue;
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: cannot send to %s: %s", shown,
                 k < 0 && errno != EAGAIN ? strerror(errno) : "it does not read");
        close(fd);
        return -1;
    }
    /* Read everything (a reply is tens of KiB; a heap profile a few MiB),
     * each wait bounded by what is left of the deadline. */
    size_t cap = 1 << 16, len = 0;
    char *buf = poolstat_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= (64u << 20))
                break;
            cap *= 2;
            buf = poolstat_xrealloc(buf, cap);
        }
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k > 0) {
            len += (size_t)k;
            continue;
        }
        if (k == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = left_ms(deadline);
        if (!ms || (poll(&p, 1, ms) == 0 && !left_ms(deadline))) {
            *timed_out = 1;
            break;
        }
    }
    close(fd);
    /* A line cut by the deadline is not a line: it must not be read as one
     * (a "poola" first line is not a foreign server, only a slow one). */
    if (*timed_out)
        while (len && buf[len - 1] != '\n')
            len--;
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
        if (timed_out)
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: %s did not answer within %d s", name,
                     POOLSTAT_DEADLINE_MS / 1000);
        else
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: %s closed the connection without a reply",
                     name);
        return -1;
    case PROTO_FOREIGN:
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: %s is not a poolalloc stats socket (it said \"%.60s\")", t->path,
                 r->bad);
        poolstat_printable(err);
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
                 timed_out ? " (not finished within the deadline)" : "");
        return -1;
    }
    return 0;
}

int poolstat_fetch(const struct target *t, const char *req, struct proto_reply *r, char *err)
{
    char *buf;
    size_t len;
    int timed_out;
    pid_t peer;
    proto_reply_init(r);
    if (exchange(t, req, &buf, &len, &timed_out, &peer, err) != 0)
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
    /* The figures are believed for the process that serves them only. */
    if (r->snap.pid && r->snap.pid != (uint64_t)peer) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: refusing the reply on %s: it claims to be process %llu, but process "
                 "%d serves it",
                 t->path, (unsigned long long)r->snap.pid, (int)peer);
        poolstat_printable(err);
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
    pid_t peer;
    if (exchange(t, req, &buf, &n, &timed_out, &peer, err) != 0)
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
