/* SPDX-License-Identifier: MIT */
/*
 * ctor_alloc_lib — a shared library that allocates in its constructor and frees in its
 * destructor; used by alloc_before_main.
 *
 * Built twice by the runner: -DCTOR_LIB_NAME=linked (a link-time dependency, so its
 * constructor runs before main and maybe before the allocator's own) and
 * -DCTOR_LIB_NAME=dlopened (loaded and unloaded by dlopen/dlclose in a loop).  Each
 * build exports ctor_lib_<name>_check/_message/_give/_take; everything else is static
 * so that the two copies never bind to each other's code.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CTOR_LIB_NAME
#error "build with -DCTOR_LIB_NAME=linked or -DCTOR_LIB_NAME=dlopened"
#endif
#define CAT3(a, b, c) a##b##c
#define XCAT3(a, b, c) CAT3(a, b, c)
#define API(f) XCAT3(ctor_lib_, CTOR_LIB_NAME, f)
#define STR2(x) #x
#define STR(x) STR2(x)

static const size_t sizes[] = {1, 24, 100, 1000, 40000, 2 << 20};
enum { NSIZES = sizeof sizes / sizeof sizes[0], NBLOCKS = NSIZES + 3 };

static unsigned char *blocks[NBLOCKS];
static size_t lens[NBLOCKS];
static char *message;
static unsigned char *given;      /* made here, freed by the caller */
static unsigned char *taken;      /* made by the caller, freed here */
static size_t taken_len;
static unsigned taken_seed;

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

static void die(const char *msg)
{
    static const char prefix[] = "ctor_alloc_lib(" STR(CTOR_LIB_NAME) "): ";
    if (write(2, prefix, sizeof prefix - 1) < 0 || write(2, msg, strlen(msg)) < 0 ||
        write(2, "\n", 1) < 0)
        _exit(3);
    _exit(3);
}

__attribute__((constructor)) static void lib_ctor(void)
{
    for (int i = 0; i < NSIZES; i++) {
        blocks[i] = malloc(sizes[i]);
        lens[i] = sizes[i];
    }
    blocks[NSIZES] = calloc(300, 7);
    lens[NSIZES] = 2100;
    blocks[NSIZES + 1] = memalign(4096, 3000);
    lens[NSIZES + 1] = 3000;
    /* A realloc chain through the pool boundary, before main. */
    unsigned char *r = malloc(8);
    size_t steps[] = {64, 5000, 60000, 100};
    for (int i = 0; i < 4 && r; i++)
        r = realloc(r, steps[i]);
    blocks[NSIZES + 2] = r;
    lens[NSIZES + 2] = 100;
    for (int i = 0; i < NBLOCKS; i++) {
        if (!blocks[i])
            die("allocation in the constructor failed");
        if (i == NSIZES) {
            for (size_t k = 0; k < lens[i]; k++)
                if (blocks[i][k])
                    die("calloc in the constructor returned non-zero memory");
        }
        fill(blocks[i], lens[i], (unsigned)i);
    }
    if (((uintptr_t)blocks[NSIZES + 1] & 4095) != 0)
        die("memalign(4096) in the constructor is misaligned");
    message = strdup("hello from the " STR(CTOR_LIB_NAME) " library constructor");
    given = malloc(777);
    if (!message || !given)
        die("strdup/malloc in the constructor failed");
    fill(given, 777, 99);
}

__attribute__((destructor)) static void lib_dtor(void)
{
    for (int i = 0; i < NBLOCKS; i++) {
        if (!intact(blocks[i], lens[i], (unsigned)i))
            die("a block made in the constructor was damaged by the time of the destructor");
        free(blocks[i]);
    }
    free(message);
    if (taken) {
        if (!intact(taken, taken_len, taken_seed))
            die("the block handed in by main was damaged");
        free(taken);
    }
}

/* Number of constructor blocks whose content changed since the constructor. */
int API(_check)(void)
{
    int bad = 0;
    for (int i = 0; i < NBLOCKS; i++)
        bad += !intact(blocks[i], lens[i], (unsigned)i);
    if (malloc_usable_size(blocks[NSIZES - 1]) < sizes[NSIZES - 1])
        bad++;
    return bad;
}

const char *API(_message)(void)
{
    return message;
}

/* Hand over a 777-byte block filled with seed 99; the caller frees it. */
void *API(_give)(void)
{
    void *p = given;
    given = NULL;
    return p;
}

/* Keep a caller's block (filled with seed) and free it in the destructor. */
void API(_take)(void *p, size_t n, unsigned seed)
{
    taken = p;
    taken_len = n;
    taken_seed = seed;
}
