/* SPDX-License-Identifier: MIT */
/* orphan.c - ending the process when the program has no thread left (see orphan.h). */
#define _GNU_SOURCE
#include "orphan.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

static pid_t orphan_own[ORPHAN_OWN_MAX] PA_FORKPAGE;   /* forgotten by a fork child */

void orphan_own_thread(void)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    for (int i = 0; i < ORPHAN_OWN_MAX; i++) {
        pid_t none = 0;
        if (__atomic_compare_exchange_n(&orphan_own[i], &none, tid, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return;
    }
}

void orphan_forget_after_fork(void)
{
    for (int i = 0; i < ORPHAN_OWN_MAX; i++)
        orphan_own[i] = 0;
}

static int is_own(pid_t tid)
{
    for (int i = 0; i < ORPHAN_OWN_MAX; i++)
        if (__atomic_load_n(&orphan_own[i], __ATOMIC_ACQUIRE) == tid)
            return 1;
    return 0;
}

/* The state letter of the thread-group leader, or 0 if /proc cannot say. */
static char leader_state(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* "pid (comm) S ...": comm may hold ')' itself, so the last one. */
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

/* 1 if some task of ours lists a thread that is neither the leader nor ours. */
static int others_live(pid_t leader)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    char buf[4096] __attribute__((aligned(8)));
    int found = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0)
            found = 1;   /* cannot tell: assume alive */
        if (n <= 0 || found)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            pid_t tid = 0;
            const char *s = d->d_name;
            if (*s < '0' || *s > '9')
                continue;
            for (; *s >= '0' && *s <= '9'; s++)
                tid = tid * 10 + (*s - '0');
            if (tid != leader && !is_own(tid)) {
                found = 1;
                break;
            }
        }
    }
    close(fd);
    return found;
}

int orphan_alone(void)
{
    /* A live leader is the common case: one small read. Only a leader that
     * has ended (pthread_exit) leaves a zombie behind while the group lives. */
    if (leader_state() != 'Z')
        return 0;
    return !others_live(getpid());
}
