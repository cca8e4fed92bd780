/* SPDX-License-Identifier: MIT */
/* sockpath.c - where the stats socket lives, and binding it (see sockpath.h).
 * Nothing here calls malloc; it never writes to stderr (the caller says why). */
#define _GNU_SOURCE
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/options.h"
#include "../core/util.h"

#define PATH_CAP SOCK_PATH_CAP

static char sock_template[OPT_STR_MAX];   /* POOLALLOC_SOCKET, copied; "" = default */
static char sock_xdg[OPT_STR_MAX];        /* XDG_RUNTIME_DIR at start, copied */

/* Keeps our descriptors off 0-2: a program started with those closed must
 * find them free for its own stdin, stdout and stderr. */
int sock_high_fd(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static const char *errno_text(int e)
{
    switch (e) {
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case ENOENT: return "no such file or folder";
    case ENOTDIR: return "a part of the path is not a folder";
    case EROFS: return "read-only file system";
    case ENOSPC: return "no space left";
    case EMFILE: case ENFILE: return "too many open files";
    case EADDRINUSE: return "address in use";
    case ENAMETOOLONG: return "name too long";
    default: return "system error";
    }
}

/* Appends s to a path buffer; -1 if it does not fit a socket address. */
static int path_add(char *p, size_t *n, const char *s)
{
    for (; *s; s++) {
        if (*n + 1 >= PATH_CAP)
            return -1;
        p[(*n)++] = *s;
    }
    p[*n] = '\0';
    return 0;
}

static int path_add_u64(char *p, size_t *n, uint64_t v)
{
    struct logbuf b = {0};
    log_u64(&b, v);
    return path_add(p, n, b.buf);   /* zero-filled: b.buf ends in '\0' */
}

/* The folder must be a real folder (not a symlink), owned by our effective
 * uid, writable by nobody else; it is created 0700 if missing (its parent
 * must exist). 0; -1 if it cannot be made; -2 if what is there is refused
 * (someone else's, or not a plain folder of ours). The reason goes in why. */
static int folder_ok(const char *dir, struct logbuf *why)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT || (mkdir(dir, 0700) != 0 && errno != EEXIST) || lstat(dir, &st) != 0) {
            log_str(why, "cannot create the folder ");
            log_str(why, dir);
            log_str(why, ": ");
            log_str(why, errno_text(errno));
            return -1;
        }
    }
    log_str(why, "the folder ");
    log_str(why, dir);
    if (S_ISLNK(st.st_mode)) {
        log_str(why, " is a symbolic link");
        return -2;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_str(why, " is not a folder");
        return -2;
    }
    if (st.st_uid != geteuid()) {
        log_str(why, " belongs to uid ");
        log_u64(why, st.st_uid);
        log_str(why, ", not to this process's uid ");
        log_u64(why, geteuid());
        return -2;
    }
    if (st.st_mode & 022) {
        log_str(why, " can be written by other users (mode 0");
        log_u64(why, (st.st_mode >> 6) & 7);
        log_u64(why, (st.st_mode >> 3) & 7);
        log_u64(why, st.st_mode & 7);
        log_str(why, ")");
        return -2;
    }
    why->len = 0;
    return 0;
}

/* Expands the template (or the default) for pid into out; checks and
 * creates the folder. 0, or -1 / -2 (the folder is refused: folder_ok)
 * with the reason in why. */
static int make_path(char *out, pid_t pid, int suffix_pid, struct logbuf *why)
{
    size_t n = 0;
    char dir[PATH_CAP];
    out[0] = '\0';
    if (!sock_template[0]) {
        if (sock_xdg[0] == '/') {
            if (path_add(out, &n, sock_xdg) || path_add(out, &n, "/poolalloc"))
                goto long_path;
        } else if (path_add(out, &n, "/tmp/poolalloc-") || path_add_u64(out, &n, geteuid())) {
            goto long_path;
        }
        pa_copy_str(dir, sizeof dir, out);
        if (path_add(out, &n, "/") || path_add_u64(out, &n, (uint64_t)pid) ||
            path_add(out, &n, ".sock"))
            goto long_path;
    } else {
        const char *t = sock_template;
        if (t[0] != '/') {
            log_str(why, "POOLALLOC_SOCKET must be an absolute path");
            return -1;
        }
        for (; *t; t++) {
            char one[2] = {*t, '\0'};
            if (*t != '%') {
                if (path_add(out, &n, one))
                    goto long_path;
            } else if (t[1] == 'p') {
                if (path_add_u64(out, &n, (uint64_t)pid))
                    goto long_path;
                t++;
            } else if (t[1] == '%') {
                if (path_add(out, &n, "%"))
                    goto long_path;
                t++;
            } else {
                log_str(why, "POOLALLOC_SOCKET may hold %p (the pid) and %%, nothing else after %");
                return -1;
            }
        }
        if (suffix_pid && (path_add(out, &n, ".") || path_add_u64(out, &n, (uint64_t)pid)))
            goto long_path;
        pa_copy_str(dir, sizeof dir, out);
        char *slash = dir;
        for (char *c = dir; *c; c++)
            if (*c == '/')
                slash = c;
        if (slash == dir || !slash[1]) {
            log_str(why, "POOLALLOC_SOCKET must name a file in a folder");
            return -1;
        }
        *slash = '\0';
    }
    return folder_ok(dir, why);
long_path:
    log_str(why, "the socket path is longer than a unix socket address allows (");
    log_u64(why, PATH_CAP - 1);
    log_str(why, " bytes)");
    return -1;
}

/* Is the path free to bind? 0: free (a stale socket of ours removed);
 * 1: a live server answers there; -1: refused, reason in why. */
static int path_free(const char *path, struct logbuf *why)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    log_str(why, path);
    if (S_ISLNK(st.st_mode)) {
        log_str(why, " is a symbolic link");
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_str(why, " exists and is not a socket");
        return -1;
    }
    if (st.st_uid != geteuid()) {
        log_str(why, " belongs to uid ");
        log_u64(why, st.st_uid);
        return -1;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    pa_copy_str(a.sun_path, sizeof a.sun_path, path);
    int fd = sock_high_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd < 0) {
        log_str(why, ": ");
        log_str(why, errno_text(errno));
        return -1;
    }
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    why->len = 0;
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return 1;
    if (e == ECONNREFUSED)   /* a socket nobody listens on: a dead process's */
        unlink(path);
    return 0;
}

/* A listening socket bound at path, mode 0600; the file's identity goes
 * into *pl. Returns the fd, or -1 with errno. */
static int bind_listen(const char *path, struct sock_place *pl)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    pa_copy_str(a.sun_path, sizeof a.sun_path, path);
    /* Non-blocking: accept_some() takes what is queued and never waits. */
    int fd = sock_high_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd < 0)
        return -1;
    /* The socket file takes the socket inode's mode, less the umask: set
     * before bind, there is no moment when the file is open to others. */
    fchmod(fd, 0600);
    struct stat st;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || lstat(path, &st) != 0 ||
        listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (st.st_mode & 077)
        chmod(path, 0600);
    pl->dev = st.st_dev;
    pl->ino = st.st_ino;
    return fd;
}

/* The default name, "@poolalloc-<euid>-<pid>" as shown (the `socket_path`
 * config line); bound with a NUL for the '@'. */
static void abstract_name(char *out, pid_t pid)
{
    size_t n = 0;
    out[0] = '\0';
    path_add(out, &n, "@poolalloc-");
    path_add_u64(out, &n, geteuid());
    path_add(out, &n, "-");
    path_add_u64(out, &n, (uint64_t)pid);
}

/* A listening socket bound to the Linux abstract name `name` ("@..."): no
 * file, nothing to remove, gone with its last descriptor. Nothing but
 * SO_PEERCRED guards it (peer_allowed), as it guards every connection.
 * Returns the fd, or -1 with errno (EADDRINUSE: someone holds the name). */
static int bind_abstract(const char *name)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = 0;
    while (name[n + 1] && n + 1 < sizeof a.sun_path - 1) {
        a.sun_path[n + 1] = name[n + 1];
        n++;
    }
    a.sun_path[0] = '\0';
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    int fd = sock_high_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, alen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int sock_still_ours(const struct sock_place *pl)
{
    if (pl->abstract)
        return 1;
    struct stat st;
    return lstat(pl->path, &st) == 0 && st.st_dev == pl->dev && st.st_ino == pl->ino;
}

void sock_configure(const char *tmpl, const char *xdg)
{
    pa_copy_str(sock_template, sizeof sock_template, tmpl);
    pa_copy_str(sock_xdg, sizeof sock_xdg, xdg);
}

/* The default place: the abstract name, or where another process holds it,
 * the default folder. Returns the fd, or -1 with the reason in why. */
static int listen_default(pid_t pid, int verbose, struct sock_place *pl, struct logbuf *why)
{
    char path[PATH_CAP];
    abstract_name(path, pid);
    int fd = bind_abstract(path);
    if (fd >= 0) {
        pa_copy_str(pl->path, sizeof pl->path, path);
        pl->abstract = 1;
        return fd;
    }
    /* The name is held: another user's process took it first (the abstract
     * namespace has no permissions), or a process of another pid namespace
     * that shares this network namespace has our pid. A file in our own
     * folder keeps the socket working. */
    log_str(why, path);
    log_str(why, ": ");
    log_str(why, errno_text(errno));
    log_str(why, "; ");
    size_t keep = why->len;
    struct logbuf fwhy = {0};
    int rc = make_path(path, pid, 0, &fwhy);
    if (rc == 0 && (rc = path_free(path, &fwhy)) == 1) {
        log_str(&fwhy, path);
        log_str(&fwhy, " is in use by another live process");
    }
    if (rc == 0 && (fd = bind_listen(path, pl)) < 0) {
        log_str(&fwhy, "cannot listen on ");
        log_str(&fwhy, path);
        log_str(&fwhy, ": ");
        log_str(&fwhy, errno_text(errno));
    }
    if (rc != 0 || fd < 0) {
        log_mem(why, fwhy.buf, fwhy.len);
        return -1;
    }
    if (verbose) {
        struct logbuf b = {0};
        log_str(&b, "poolalloc: ");
        log_mem(&b, why->buf, keep);
        log_str(&b, "stats socket ");
        log_str(&b, path);
        log_str(&b, " instead\n");
        log_flush(&b, 2);
    }
    pa_copy_str(pl->path, sizeof pl->path, path);
    pl->abstract = 0;
    why->len = 0;
    return fd;
}

int sock_listen(pid_t pid, int verbose, struct sock_place *pl, struct logbuf *why)
{
    if (!sock_template[0])
        return listen_default(pid, verbose, pl, why);
    /* An explicit POOLALLOC_SOCKET is a place the user chose: a file there,
     * with the folder's rules, or a warning; never another place. */
    char path[PATH_CAP];
    int rc = make_path(path, pid, 0, why);
    if (rc == 0 && (rc = path_free(path, why)) == 1) {
        /* A fixed path (no %p) held by a live process, e.g. the parent that
         * started this program: this process takes PATH.<pid>. */
        why->len = 0;
        if ((rc = make_path(path, pid, 1, why)) == 0)
            rc = path_free(path, why);
    }
    if (rc == 1) {
        log_str(why, path);
        log_str(why, " is in use by another live process");
        return -1;
    }
    if (rc != 0)
        return -1;
    int fd = bind_listen(path, pl);
    if (fd < 0) {
        log_str(why, "cannot listen on ");
        log_str(why, path);
        log_str(why, ": ");
        log_str(why, errno_text(errno));
        return -1;
    }
    pa_copy_str(pl->path, sizeof pl->path, path);
    pl->abstract = 0;
    why->len = 0;
    return fd;
}

int sock_relisten(struct sock_place *pl)
{
    if (pl->abstract)
        return bind_abstract(pl->path);   /* fails while the old socket lives on somewhere */
    if (sock_still_ours(pl))
        unlink(pl->path);
    struct logbuf why = {0};
    if (path_free(pl->path, &why) != 0)
        return -1;   /* someone else's socket now: keep what we have */
    return bind_listen(pl->path, pl);
}

void sock_remove(const struct sock_place *pl)
{
    if (!pl->abstract && sock_still_ours(pl))
        unlink(pl->path);
}
