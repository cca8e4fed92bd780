/* SPDX-License-Identifier: MIT */
/*
 * torture_watch.c - how the torture reports what it cannot check itself: a crash prints
 * the crashing thread's stack (tests/stress/run.sh symbolizes it with addr2line), SIGQUIT
 * prints the stack of the thread that gets it, and a run without progress for the
 * watchdog period prints what the main thread was doing and every thread's stack (gdb
 * when installed), then exits 3. Nothing here allocates: the allocator may be what is
 * stuck or broken.
 */
#define _GNU_SOURCE
#include "torture.h"

#include <execinfo.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>

atomic_int run_done;
unsigned watchdog_s = 60;
_Atomic(const char *) main_stage = "starting";

void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
        return;
}

void print_stack(const char *who)
{
    void *frames[64];
    int n = backtrace(frames, 64);
    say("torture: stack of %s (pid %d, tid %d):\n", who, (int)getpid(), (int)gettid());
    backtrace_symbols_fd(frames, n, 2);
}

static void on_crash(int sig)
{
    /* snprintf into a stack buffer and backtrace (primed at start) do not allocate. */
    say("torture: CRASH signal %d (%s) seed=%llu\n", sig, strsignal(sig),
        (unsigned long long)run_seed);
    print_stack("the crashing thread");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_quit(int sig)
{
    (void)sig;
    print_stack("a thread asked for its stack");
}

void watch_install(void)
{
    /* Load libgcc's unwinder now: backtrace() must not allocate inside a handler. */
    void *prime[4];
    backtrace(prime, 4);
    struct sigaction sa = {0};
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_NODEFER | SA_RESETHAND;
    int crash_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (unsigned i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++)
        sigaction(crash_sigs[i], &sa, NULL);
    signal(SIGQUIT, on_quit);
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
}

/* Attach gdb for every thread's stack (posix_spawn: runs no fork handlers, so it works
 * while the allocator is deadlocked). Returns 0 when gdb is not there. */
int gdb_stacks(void)
{
    static const char gdb[] = "/usr/bin/gdb";
    if (access(gdb, X_OK) != 0)
        return 0;
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *argv[] = {(char *)gdb, "-p", pid, "-batch", "-nx", "-ex", "set pagination off",
                    "-ex", "thread apply all bt 30", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t child;
    extern char **environ;
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    (void)environ;
    if (posix_spawn(&child, gdb, &fa, NULL, argv, envp) != 0)
        return 0;
    for (int i = 0; i < 600; i++) {   /* 60 s */
        if (waitpid(child, NULL, WNOHANG) == child)
            return 1;
        usleep(100000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 1;
}


/* No progress for watchdog_s seconds: name the stage and the seed, show every thread's
 * stack, exit 3. Allocates nothing (the allocator may be what is stuck). */
void *watchdog(void *arg)
{
    (void)arg;
    unsigned long last = atomic_load(&progress);
    double since = pt_now();
    while (!atomic_load(&run_done)) {
        usleep(200000);
        unsigned long now = atomic_load(&progress);
        if (now != last) {
            last = now;
            since = pt_now();
        } else if (pt_now() - since > watchdog_s) {
            say("torture: FAIL no progress for %u s after %lu ops, main thread: %s; deadlock? "
                "seed=%llu\n",
                watchdog_s, now, atomic_load(&main_stage), (unsigned long long)run_seed);
            if (!gdb_stacks())
                for (int t = 0; t < NTABLES; t++)
                    if (atomic_load(&tables[t].running)) {
                        pthread_kill(tables[t].thread, SIGQUIT);
                        usleep(50000);
                    }
            say("torture: FAILED (watchdog) seed=%llu\n", (unsigned long long)run_seed);
            _exit(3);
        }
    }
    return NULL;
}
