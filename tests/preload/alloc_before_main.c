/* SPDX-License-Identifier: MIT */
/*
 * alloc_before_main — allocation in constructors, before main and before (maybe) the
 * allocator's own initialisation, in the program and in shared libraries loaded at
 * link time and by dlopen/dlclose.
 *
 * The runner links this program against libctor_alloc_linked.so (rpath $ORIGIN) and
 * builds libctor_alloc_dlopened.so next to it; both come from support/ctor_alloc_lib.c.
 * Every block made before main is checked in main; blocks cross module boundaries in
 * both directions (made in a library, freed here; made here, freed by a destructor).
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <limits.h>
#include <malloc.h>

#define TEST "alloc_before_main"

int ctor_lib_linked_check(void);
const char *ctor_lib_linked_message(void);
void *ctor_lib_linked_give(void);
void ctor_lib_linked_take(void *p, size_t n, unsigned seed);

static unsigned char pat(unsigned seed, size_t i)
{
    return (unsigned char)(seed * 37u + i * 11u + (i >> 9) + 5u);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(seed, i);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(seed, i))
            return 0;
    return 1;
}

/* Made by the constructors, used by main. */
static unsigned char *early_block; /* 100 -> 5000 -> 30000 bytes through two ctors */
static unsigned char *early_big;   /* 1 MiB, passes through to glibc */
static unsigned char *early_zero;  /* calloc */
static unsigned char *early_aligned;
static char *early_string;
static int early_ok = 1;
static int ctor_order; /* 1 after the first constructor, 2 after the second */

__attribute__((constructor(101))) static void first_ctor(void)
{
    /* Churn: many small blocks made and freed before main. */
    void *tmp[1000];
    for (int i = 0; i < 1000; i++) {
        tmp[i] = malloc((size_t)(i % 200) + 1);
        if (!tmp[i])
            early_ok = 0;
        else
            memset(tmp[i], i, (size_t)(i % 200) + 1);
    }
    for (int i = 0; i < 1000; i += 2)
        free(tmp[i]);
    early_block = malloc(100);
    if (early_block) {
        fill(early_block, 100, 1);
        unsigned char *r = realloc(early_block, 5000);
        if (r) {
            early_block = r;
            fill(early_block + 100, 4900, 2);
        } else {
            early_ok = 0;
        }
    }
    for (int i = 1; i < 1000; i += 2)
        free(tmp[i]);
    early_big = malloc(1 << 20);
    early_zero = calloc(1000, 3);
    early_aligned = memalign(256, 700);
    if (!early_block || !early_big || !early_zero || !early_aligned)
        early_ok = 0;
    else {
        for (int i = 0; i < 3000; i++)
            if (early_zero[i])
                early_ok = 0;
        fill(early_big, 1 << 20, 3);
        fill(early_aligned, 700, 4);
    }
    ctor_order = 1;
}

__attribute__((constructor(102))) static void second_ctor(void)
{
    if (ctor_order != 1)
        early_ok = 0;
    unsigned char *r = early_block ? realloc(early_block, 30000) : NULL;
    if (r) {
        early_block = r;
        fill(early_block + 5000, 25000, 5);
    } else {
        early_ok = 0;
    }
    early_string = strdup("made before main");
    ctor_order = 2;
}

static int check_early_block(void)
{
    return intact(early_block, 100, 1) && intact(early_block + 100, 4900, 2) &&
           intact(early_block + 5000, 25000, 5);
}

/* Directory of this executable, for the dlopen'ed library next to it. */
static void exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) {
        strcpy(buf, ".");
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
}

static void dlopen_cycles(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    exe_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/libctor_alloc_dlopened.so", dir);
    for (int round = 0; round < 25; round++) {
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            FAILF("dlopen(%s): %s", path, dlerror());
            return;
        }
        int (*check)(void) = (int (*)(void))dlsym(h, "ctor_lib_dlopened_check");
        const char *(*message)(void) = (const char *(*)(void))dlsym(h, "ctor_lib_dlopened_message");
        void *(*give)(void) = (void *(*)(void))dlsym(h, "ctor_lib_dlopened_give");
        void (*take)(void *, size_t, unsigned) =
            (void (*)(void *, size_t, unsigned))dlsym(h, "ctor_lib_dlopened_take");
        if (!check || !message || !give || !take) {
            FAILF("dlsym in the dlopen'ed library failed: %s", dlerror());
            dlclose(h);
            return;
        }
        CHECK(check() == 0, "round %d: blocks made by the dlopen'ed constructor were damaged",
              round);
        const char *msg = message();
        CHECK(msg && strcmp(msg, "hello from the dlopened library constructor") == 0,
              "round %d: constructor string is '%s'", round, msg ? msg : "(null)");
        unsigned char *g = give();
        CHECK(g && intact(g, 777, 99), "round %d: block given by the library is damaged", round);
        free(g);
        /* Handed in, freed by the library's destructor inside dlclose. */
        size_t n = (size_t)(round % 5) * 9000 + 10;
        unsigned char *t = malloc(n);
        fill(t, n, (unsigned)round);
        take(t, n, (unsigned)round);
        /* Allocate between open and close so the loader's own blocks interleave ours. */
        void *noise = malloc((size_t)round * 100 + 1);
        CHECK(dlclose(h) == 0, "dlclose failed: %s", dlerror());
        free(noise);
    }
}

int main(void)
{
    pt_init(TEST);
    CHECK(early_ok, "an allocation in a constructor failed or returned bad memory");
    CHECK(ctor_order == 2, "constructors ran in the wrong order (%d)", ctor_order);
    CHECK(early_block && check_early_block(), "block made before main lost content");
    CHECK(early_big && intact(early_big, 1 << 20, 3), "1 MiB block made before main damaged");
    CHECK(early_aligned && intact(early_aligned, 700, 4) && ((uintptr_t)early_aligned & 255) == 0,
          "memalign'ed block made before main damaged or misaligned");
    CHECK(early_string && strcmp(early_string, "made before main") == 0, "strdup before main");
    if (pt_preloaded())
        printf("pre-main blocks owned by poolalloc: small %d, big %d\n", pt_owns(early_block),
               pt_owns(early_big));

    /* The block keeps working in main: grow it, shrink it, check the prefix. */
    unsigned char *r = realloc(early_block, 70000);
    CHECK(r != NULL, "realloc of the pre-main block to 70000 failed");
    if (r) {
        early_block = r;
        CHECK(check_early_block(), "block made before main lost content in a realloc in main");
        r = realloc(early_block, 50);
        CHECK(r && intact(r, 50, 1), "shrinking the pre-main block lost content");
        early_block = r;
    }

    CHECK(ctor_lib_linked_check() == 0, "blocks made by the linked library's constructor damaged");
    const char *msg = ctor_lib_linked_message();
    CHECK(msg && strcmp(msg, "hello from the linked library constructor") == 0,
          "linked library's constructor string is '%s'", msg ? msg : "(null)");
    unsigned char *g = ctor_lib_linked_give();
    CHECK(g && intact(g, 777, 99), "block given by the linked library is damaged");
    free(g);
    unsigned char *t = malloc(12345);
    fill(t, 12345, 77);
    ctor_lib_linked_take(t, 12345, 77); /* freed by its destructor after main returns */

    dlopen_cycles();

    CHECK(early_block && intact(early_block, 50, 1), "pre-main block damaged by dlopen cycles");
    CHECK(ctor_lib_linked_check() == 0, "linked library's blocks damaged by dlopen cycles");
    free(early_block);
    free(early_big);
    free(early_zero);
    free(early_aligned);
    free(early_string);
    return pt_finish(TEST);
}
