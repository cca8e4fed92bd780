#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bad_frees_stop_the_program — a bad free stops the program with one line
# naming poolalloc, the call and the address, then abort(), as glibc's
# "free(): invalid pointer" does; never silently. The same program without
# the mistake runs to its end under every setting.
#
# By default, in both pool modes (rseq and the locked fallback): an address
# inside an object (16 bytes into a 64-byte and a 48-byte object, 1 byte into
# one), the same through realloc() and malloc_usable_size(), and free(p);
# free(p) with nothing in between. Each such pointer would otherwise enter a
# CPU cache and be handed out again, overlapping live objects.
# Pool addresses never handed out (a span never made, a slot past what the
# class has carved) are refused by free() at once; a slot that is free in its
# span (freed again after it went back) when the flushes bring it to central.
# With POOLALLOC_CHECK=1 also: a double free with other frees of the class in
# between (by default noticed only when it reaches its span), the next slot
# after a live object, every case above at once and without a crash, and a
# write after free.
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
[ -n "$LIB" ] || { echo ok; exit 0; }   # poolalloc's own checks: nothing to compare on glibc
# The pools from the first request: these programs end long before the default start.
export POOLALLOC_START_MS=0
need ${CC:-gcc}

src=$PT_WORK/bad.c
cat >"$src" <<'C'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "-";
    /* Warm the class up, so the object comes from a CPU cache. */
    for (int i = 0; i < 100; i++) { char *q = malloc(64); memset(q, 2, 64); free(q); }
    char *volatile p = malloc(64);
    char *volatile r = malloc(48);
    memset(p, 1, 64);
    memset(r, 1, 48);
    if (!strcmp(mode, "interior64")) free(p + 16);
    if (!strcmp(mode, "interior48")) free(r + 16);
    if (!strcmp(mode, "misaligned")) free(p + 1);
    if (!strcmp(mode, "realloc")) p = realloc(p + 32, 100);
    if (!strcmp(mode, "usable")) printf("%zu\n", malloc_usable_size(r + 32));
    free(p);
    if (!strcmp(mode, "double")) free(p);
    if (!strcmp(mode, "double-later")) { char *q = malloc(64); free(q); free(p); }
    if (!strcmp(mode, "write-after")) { p[40] = 7; (void)malloc(64); }
    /* Pool addresses that were never handed out: 64-byte objects lie in
     * 64 KiB spans, so p + k * 64 KiB is an object's start in a span k
     * further on (never made), and p + 700 * 64 a slot of p's own span far
     * beyond what the class has carved. */
    if (!strcmp(mode, "unmade-span")) free(p + 16 * 65536);
    /* p lies in its class's first span (the first 64-byte objects come from
     * it), which starts a few spans into the slice (its colour, region.h):
     * p - 64 KiB is an object's start in a span before it, never made. */
    if (!strcmp(mode, "before-first")) free(p - 65536);
    if (!strcmp(mode, "far-slot")) free(p + 700 * 64);
    if (!strcmp(mode, "far-slot-realloc")) p = realloc(p + 700 * 64, 10);
    if (!strcmp(mode, "next-slot")) free(p + 64);
    if (!strcmp(mode, "free-in-span")) {
        /* 4096 objects (four spans) out and back: q[0]'s span is all free
         * again once the flushes have drained every cache. Then q[0] is
         * freed once more and the program waits: the flushes take it to
         * central, where its span says it is free. */
        static char *q[4096];
        for (int i = 0; i < 4096; i++) q[i] = malloc(64);
        for (int i = 0; i < 4096; i++) free(q[i]);
        for (int i = 0; i < 200; i++) { char *w = malloc(2000); free(w); usleep(5000); }
        free(q[0]);
        for (int i = 0; i < 6000; i++) usleep(5000);   /* 30 s at most: the flushes stop us first */
        puts("survived");
    }
    free(r);
    for (int i = 0; i < 1000; i++) { char *q = malloc(64); memset(q, 2, 64); free(q); }
    puts("end");
    return 0;
}
C
${CC:-gcc} -O0 -fno-builtin -o "$PT_WORK/bad" "$src" || { fail "cannot build"; finish; }

expect_stop() { # expect_stop LABEL MODE WANT [ENV...]
    local label=$1 m=$2 want=$3 out rc n
    shift 3
    out=$(env "$@" LD_PRELOAD="$LIB" "$PT_WORK/bad" "$m" 2>&1)
    rc=$?
    [ "$rc" -eq 134 ] || fail "$label $m: exit status $rc, want 134 (abort): $out"
    n=$(printf '%s\n' "$out" | grep -c '^poolalloc: .*0x[0-9a-f]\+')
    [ "$n" -eq 1 ] || fail "$label $m: want one poolalloc line with the address, got: $out"
    printf '%s' "$out" | grep -qF "$want" || fail "$label $m: want '$want' in: $out"
    printf '%s' "$out" | grep -q '^end' && fail "$label $m: the program went on after the mistake"
}

for tun in "" glibc.pthread.rseq=0; do
    label=${tun:+locked}
    label=${label:-rseq}
    out=$(GLIBC_TUNABLES=$tun POOLALLOC_VERBOSE=1 preloaded "$PT_WORK/bad" - 2>&1)
    printf '%s\n' "$out" | grep -q "^poolalloc: init .*: mode $label" ||
        fail "$label: the pools do not run in $label mode: $out"
    printf '%s\n' "$out" | grep -qx end || fail "$label: clean run did not end: $out"
    for m in interior64 interior48 misaligned; do
        expect_stop "$label" $m 'free(): invalid pointer' GLIBC_TUNABLES=$tun
    done
    expect_stop "$label" realloc 'realloc(): invalid pointer' GLIBC_TUNABLES=$tun
    expect_stop "$label" usable 'malloc_usable_size(): invalid pointer' GLIBC_TUNABLES=$tun
    expect_stop "$label" double 'free(): double free' GLIBC_TUNABLES=$tun
    # Never handed out: refused by free() itself, before any cache sees them.
    expect_stop "$label" unmade-span 'free(): invalid pointer' GLIBC_TUNABLES=$tun
    expect_stop "$label" far-slot 'never handed out' GLIBC_TUNABLES=$tun
    expect_stop "$label" before-first 'never handed out: before the first 64-byte object' \
        GLIBC_TUNABLES=$tun
    expect_stop "$label" far-slot-realloc 'realloc(): invalid pointer' GLIBC_TUNABLES=$tun
    # Free in its span (gone back there already): caught when the flushes
    # bring it to central, not handed out to a second owner first.
    expect_stop "$label" free-in-span 'free(): double free or invalid pointer (free in its span)' \
        GLIBC_TUNABLES=$tun POOLALLOC_FLUSH_MS=20
done

out=$(POOLALLOC_CHECK=1 preloaded "$PT_WORK/bad" - 2>&1)
[ "$out" = end ] || fail "clean run under POOLALLOC_CHECK=1 printed: $out"
expect_stop check double 'free(): double free' POOLALLOC_CHECK=1
expect_stop check double-later 'free(): double free' POOLALLOC_CHECK=1
expect_stop check interior48 'free(): invalid pointer' POOLALLOC_CHECK=1
expect_stop check write-after 'write after free' POOLALLOC_CHECK=1
# Under POOLALLOC_CHECK=1 every free is checked against its span at once,
# without touching memory that was never made.
expect_stop check unmade-span 'free(): invalid pointer' POOLALLOC_CHECK=1
expect_stop check far-slot 'never handed out' POOLALLOC_CHECK=1
expect_stop check before-first 'never handed out: before the first 64-byte object' POOLALLOC_CHECK=1
expect_stop check next-slot 'never handed out' POOLALLOC_CHECK=1
expect_stop check free-in-span 'free(): double free or invalid pointer (free in its span)' \
    POOLALLOC_CHECK=1 POOLALLOC_FLUSH_MS=0
finish
