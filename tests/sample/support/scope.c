/* SPDX-License-Identifier: MIT */
/*
 * scope.c - what a program sees of libunwind while poolalloc samples: prints
 * key=value lines (libunwind_mapped, and the object each of unw_backtrace,
 * _Unwind_RaiseException and backtrace resolves to in the global scope, or
 * "none"). Allocates first, so that samples have been taken.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void where(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    if (!f)
        printf("%s=none\n", name);
    else if (dladdr(f, &info) && info.dli_fname)
        printf("%s=%s\n", name, info.dli_fname);
    else
        printf("%s=unknown\n", name);
}

int main(void)
{
    void *keep[1000];
    for (int i = 0; i < 1000; i++)
        keep[i] = malloc(4096);
    for (int i = 0; i < 1000; i++)
        free(keep[i]);
    char line[512];
    int mapped = 0;
    FILE *m = fopen("/proc/self/maps", "r");
    while (m && fgets(line, sizeof line, m))
        mapped |= strstr(line, "libunwind.so.8") != NULL;
    if (m)
        fclose(m);
    printf("libunwind_mapped=%d\n", mapped);
    where("unw_backtrace");
    where("_Unwind_RaiseException");
    where("backtrace");
    return 0;
}
