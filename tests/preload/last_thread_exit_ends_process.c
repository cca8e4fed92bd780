/* SPDX-License-Identifier: MIT */
/*
 * last_thread_exit_ends_process - a process ends when its last thread does, even when
 * that thread ends with pthread_exit() instead of exit(): the allocator's own threads
 * (flush, stats server) must not keep it alive.
 *
 * POSIX: "The process shall exit with an exit status of 0 after the last thread has
 * been terminated"; glibc implements it by counting threads in start_thread. A helper
 * thread the program never made still counts, so a library that starts one must make
 * it stop being a reason to live (glibc's own helper threads do so).
 *
 * Cases, each in a fresh process (this program re-executed) with a 5 s deadline:
 *   main-pthread-exit    main() starts a thread that allocates and returns, then calls
 *                        pthread_exit(): the process must end with status 0;
 *   fork-from-thread     a thread (not main) forks; in the child that thread is the only
 *                        one, allocates, and returns from its start routine: the child
 *                        must end with status 0 (CPython's
 *                        test_main_thread_after_fork_from_nonmain_thread does this);
 *   sigterm-after-main-exit  main() calls pthread_exit() while another thread sleeps;
 *                        SIGTERM must still end the process (a thread that blocks every
 *                        signal cannot take it; one that does not must exist).
 * A case still running at its deadline is reported with its threads' names and killed
 * with SIGKILL.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *allocate_and_return(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(16 + (size_t)i % 500);
        if (!p)
            abort();
        memset(p, 1, 16);
        free(p);
    }
    usleep((useconds_t)(uintptr_t)arg);
    return NULL;
}

static void *fork_then_return(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: this thread is its only one. Let the allocator's own threads
         * start (they do after a flush period), then return. */
        allocate_and_return((void *)(uintptr_t)1500000);
        return NULL;
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        _exit(3);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static int run_case(const char *name)
{
    pthread_t t;
    if (!strcmp(name, "main-pthread-exit")) {
        free(malloc(64));
        if (pthread_create(&t, NULL, allocate_and_return, (void *)(uintptr_t)1500000))
            return 3;
        pthread_exit(NULL);
    }
    if (!strcmp(name, "fork-from-thread")) {
        free(malloc(64));
        if (pthread_create(&t, NULL, fork_then_return, NULL))
            return 3;
        pthread_join(t, NULL);
        return 3; /* not reached: the thread exits the process */
    }
    if (!strcmp(name, "sigterm-after-main-exit")) {
        free(malloc(64));
        /* Sleeps far past the deadline: only SIGTERM can end this process in time. */
        if (pthread_create(&t, NULL, allocate_and_return, (void *)(uintptr_t)60000000))
            return 3;
        pthread_exit(NULL);
    }
    return 2;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The names of pid's threads and what every process descended from it is. */
static void describe(pid_t pid, char *out, size_t n)
{
    char path[320];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    size_t len = 0;
    out[0] = '\0';
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && len + 40 < n) {
        if (e->d_name[0] == '.')
            continue;
        char comm[64] = "?";
        snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        len += (size_t)snprintf(out + len, n - len, "%s%s", len ? ", " : "", comm);
    }
    closedir(d);
}

/* The first child of pid, from /proc/PID/task/PID/children, or -1. */
static pid_t first_child(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    long kid = -1;
    while (kid < 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p2[320];
        snprintf(p2, sizeof p2, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        FILE *f = fopen(p2, "r");
        if (f) {
            if (fscanf(f, "%ld", &kid) != 1)
                kid = -1;
            fclose(f);
        }
    }
    closedir(d);
    return (pid_t)kid;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--case"))
        return run_case(argv[2]);
    static const char *const cases[] = {"main-pthread-exit", "fork-from-thread",
                                        "sigterm-after-main-exit"};
    int failed = 0;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = cases[i];
        int sigterm = !strcmp(name, "sigterm-after-main-exit");
        double t0 = now();
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "--case", name, (char *)NULL);
            _exit(127);
        }
        int st = 0, done = 0, termed = 0;
        char threads[512] = "";
        while (now() - t0 < 5) {
            pid_t r = waitpid(pid, &st, WNOHANG);
            if (r == pid) {
                done = 1;
                break;
            }
            if (sigterm && !termed && now() - t0 > 2) {
                describe(pid, threads, sizeof threads);
                kill(pid, SIGTERM);
                termed = 1;
            }
            usleep(20000);
        }
        if (!done) {
            char kids[512] = "";
            if (!termed)
                describe(pid, threads, sizeof threads);
            /* fork-from-thread: what hangs is the child the thread forked. */
            pid_t kid = first_child(pid);
            if (kid > 0)
                describe(kid, kids, sizeof kids);
            /* Does it still take SIGTERM? (Threads that block every signal cannot.) */
            if (!termed)
                kill(pid, SIGTERM);
            if (kid > 0)
                kill(kid, SIGTERM);
            usleep(500000);
            int gone = waitpid(pid, &st, WNOHANG) == pid;
            kill(pid, SIGKILL);
            if (kid > 0)
                kill(kid, SIGKILL);
            if (!gone)
                waitpid(pid, &st, 0);
            printf("FAIL %s: the process was still there after 5 s (threads: %s)%s%s%s; %s\n",
                   name, threads, kid > 0 ? "; its fork child too (threads: " : "",
                   kid > 0 ? kids : "", kid > 0 ? ")" : "",
                   gone ? "SIGTERM then ended it" : "SIGTERM did not end it either, SIGKILL did");
            failed++;
        } else if (sigterm ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)
                           : !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            printf("FAIL %s: status %#x\n", name, st);
            failed++;
        } else {
            printf("ok %s (%.1f s)\n", name, now() - t0);
        }
    }
    printf("last_thread_exit_ends_process: %s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
