/* SPDX-License-Identifier: MIT */
/*
 * trust.c - what poolstat checks before it believes a socket (see poolstat.h,
 * struct target). Root and operators run poolstat against other users'
 * processes: a folder name, a socket, /proc/net/unix and the files of /proc/PID are
 * written by strangers, so paths are walked component by component without
 * following links, and text is parsed strictly and read bounded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poolstat.h"

#define WALK_MAX 64                  /* components of a folder path */
#define NET_UNIX_MAX (16u << 20)     /* /proc/net/unix read at most: bounded, not complete */
#define MAPS_MAX (4u << 20)          /* /proc/PID/maps read at most per process */
#define TASKS_MAX 4096               /* threads of one process looked at */

/* The real and effective uid and the effective gid of a process, from
 * /proc/PID/status ("Uid:\tREAL\tEFFECTIVE\t..."). 0, or -1 if unreadable. */
static int status_ids(pid_t pid, uid_t *ruid, uid_t *euid, gid_t *egid)
{
    char p[64], line[256];
    int got = 0;
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return -1;
    while (got != 3 && fgets(line, sizeof line, f)) {
        int which = !strncmp(line, "Uid:", 4) ? 1 : !strncmp(line, "Gid:", 4) ? 2 : 0;
        if (!which)
            continue;
        char *q = line + 4, *end;
        errno = 0;
        unsigned long r = strtoul(q, &end, 10);
        if (end == q)
            continue;
        q = end;
        unsigned long e = strtoul(q, &end, 10);
        if (end == q || errno || e > UINT_MAX || r > UINT_MAX)
            continue;
        if (which == 1) {
            *ruid = (uid_t)r;
            *euid = (uid_t)e;
        } else {
            *egid = (gid_t)e;
        }
        got |= which;
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

int poolstat_owner(pid_t pid, uid_t *uid, gid_t *gid)
{
    uid_t real;
    return status_ids(pid, &real, uid, gid);
}

int poolstat_uids(pid_t pid, uid_t *real, uid_t *eff)
{
    gid_t gid;
    return status_ids(pid, real, eff, &gid);
}

long poolstat_euid(pid_t pid)
{
    uid_t uid;
    gid_t gid;
    return poolstat_owner(pid, &uid, &gid) == 0 ? (long)uid : -1;
}

/* Is a folder safe to pass through (mid) or to hold the socket (last) for a
 * socket of uid? One reason in why if not. */
static int dir_safe(const struct stat *st, const char *shown, uid_t uid, int last, char *why,
                    size_t cap)
{
    if (last && st->st_uid != uid) {
        snprintf(why, cap, "the folder %s belongs to uid %u, not to uid %u", shown,
                 (unsigned)st->st_uid, (unsigned)uid);
        return 0;
    }
    if (!last && st->st_uid != 0 && st->st_uid != uid) {
        snprintf(why, cap, "the folder %s belongs to uid %u, neither root nor uid %u", shown,
                 (unsigned)st->st_uid, (unsigned)uid);
        return 0;
    }
    /* /tmp: others may write, but the sticky bit keeps them from renaming or
     * removing what is not theirs, and root owns it. */
    int sticky_root = !last && st->st_uid == 0 && (st->st_mode & S_ISVTX);
    if ((st->st_mode & 022) && !sticky_root) {
        snprintf(why, cap, "the folder %s can be written by other users (mode 0%o)", shown,
                 (unsigned)(st->st_mode & 0777));
        return 0;
    }
    return 1;
}

int poolstat_open_dir(const char *dir, const char *name, uid_t *uid, char *why, size_t cap,
                      int *unsafe_fd)
{
    char buf[4096], shown[4096];
    struct stat st[WALK_MAX];
    size_t ends[WALK_MAX];   /* where component i ends in buf: the folder shown in a reason */
    int n = 0;
    *unsafe_fd = -1;
    why[0] = '\0';
    if (dir[0] != '/' || strlen(dir) >= sizeof buf) {
        snprintf(why, cap, "not an absolute folder path");
        errno = EPERM;
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", dir);
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st[0]) != 0)
        return -1;
    ends[n++] = 1;
    for (char *c = buf + 1; *c;) {
        char *e = c;
        while (*e && *e != '/')
            e++;
        int more = *e == '/';
        *e = '\0';
        if (*c && strcmp(c, ".") != 0) {
            if (n == WALK_MAX) {
                close(fd);
                snprintf(why, cap, "too many folders in the path");
                errno = EPERM;
                return -1;
            }
            int nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            struct stat ls;
            if (nfd < 0) {
                int err = errno;
                size_t at = (size_t)(e - buf);
                snprintf(shown, sizeof shown, "%.*s", (int)at, dir);
                poolstat_printable(shown);
                if (err != ENOENT && err != EACCES && fstatat(fd, c, &ls, AT_SYMLINK_NOFOLLOW) == 0) {
                    snprintf(why, cap, "%s is %s", shown,
                             S_ISLNK(ls.st_mode) ? "a symbolic link" : "not a folder");
                    err = EPERM;
                }
                close(fd);
                errno = err;
                return -1;
            }
            close(fd);
            fd = nfd;
            if (fstat(fd, &st[n]) != 0 || !S_ISDIR(st[n].st_mode)) {
                close(fd);
                snprintf(why, cap, "a folder on the path is not a folder");
                errno = EPERM;
                return -1;
            }
            ends[n++] = (size_t)(e - buf);
        }
        c = more ? e + 1 : e;
    }
    if (*uid == (uid_t)-1) {
        struct stat s;
        *uid = fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) == 0 ? s.st_uid : st[n - 1].st_uid;
    }
    for (int i = 0; i < n; i++) {
        snprintf(shown, sizeof shown, "%.*s", (int)ends[i], dir);
        poolstat_printable(shown);
        if (!dir_safe(&st[i], shown, *uid, i == n - 1, why, cap)) {
            if (i == n - 1)
                *unsafe_fd = fd;
            else
                close(fd);
            errno = EPERM;
            return -1;
        }
    }
    return fd;
}

/* "poolalloc-<uid>-<pid>" exactly, digits without leading zeros: 1 and the
 * two numbers, else 0. */
static int abstract_name(const char *s, size_t n, unsigned long *uid, long *pid)
{
    static const char pre[] = "@poolalloc-";
    size_t k = sizeof pre - 1;
    unsigned long v[2];
    if (n <= k || memcmp(s, pre, k) != 0)
        return 0;
    for (int f = 0; f < 2; f++) {
        size_t start = k;
        v[f] = 0;
        for (; k < n && s[k] >= '0' && s[k] <= '9' && k - start < 10; k++)
            v[f] = v[f] * 10 + (unsigned long)(s[k] - '0');
        if (k == start || (s[start] == '0' && k - start > 1))
            return 0;
        if (f == 0 && (k == n || s[k++] != '-'))
            return 0;
    }
    if (k != n || v[1] == 0 || v[1] > 0x3fffffff || v[0] > 0xfffffffful)
        return 0;
    *uid = v[0];
    *pid = (long)v[1];
    return 1;
}

int poolstat_abstract_each(int (*fn)(unsigned long uid, long pid, void *arg), void *arg)
{
    int fd = open("/proc/net/unix", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t cap = 1 << 16, len = 0;
    char *buf = poolstat_xmalloc(cap);
    for (;;) {
        if (len + 1 == cap) {
            if (cap >= NET_UNIX_MAX)
                break;
            cap *= 2;
            buf = poolstat_xrealloc(buf, cap);
        }
        ssize_t k = read(fd, buf + len, cap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    int rc = 0;
    /* "Num RefCount Protocol Flags Type St Inode Path": seven fields, then the
     * name of a bound socket. Flags 00010000 is a listening socket, Type 0001
     * a stream one. A name may hold any byte, even "\n": a forged line can
     * only name a socket, and the exchange checks who serves it. */
    for (char *line = buf, *next; rc == 0 && line < buf + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        next = nl ? nl + 1 : buf + len;
        size_t n = (size_t)((nl ? nl : buf + len) - line);
        char *f[8];
        size_t nf = 0, i = 0;
        while (i < n && nf < 8) {
            f[nf++] = line + i;
            if (nf == 8)
                break;
            while (i < n && line[i] != ' ')
                i++;
            while (i < n && line[i] == ' ')
                i++;
        }
        unsigned long uid;
        long pid;
        if (nf == 8 && !strncmp(f[3], "00010000 ", 9) && !strncmp(f[4], "0001 ", 5) &&
            abstract_name(f[7], (size_t)(line + n - f[7]), &uid, &pid))
            rc = fn(uid, pid, arg);
    }
    free(buf);
    return rc;
}

/* Does one line of /proc/PID/maps ("ADDR PERMS OFFSET DEV INODE   PATH")
 * map a file whose last path component starts with "libpoolalloc.so"? The
 * kernel escapes a newline in a path, so a path is one line; the rest of it
 * (" (deleted)") may be anything. */
static int maps_line_is_lib(const char *s, size_t n)
{
    static const char lib[] = "libpoolalloc.so";
    size_t i = 0;
    for (int f = 0; f < 5; f++) {
        while (i < n && s[i] != ' ')
            i++;
        while (i < n && s[i] == ' ')
            i++;
    }
    if (i >= n || s[i] != '/')
        return 0;
    const char *last = s + i;
    for (const char *c = s + i; c < s + n; c++)
        if (*c == '/')
            last = c + 1;
    return (size_t)(s + n - last) >= sizeof lib - 1 && !memcmp(last, lib, sizeof lib - 1);
}

int poolstat_maps_lib(pid_t pid)
{
    char p[64], buf[16384];
    snprintf(p, sizeof p, "/proc/%d/maps", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t len = 0, total = 0;
    int found = 0, skip = 0, rc = 0;
    while (!found && total < MAPS_MAX) {
        ssize_t k = read(fd, buf + len, sizeof buf - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            /* The last line may lack its newline; a read error (the
             * process exited, or it is not ours to read) is "unknown". */
            found = k == 0 && !skip && len && maps_line_is_lib(buf, len);
            rc = k < 0 ? -1 : 0;
            break;
        }
        total += (size_t)k;
        len += (size_t)k;
        char *s = buf, *nl;
        while (!found && (nl = memchr(s, '\n', (size_t)(buf + len - s))) != NULL) {
            found = !skip && maps_line_is_lib(s, (size_t)(nl - s));
            skip = 0;
            s = nl + 1;
        }
        len = (size_t)(buf + len - s);
        memmove(buf, s, len);
        if (len == sizeof buf) {
            /* A line longer than any path the kernel prints: not ours. */
            skip = 1;
            len = 0;
        }
    }
    close(fd);
    return found ? 1 : rc;
}

int poolstat_started(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/task", (int)pid);
    int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    struct dirent *e;
    int rc = 0, seen = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || strlen(e->d_name) > 10)
            continue;
        if (++seen > TASKS_MAX) {
            rc = -1;
            break;
        }
        char name[32] = "";
        snprintf(p, sizeof p, "%.32s/comm", e->d_name);   /* a thread id */
        int fd = openat(dirfd(d), p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;   /* the thread ended */
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        rc = n == 16 && !memcmp(name, "poolalloc-flush\n", 16);
    }
    closedir(d);
    return rc;
}
