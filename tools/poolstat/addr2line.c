/* SPDX-License-Identifier: MIT */
/* addr2line.c - addr2line run on one object of a target, under a deadline,
 * as the target's uid when root asks, its answers read back bounded (see
 * addr2line.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr2line.h"
#include "poolstat.h"

#define A2L_OUT_MAX     (4u << 20)

/* The child's exit status when addr2line is not found (execvp: ENOENT);
 * any other failure before or at exec is 126. */
#define A2L_NOT_FOUND 127

/* In the forked child: stdin and stderr /dev/null, stdout the pipe, the
 * object as fd 3 and no other fd; the target's uid if u->drop (each step
 * checked, and checked to be irreversible); then exec. Never returns. */
static void a2l_child(int out, int obj, const struct a2l_user *u, char **argv)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* Above 3 first, so that no dup2 below overwrites one still needed. */
    out = fcntl(out, F_DUPFD_CLOEXEC, 10);
    obj = fcntl(obj, F_DUPFD_CLOEXEC, 10);
    null = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 10);
    if (out < 0 || obj < 0 || null < 0 || dup2(null, 0) != 0 || dup2(out, 1) != 1 ||
        dup2(null, 2) != 2 || dup2(obj, 3) != 3)
        _exit(126);
    close_range(4, ~0u, 0);
    if (u->drop) {
        if (setgroups(0, NULL) != 0 || setresgid(u->gid, u->gid, u->gid) != 0 ||
            setresuid(u->uid, u->uid, u->uid) != 0 || setresuid(0, 0, 0) == 0)
            _exit(126);
    }
    unsetenv("DEBUGINFOD_URLS");   /* the object is a stranger's: no network on its behalf */
    execvp("addr2line", argv);
    _exit(errno == ENOENT ? A2L_NOT_FOUND : 126);
}

/* Runs `addr2line -f -C -e /proc/self/fd/3 ADDR...` on the object open as
 * fd, for syms[idx[0..n)], and stores the function and file:line of each
 * ("??" answers are left NULL). The child is killed at deadline (a
 * CLOCK_MONOTONIC time in ms); -1 then (what it said before is kept), -2 if
 * there is no addr2line to run (not on PATH), else 0. */
int a2l_run(int fd, const struct a2l_user *u, struct sym *syms, const size_t *idx, size_t n,
            int64_t deadline)
{
    char **argv = poolstat_xmalloc((n + 6) * sizeof *argv);
    char (*hexs)[24] = poolstat_xmalloc(n * sizeof *hexs);
    size_t a = 0;
    argv[a++] = "addr2line";
    argv[a++] = "-f";
    argv[a++] = "-C";
    argv[a++] = "-e";
    argv[a++] = "/proc/self/fd/3";
    for (size_t i = 0; i < n; i++) {
        snprintf(hexs[i], sizeof hexs[i], "0x%" PRIx64, syms[idx[i]].offset);
        argv[a++] = hexs[i];
    }
    argv[a] = NULL;
    int pfd[2], rc = 0;
    size_t cap = 1 << 16, len = 0;
    char *buf = NULL;
    if (pipe2(pfd, O_CLOEXEC) != 0)
        goto out;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        a2l_child(pfd[1], fd, u, argv);
    close(pfd[1]);
    if (child < 0) {
        close(pfd[0]);
        goto out;
    }
    buf = poolstat_xmalloc(cap);
    for (;;) {
        int64_t left = deadline - poolstat_now_ms();
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        int r = left > 0 ? poll(&pf, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            rc = -1;
        if (r <= 0)
            break;
        if (len + 1 == cap) {
            if (cap >= A2L_OUT_MAX)
                break;
            cap *= 2;
            buf = poolstat_xrealloc(buf, cap);
        }
        ssize_t k = read(pfd[0], buf + len, cap - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(pfd[0]);
    /* Not reaped yet: the pid is still this child's. A child that could not
     * exec has exited (its end of the pipe closed then): its status stays. */
    kill(child, SIGKILL);
    int st = 0;
    if (waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == A2L_NOT_FOUND)
        rc = -2;
    buf[len] = '\0';
    char *save = NULL, *func = strtok_r(buf, "\n", &save), *file = strtok_r(NULL, "\n", &save);
    for (size_t i = 0; i < n && func && file; i++) {
        struct sym *y = &syms[idx[i]];
        if (strcmp(func, "??") != 0)
            y->func = strdup(func);
        if (strncmp(file, "??", 2) != 0)
            y->file = strdup(file);
        func = strtok_r(NULL, "\n", &save);
        file = strtok_r(NULL, "\n", &save);
    }
out:
    free(buf);
    free(hexs);
    free(argv);
    return rc;
}

/* Who addr2line may run as for process pid (see struct a2l_user). */
struct a2l_user a2l_user_for(pid_t pid)
{
    struct a2l_user u = {0};
    if (geteuid() != 0)
        return u;   /* the server admitted us: the target runs as our uid */
    if (poolstat_owner(pid, &u.uid, &u.gid) != 0) {
        fprintf(stderr, "poolstat: cannot read the owner of process %d: its frames are named by "
                        "address only\n", (int)pid);
        u.none = 1;
    }
    u.drop = !u.none && u.uid != 0;
    return u;
}
