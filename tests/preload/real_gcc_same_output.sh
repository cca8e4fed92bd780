#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# real_gcc_same_output — gcc (driver, cc1, as, ld: LD_PRELOAD reaches them all) compiles
# a generated C file of a few thousand lines under the allocator; the object file is
# identical (cmp) to the one built without it, and the linked program prints the same.
#
# preload-test: glibc-variant (plain vs plain proves the build is reproducible)
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
need gcc awk cmp

src=$PT_WORK/generated.c
# 150 functions of ~25 lines each, with structs, switches, loops, string formatting and
# tables, plus a main that chains them and prints running checksums.
awk -v N=150 'BEGIN {
    print "#include <stdio.h>"
    print "#include <string.h>"
    print "static long sink(long x) { return (long)((unsigned long)x * 6364136223846793005UL + 1442695040888963407UL); }"
    for (i = 0; i < N; i++) {
        printf "struct rec_%d { int a; long b; char name[%d]; double d; short t[%d]; };\n", i, 8 + i % 40, 1 + i % 9
        printf "static const char *const words_%d[] = {\"w%d-a\", \"w%d-bb\", \"w%d-ccc\", \"w%d-dddd\"};\n", i, i, i, i, i
        printf "static long f_%d(long x)\n{\n", i
        printf "    struct rec_%d v;\n    memset(&v, 0, sizeof v);\n", i
        printf "    v.a = (int)(x * %d);\n    v.b = x ^ %dL;\n", 3 + i % 17, i * 7919
        printf "    for (int k = 0; k < %d; k++) {\n", 5 + i % 23
        printf "        v.b = v.b * 31 + k;\n        if (v.b & 1) v.a += k; else v.a -= %d;\n", i % 11
        printf "        v.t[k %% %d] = (short)(v.a + k);\n    }\n", 1 + i % 9
        printf "    switch (x & 3) {\n    case 0: x += %d; break;\n    case 1: x ^= %d; break;\n", i, i * 13
        printf "    case 2: x -= v.a; break;\n    default: x += v.b %% 1000;\n    }\n"
        printf "    v.d = (double)(x %% 100000) / %d.0;\n", 1 + i % 29
        printf "    snprintf(v.name, sizeof v.name, \"%%s:%%ld\", words_%d[x & 3], x %% 1000);\n", i
        printf "    return sink(x + (long)v.d + (long)strlen(v.name) + v.t[0]%s);\n}\n\n", (i > 0 && i % 10 == 0) ? sprintf(" + (x & 1 ? f_%d(x >> 3) %% 7 : 0)", i - 1) : ""
    }
    print "int main(void)\n{\n    long acc = 1;"
    for (i = 0; i < N; i++) {
        printf "    acc = f_%d(acc %% 1000003);\n", i
        if (i % 50 == 49)
            printf "    printf(\"after f_%d: %%ld\\n\", acc);\n", i
    }
    print "    printf(\"final: %ld\\n\", acc);\n    return 0;\n}"
}' >"$src"
lines=$(wc -l <"$src")
[ "$lines" -gt 3000 ] || fail "generated source has only $lines lines"

build() { # build plain|preloaded TAG
    local rc=0
    (cd "$PT_WORK" && "$1" gcc -O2 -g -frandom-seed=poolalloc -c generated.c -o "$2.o") \
        >"$PT_WORK/$2.cc.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { fail "gcc -c ($2) exit status $rc"; head -5 "$PT_WORK/$2.cc.out" >&2; return; }
    (cd "$PT_WORK" && "$1" gcc -o "$2.bin" "$2.o") >>"$PT_WORK/$2.cc.out" 2>&1 ||
        { fail "link ($2) failed"; return; }
    "$1" "$PT_WORK/$2.bin" >"$PT_WORK/$2.run.out" 2>&1 || fail "the program built $2 fails"
}
build plain plain
build preloaded preloaded

if [ -f "$PT_WORK/plain.o" ] && [ -f "$PT_WORK/preloaded.o" ]; then
    cmp "$PT_WORK/plain.o" "$PT_WORK/preloaded.o" >&2 ||
        fail "the object file compiled under the allocator differs from the plain one"
fi
same_file "compiler output" "$PT_WORK/plain.cc.out" "$PT_WORK/preloaded.cc.out"
if [ -f "$PT_WORK/plain.run.out" ] && [ -f "$PT_WORK/preloaded.run.out" ]; then
    grep -q '^final: ' "$PT_WORK/plain.run.out" || fail "generated program printed no result"
    same_file "program output" "$PT_WORK/plain.run.out" "$PT_WORK/preloaded.run.out"
fi
finish
