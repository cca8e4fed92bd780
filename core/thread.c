/* SPDX-License-Identifier: MIT */
/* thread.c - the library's own threads (see thread.h). */
#define _GNU_SOURCE
#include "thread.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* What the new thread needs before it runs fn: on the caller's stack, read
 * before `named` is set; after that the thread only wakes the address (a
 * wake of an address nobody waits on any more does nothing). */
struct boot {
    void *(*fn)(void *);
    const char *name;
    int named;
};

static void *boot(void *arg)
{
    struct boot *b = arg;
    void *(*fn)(void *) = b->fn;
    prctl(PR_SET_NAME, b->name, 0, 0, 0);
    __atomic_store_n(&b->named, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &b->named, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return fn(NULL);
}

int pa_thread_start(void *(*fn)(void *), size_t stack_bytes, const char *name)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, stack_bytes);
    struct boot b = {fn, name, 0};
    pthread_t t;
    int saved = errno;
    int rc = pthread_create(&t, &attr, boot, &b);
    pthread_attr_destroy(&attr);
    /* Until it bears its name (microseconds; a second at most): a process
     * `poolstat` finds started has its thread named (tools/poolstat/trust.c,
     * poolstat_started), also on a machine too busy to run it at once. */
    struct timespec t0, now, step = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (rc == 0 && !__atomic_load_n(&b.named, __ATOMIC_ACQUIRE)) {
        syscall(SYS_futex, &b.named, FUTEX_WAIT_PRIVATE, 0, &step, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 2 || (now.tv_sec - t0.tv_sec == 1 && now.tv_nsec >= t0.tv_nsec))
            break;
    }
    errno = saved;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}
