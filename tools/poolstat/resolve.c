/* SPDX-License-Identifier: MIT */
/* resolve.c - from "4242" or "/path/to.sock" to the socket to ask (see
 * poolstat.h, struct target): where the library would have put a process's
 * socket (its environment, its abstract name, the default folders), each
 * place probed without following a link, and a message a person can act on
 * when there is none. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    poolstat_printable(out);   /* a process names itself: prctl(PR_SET_NAME) */
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

/* Splits an absolute socket path into its folder and its name (in place
 * copies); 0, or -1 if it has no folder or no name. */
int poolstat_split_path(const char *path, char *dir, size_t dcap, char *name, size_t ncap)
{
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1] || strlen(slash + 1) >= ncap ||
        (size_t)(slash - path) + 1 >= dcap)
        return -1;
    size_t dl = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    snprintf(name, ncap, "%s", slash + 1);
    return 0;
}

enum probe { PROBE_FOUND, PROBE_NONE, PROBE_DENIED, PROBE_REFUSED };

/* Is there a socket of uid at path, safe to talk to? REFUSED (why says so)
 * only if a socket is there but its folder or owner is wrong: an unsafe
 * folder with nothing in it is just not the place. */
static enum probe probe(const char *path, uid_t uid, char *why, size_t cap)
{
    char dir[256], name[256], shown[256];
    if (poolstat_split_path(path, dir, sizeof dir, name, sizeof name) != 0)
        return PROBE_NONE;
    snprintf(shown, sizeof shown, "%.250s", path);   /* shown: a path cut to fit */
    poolstat_printable(shown);
    int unsafe = -1;
    int fd = poolstat_open_dir(dir, name, &uid, why, cap, &unsafe);
    struct stat st;
    if (fd < 0) {
        int e = errno;
        int there = unsafe >= 0 && fstatat(unsafe, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISSOCK(st.st_mode);
        if (unsafe >= 0)
            close(unsafe);
        if (e == EACCES)
            return PROBE_DENIED;
        return there ? PROBE_REFUSED : PROBE_NONE;
    }
    int rc = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    close(fd);
    if (rc != 0)
        return e == EACCES ? PROBE_DENIED : PROBE_NONE;
    if (!S_ISSOCK(st.st_mode))
        return PROBE_NONE;
    if (st.st_uid != uid) {
        snprintf(why, cap, "the socket %s belongs to uid %u, not to uid %u", shown,
                 (unsigned)st.st_uid, (unsigned)uid);
        return PROBE_REFUSED;
    }
    return PROBE_FOUND;
}

/* poolstat_abstract_each callback: is "@poolalloc-<uid>-<pid>" there? */
struct want {
    unsigned long uid;
    long pid;
};

static int is_wanted(unsigned long uid, long pid, void *arg)
{
    const struct want *w = arg;
    return uid == w->uid && pid == w->pid;
}

/* 1 if "@poolalloc-<uid>-<pid>" is served by that very process (SO_PEERCRED:
 * uid and pid), as a connection that sends nothing finds out; 0 if not, or
 * if it cannot be told now. */
static int abstract_serves(const struct want *w)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "poolalloc-%lu-%ld", w->uid, w->pid);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    struct ucred c;
    socklen_t cl = sizeof c;
    int ok = connect(fd, (struct sockaddr *)&a,
                     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0 &&
             getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &cl) == 0 && cl == sizeof c &&
             c.uid == (uid_t)w->uid && c.pid == (pid_t)w->pid;
    close(fd);
    return ok;
}

/* 1 if process pid is in another network namespace than poolstat (the
 * abstract names of each are apart); 0 if the same, or if it cannot be told. */
static int other_netns(pid_t pid)
{
    char p[64];
    struct stat mine, theirs;
    snprintf(p, sizeof p, "/proc/%d/ns/net", (int)pid);
    return stat("/proc/self/ns/net", &mine) == 0 && stat(p, &theirs) == 0 &&
           (mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino);
}

int poolstat_resolve(const char *arg, struct target *t, char *err)
{
    memset(t, 0, sizeof *t);
    if (strchr(arg, '/')) {
        /* Relative paths are made absolute: the folder walk starts at /. */
        char cwd[200];
        if (arg[0] != '/' && !getcwd(cwd, sizeof cwd)) {
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: give the socket path from / (%s)", arg);
            return -1;
        }
        int n = arg[0] == '/' ? snprintf(t->path, sizeof t->path, "%s", arg)
                              : snprintf(t->path, sizeof t->path, "%s/%s", cwd, arg);
        if (n < 0 || (size_t)n >= sizeof t->path) {
            snprintf(err, POOLSTAT_ERR_MAX, "poolstat: socket path too long: %.300s", arg);
            return -1;
        }
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
    return poolstat_resolve_pid((pid_t)v, 1, t, err);
}

int poolstat_resolve_pid(pid_t pid, int abstract, struct target *t, char *err)
{
    long v = (long)pid;
    memset(t, 0, sizeof *t);
    t->pid = pid;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%ld", v);
    if (access(proc, F_OK) != 0) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: no process %ld", v);
        return -1;
    }
    poolstat_comm(t->pid, t->comm, sizeof t->comm);
    long euid = poolstat_euid(t->pid);
    if (euid < 0) {
        snprintf(err, POOLSTAT_ERR_MAX, "poolstat: cannot read /proc/%ld/status (has it exited?)", v);
        return -1;
    }
    t->uid = (uid_t)euid;

    /* Where the library puts it: the process's own POOLALLOC_SOCKET (a file
     * it chose); else the abstract name @poolalloc-<uid>-<pid>, the default;
     * else, where another process held that name, a file in the default
     * folder (the process's XDG_RUNTIME_DIR, /tmp/poolalloc-<uid>; ours too).
     * A file must be a socket of the process's uid in a folder of its uid
     * (probe). */
    char cand[6][256], val[4096];
    int nc = 0, nexplicit;
    int env = target_env(t->pid, "POOLALLOC_SOCKET", val, sizeof val);
    if (env == 1 && !strcmp(val, "off")) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: process %ld (%s) runs with POOLALLOC_SOCKET=off: it has no stats socket",
                 v, t->comm);
        return -1;
    }
    if (env == 1 && val[0]) {   /* the first two candidates: PATH, and PATH.<pid> */
        expand(val, t->pid, cand[0], sizeof cand[0]);
        snprintf(cand[1], sizeof cand[1], "%.200s.%ld", cand[0], v);
        nc = 2;
    }
    nexplicit = nc;
    if (target_env(t->pid, "XDG_RUNTIME_DIR", val, sizeof val) == 1 && val[0] == '/')
        snprintf(cand[nc++], sizeof cand[0], "%.200s/poolalloc/%ld.sock", val, v);
    snprintf(cand[nc++], sizeof cand[0], "/tmp/poolalloc-%ld/%ld.sock", euid, v);
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && x[0] == '/')
        snprintf(cand[nc++], sizeof cand[0], "%.200s/poolalloc/%ld.sock", x, v);
    snprintf(cand[nc++], sizeof cand[0], "/tmp/poolalloc-%ld/%ld.sock", (long)geteuid(), v);

    struct want w = {(unsigned long)euid, v};
    int named = -1;   /* the abstract name listens: 1; unknown yet: -1 */
    int denied = -1, refused = -1;
    char why[POOLSTAT_ERR_MAX], refusal[POOLSTAT_ERR_MAX];
    for (int i = 0; i < nc; i++) {
        if (i == nexplicit)
            named = abstract && poolstat_abstract_each(is_wanted, &w);
        switch (probe(cand[i], t->uid, why, sizeof why)) {
        case PROBE_FOUND:
            /* A file of the default folder beside a live abstract name: an
             * old version's, or the fallback of a process whose name another
             * one holds. The one this very process serves wins. */
            if (named == 1 && abstract_serves(&w))
                goto take_abstract;
            snprintf(t->path, sizeof t->path, "%.250s", cand[i]);
            return 0;
        case PROBE_DENIED:
            if (denied < 0)
                denied = i;
            break;
        case PROBE_REFUSED:
            if (refused < 0) {
                refused = i;
                snprintf(refusal, sizeof refusal, "%s", why);
            }
            break;
        default:
            break;
        }
    }
    if (named == 1) {
take_abstract:
        snprintf(t->path, sizeof t->path, "@poolalloc-%ld-%ld", euid, v);
        t->abstract = 1;
        return 0;
    }
    if (refused >= 0) {
        poolstat_printable(cand[refused]);
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: refusing %.200s for process %ld (uid %ld): %.200s", cand[refused], v,
                 euid, refusal);
        return -1;
    }
    if (denied >= 0) {
        poolstat_printable(cand[denied]);
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: permission denied looking for %s: process %ld runs as uid %ld; run "
                 "poolstat as that user or as root",
                 cand[denied], v, euid);
        return -1;
    }
    int lib = poolstat_maps_lib(t->pid);
    int lib_errno = errno;
    if (lib == 0) {
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: pid %ld does not run poolalloc (libpoolalloc.so is not mapped)", v);
        return -1;
    }
    if (lib < 0) {
        /* Not ours to read (another user's, or a process that cannot be
         * traced): whether it runs poolalloc cannot be told. */
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: pid %ld (%s) has no poolalloc socket, and whether it runs poolalloc "
                 "cannot be told (/proc/%ld/maps: %s)",
                 v, t->comm, v, strerror(lib_errno));
        return -1;
    }
    if (lib == 1 && poolstat_started(t->pid) == 0) {
        /* No socket anywhere it could be, and no thread of ours. */
        t->unstarted = 1;
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: pid %ld (%s) runs poolalloc but has not started yet: "
                 POOLSTAT_UNSTARTED_WHY, v, t->comm);
        return -1;
    }
    if (other_netns(t->pid)) {
        /* Its abstract name lives in its network namespace: not in our
         * /proc/net/unix, and not reachable from here. */
        snprintf(err, POOLSTAT_ERR_MAX,
                 "poolstat: pid %ld (%s) runs in another network namespace (a container?), where "
                 "its socket is: run poolstat inside it (nsenter -t %ld -n -m -p poolstat)",
                 v, t->comm, v);
        return -1;
    }
    snprintf(err, POOLSTAT_ERR_MAX,
             "poolstat: no process %ld with a poolalloc socket (is POOLALLOC_SOCKET=off?)", v);
    return -1;
}
