/* SPDX-License-Identifier: MIT */
/*
 * addr2line.h - naming addresses of a target's object by running addr2line
 * (binutils) on it. The object is one maps.h opened safely; addr2line reads
 * it in a child that holds only that fd, runs as the target's uid when root
 * symbolizes another user's process, and is killed at a deadline. What it
 * says is the target's to choose: the caller makes it printable.
 */
#ifndef POOLSTAT_ADDR2LINE_H
#define POOLSTAT_ADDR2LINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sites.h"

/* Who addr2line runs as: drop is set when root symbolizes another user's
 * process; none is set when addr2line must not run at all. */
struct a2l_user {
    int drop, none;
    uid_t uid;
    gid_t gid;
};

/* Who addr2line may run as for process pid (says on stderr when it must not run). */
struct a2l_user a2l_user_for(pid_t pid);

/* Names syms[idx[0..n)] in the object open as fd; 0, -1 at the deadline, -2 without addr2line. */
int a2l_run(int fd, const struct a2l_user *u, struct sym *syms, const size_t *idx, size_t n,
            int64_t deadline);

#endif
