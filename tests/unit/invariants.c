/* SPDX-License-Identifier: MIT */
/* Invariants as code: with DEBUG=1 a broken law aborts with its name
 * (PA_ASSERT, core/util.h); without it PA_ASSERT checks nothing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static void setup(void)
{
    harness_core(32768, 1 << 20);
}
TestSuite(invariants, .init = setup);

#ifdef POOLALLOC_DEBUG
/* Runs fn in a child with stderr into a pipe; returns the child's wait status
 * and its stderr (NUL-terminated) in out. */
static int run_child(void (*fn)(void), char *out, size_t len)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn();
        _exit(0);   /* the law held: no abort */
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(fd[0], out + n, len - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* Four objects out of their spans, then the class's objs_out zeroed: the
 * give-back that central_release makes finds a span with more out than the
 * whole class. */
static void corrupt_objs_out(void)
{
    unsigned cls = sc_of(64), fresh;
    void *objs[4];
    cr_assert_eq(central_alloc(cls, 4, objs, CENTRAL_GROW, &fresh), 4);
    central_g[cls].objs_out = 0;
    central_free(cls, objs, 4);
    central_release(cls);
}

Test(invariants, corrupted_central_count_aborts_naming_the_law)
{
    char err[1024];
    int status = run_child(corrupt_objs_out, err, sizeof err);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "no abort (status 0x%x), stderr: %s", status, err);
    cr_assert(strstr(err, "poolalloc: law broken: central: objs_out == sum over spans of used"),
              "the message names the law: %s", err);
}

/* A span's used count one too high: the next take from it breaks
 * used + popcount(bits) == nobjs. */
Test(invariants, corrupted_span_count_aborts, .signal = SIGABRT)
{
    unsigned cls = sc_of(48), fresh;
    void *objs[2];
    cr_assert_eq(central_alloc(cls, 1, objs, CENTRAL_GROW, &fresh), 1);
    central_span(&central_g[cls], central_g[cls].first)->used++;
    central_alloc(cls, 1, objs + 1, CENTRAL_GROW, &fresh);
}
#else
/* Without DEBUG=1 the same corruption is not looked at: PA_ASSERT costs
 * nothing (the laws are checked by the DEBUG build's tests above). */
Test(invariants, laws_are_not_checked_without_debug)
{
    cr_assert_eq(config_debug, 0);
    PA_ASSERT(0, "never checked without DEBUG=1");
}
#endif
