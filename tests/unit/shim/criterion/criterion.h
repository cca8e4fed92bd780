/* SPDX-License-Identifier: MIT */
/*
 * A minimal stand-in for criterion's API, used only for the ThreadSanitizer
 * build of the unit tests: criterion's own runner cannot start under TSan
 * (its shared arena collides with TSan's shadow memory; criterion issue #274).
 * Same test sources; each test runs in its own forked process, as criterion
 * does. Supports the subset the unit tests use.
 */
#ifndef POOLALLOC_CRITERION_SHIM_H
#define POOLALLOC_CRITERION_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>

/* No format attribute on purpose: the message is optional, as in criterion. */
static inline void shim_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

struct shim_suite_cfg {
    void (*init)(void);
};
struct shim_test {
    const char *suite, *name;
    void (*fn)(void);
};

void shim_register(const char *suite, const char *name, void (*fn)(void));
void shim_register_suite(const char *suite, void (*init)(void));

#define TestSuite(suite, ...)                                                          \
    __attribute__((constructor)) static void shim_suite_##suite(void)                  \
    {                                                                                  \
        struct shim_suite_cfg c = {__VA_ARGS__};                                       \
        shim_register_suite(#suite, c.init);                                           \
    }

#define Test(suite, name, ...)                                                         \
    static void shim_test_##suite##_##name(void);                                      \
    __attribute__((constructor)) static void shim_reg_##suite##_##name(void)           \
    {                                                                                  \
        shim_register(#suite, #name, shim_test_##suite##_##name);                      \
    }                                                                                  \
    static void shim_test_##suite##_##name(void)

#define SHIM_FAIL(...)                                                                 \
    do {                                                                               \
        fprintf(stderr, "%s:%d: assertion failed: ", __FILE__, __LINE__);              \
        shim_msg("" __VA_ARGS__);                                                      \
        _exit(1);                                                                      \
    } while (0)

#define cr_assert(c, ...)    do { if (!(c)) SHIM_FAIL(__VA_ARGS__); } while (0)
#define cr_assert_eq(a, b, ...)  cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...)  cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...)  cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_log_info(...)     do { fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } while (0)
#define cr_skip_test(...)    _exit(77)

#ifndef SHIM_NO_MAIN
static struct shim_test shim_tests[64];
static unsigned shim_ntests;
static struct { const char *suite; void (*init)(void); } shim_suites[8];
static unsigned shim_nsuites;

void shim_register(const char *suite, const char *name, void (*fn)(void))
{
    shim_tests[shim_ntests++] = (struct shim_test){suite, name, fn};
}

void shim_register_suite(const char *suite, void (*init)(void))
{
    shim_suites[shim_nsuites].suite = suite;
    shim_suites[shim_nsuites++].init = init;
}

int main(void)
{
    unsigned pass = 0, fail = 0;
    for (unsigned i = 0; i < shim_ntests; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            for (unsigned s = 0; s < shim_nsuites; s++)
                if (!strcmp(shim_suites[s].suite, shim_tests[i].suite) && shim_suites[s].init)
                    shim_suites[s].init();
            shim_tests[i].fn();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        int ok = WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77);
        printf("[%s] %s::%s\n", ok ? "PASS" : "FAIL", shim_tests[i].suite, shim_tests[i].name);
        ok ? pass++ : fail++;
    }
    printf("%u passed, %u failed\n", pass, fail);
    return fail ? 1 : 0;
}
#endif
#endif
