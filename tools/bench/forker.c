/* SPDX-License-Identifier: MIT */
/*
 * forker.c - what a fork costs a program whose allocator is warm, under any
 * preloaded allocator (it knows nothing of poolalloc's internals).
 *
 *     forker [FORKS] [exec]
 *
 * Like a server, a build tool or a test runner that starts workers: it makes
 * 30,000 objects of 16..512 bytes (enough for poolalloc to start its pools),
 * frees every other one, lives 150 ms without a CPU cost (a sleep, so that
 * what a process starts once it has lived a while has started), then FORKS
 * times (default 300): makes and frees 40 objects, forks, and waits for the
 * child. The child makes and frees 40 objects and _exits, or with `exec`
 * runs /bin/true with an empty environment (so that no allocator is preloaded
 * into it: only the fork is measured, not a second process start).
 *
 * The caller measures CPU time and minor faults of the whole run with wait4
 * (children included): the fixed start is the same under every allocator
 * and small beside FORKS forks.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OBJECTS 30000
#define PER_ROUND 40

static void *keep[OBJECTS];

static size_t size_of(unsigned i)
{
    return 16 + (i * 37u) % 497;
}

static void churn(unsigned round)
{
    void *p[PER_ROUND];
    for (unsigned j = 0; j < PER_ROUND; j++) {
        p[j] = malloc(size_of(round * PER_ROUND + j));
        if (!p[j])
            _exit(3);
        memset(p[j], (int)j, 16);
    }
    for (unsigned j = 0; j < PER_ROUND; j++)
        free(p[j]);
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 300;
    int do_exec = argc > 2 && strcmp(argv[2], "exec") == 0;
    for (unsigned i = 0; i < OBJECTS; i++) {
        keep[i] = malloc(size_of(i));
        if (!keep[i])
            return 3;
        memset(keep[i], 1, 16);
    }
    for (unsigned i = 0; i < OBJECTS; i += 2) {
        free(keep[i]);
        keep[i] = NULL;
    }
    struct timespec nap = {0, 150 * 1000000L};
    nanosleep(&nap, NULL);
    churn(0);   /* the first request after the sleep: what waits for one starts */
    for (int i = 0; i < forks; i++) {
        churn((unsigned)i);
        pid_t pid = fork();
        if (pid < 0)
            return 4;
        if (pid == 0) {
            if (do_exec) {
                char *av[] = {"/bin/true", NULL}, *ev[] = {NULL};
                execve(av[0], av, ev);
                _exit(5);
            }
            churn((unsigned)i + 1);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 6;
    }
    for (unsigned i = 1; i < OBJECTS; i += 2)
        free(keep[i]);
    return 0;
}
