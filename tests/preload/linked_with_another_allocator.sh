#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# linked_with_another_allocator — a program linked against another malloc
# (jemalloc, as Debian's redis-server is) still works under the preload: its
# malloc family calls reach poolalloc, and for the blocks poolalloc passes
# through to glibc, malloc_usable_size and realloc use glibc's own answer, not
# the other allocator's (which would crash on a glibc block).
#
# preload-test: glibc-variant
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
jem=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$jem" ] || skip "libjemalloc2 not installed"
need ${CC:-gcc}

src=$PT_WORK/prog.c
cat >"$src" <<'C'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    size_t big = 1u << 20;   /* above POOLALLOC_MAX_SIZE: glibc's under the preload */
    unsigned char *p = malloc(big);
    if (!p) return 1;
    memset(p, 0x5a, big);
    size_t u = malloc_usable_size(p);
    if (u < big) { fprintf(stderr, "usable %zu < %zu\n", u, big); return 1; }
    p = realloc(p, 100);     /* into the pools: copies from the glibc block */
    for (int i = 0; i < 100; i++)
        if (p[i] != 0x5a) { fprintf(stderr, "lost byte %d\n", i); return 1; }
    p = realloc(p, 3 * big); /* and back out */
    for (int i = 0; i < 100; i++)
        if (p[i] != 0x5a) { fprintf(stderr, "lost byte %d after growing\n", i); return 1; }
    free(p);
    printf("ok\n");
    return 0;
}
C
${CC:-gcc} -O2 -o "$PT_WORK/prog" "$src" "$jem" -Wl,-rpath,"$(dirname "$jem")" ||
    { fail "cannot build against $jem"; finish; }
plain "$PT_WORK/prog" >"$PT_WORK/plain.out" 2>&1 || fail "plain run failed: $(cat "$PT_WORK/plain.out")"
preloaded "$PT_WORK/prog" >"$PT_WORK/pre.out" 2>&1 ||
    fail "preloaded run failed (status $?): $(head -c 300 "$PT_WORK/pre.out")"
same_file "output" "$PT_WORK/plain.out" "$PT_WORK/pre.out"
finish
