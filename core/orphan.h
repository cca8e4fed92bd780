/* SPDX-License-Identifier: MIT */
/*
 * orphan.h - ending the process when the program has no thread left.
 *
 * POSIX: after the last thread terminates, the process exits with status 0, as
 * if by exit(0). glibc does it by counting threads: the last one to leave
 * start_thread (or a main() that called pthread_exit) calls exit(0). Our own
 * threads (flush, stats server) count too, so a program whose main thread
 * called pthread_exit, and whose other threads have all ended, would live on
 * with nobody but us in it: a process that never exits, and, since our threads
 * block every signal, that not even SIGTERM ends.
 *
 * The flush thread therefore looks every ORPHAN_CHECK_MS: when the thread-group
 * leader is a zombie (it has called pthread_exit; /proc/self/stat says 'Z') and
 * /proc/self/task lists no thread but the leader and ours, it calls exit(0),
 * which is what glibc would have done in the program's last thread. The check
 * costs one open/read/close while the leader lives (a few microseconds, five
 * times a second); only a process whose main thread has ended lists its tasks.
 * The exit comes from the flush thread because it shares the program's file
 * table (the server thread has its own copy), so the program's buffered stdio
 * reaches its files. Without /proc nothing is checked.
 */
#ifndef POOLALLOC_ORPHAN_H
#define POOLALLOC_ORPHAN_H

#include <sys/types.h>

#define ORPHAN_CHECK_MS 200

/* The calling thread is one of ours (up to ORPHAN_OWN_MAX of them). */
#define ORPHAN_OWN_MAX 4
void orphan_own_thread(void);

/* 1 if the process holds no thread of the program's any more. */
int orphan_alone(void);

/* A fork child: the parent's threads are not ours here. */
void orphan_forget_after_fork(void);

#endif
