#!/usr/bin/env bash
# check_mode_catches_bad_frees — with POOLALLOC_CHECK=1 a double free, a free
# of a pointer into the middle of an object, and a write after free each stop
# the program with one line naming poolalloc and the address (as glibc's
# "free(): double free detected" does), never silently; the same program
# without the mistake runs to its end under the same setting.
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
[ -n "$LIB" ] || { echo ok; exit 0; }   # poolalloc's own checks: nothing to compare on glibc
need ${CC:-gcc}

src=$PT_WORK/bad.c
cat >"$src" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
    char *volatile p = malloc(64);
    memset(p, 1, 64);
    char mode = argc > 1 ? argv[1][0] : '-';
    if (mode == 'i') { free(p + 16); return 0; }        /* interior pointer */
    free(p);
    if (mode == 'd') free(p);                            /* double free */
    if (mode == 'u') { p[40] = 7; (void)malloc(64); }    /* write after free */
    for (int i = 0; i < 1000; i++) { char *q = malloc(64); memset(q, 2, 64); free(q); }
    puts("end");
    return 0;
}
C
${CC:-gcc} -O0 -fno-builtin -o "$PT_WORK/bad" "$src" || { fail "cannot build"; finish; }

out=$(POOLALLOC_CHECK=1 preloaded "$PT_WORK/bad" - 2>&1)
[ "$out" = end ] || fail "clean run under POOLALLOC_CHECK=1 printed: $out"
for m in d i u; do
    out=$(POOLALLOC_CHECK=1 preloaded "$PT_WORK/bad" "$m" 2>&1)
    rc=$?
    [ "$rc" -eq 134 ] || fail "mode $m: exit status $rc, want 134 (abort): $out"
    n=$(printf '%s\n' "$out" | grep -c '^poolalloc: .*0x[0-9a-f]\+')
    [ "$n" -eq 1 ] || fail "mode $m: want one poolalloc line with the address, got: $out"
    case $m in
        d) printf '%s' "$out" | grep -q 'free(): double free' || fail "mode d: message: $out" ;;
        i) printf '%s' "$out" | grep -q 'free(): invalid pointer' || fail "mode i: message: $out" ;;
        u) printf '%s' "$out" | grep -q 'write after free' || fail "mode u: message: $out" ;;
    esac
    printf '%s' "$out" | grep -q '^end' && fail "mode $m: the program went on after the mistake"
done
finish
