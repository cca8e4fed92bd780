#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gcc_build.sh - a real build under the allocator: this project, built by make and gcc
# (make, sh, the gcc driver, cc1, as, collect2 and ld are all preloaded), must produce
# byte-identical objects, shared library and programs to the same build without it.
#
# usage: tests/suites/gcc_build.sh LIB OUTDIR short|full
#   The sources are a snapshot of the checked-in tree (git archive HEAD; a copy of the
#   working tree outside git), so edits made while it runs do not matter.
#   short: make lib, poolstat and tools/bench/micro.c (the benchmark driver), make -j2
#   full:  the same plus the criterion unit-test programs, and lib + micro for the
#          variants DEBUG=1 and CALIBRATE=0; every variant built twice under the preload
#          (make -j2 and make -j1) and compared with one plain build
# Every object file, libpoolalloc.so, optdoc, poolstat and micro are compared with cmp.
# Output: "PASS gcc-build[MODE] ..." or "FAIL gcc-build[MODE]: ...". Exit 0 / 1 (2: usage).
set -u
export LC_ALL=C
unset LD_PRELOAD
[ $# -eq 3 ] || { echo "usage: $0 LIB OUTDIR short|full" >&2; exit 2; }
lib=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mode=$3
name="gcc-build[$mode]"
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$2/gcc-build-$mode
rm -rf "$work"
mkdir -p "$work/src" || exit 2
work=$(cd "$work" && pwd)
t0=$EPOCHREALTIME

# The whole tree (a list of the library's folders went stale when one moved).
if git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git -C "$root" archive HEAD | tar -x -C "$work/src" ||
        { echo "FAIL $name: git archive failed"; exit 1; }
else
    tar -C "$root" --exclude='./build*' --exclude=./.git -c . | tar -x -C "$work/src" ||
        { echo "FAIL $name: copying the tree failed"; exit 1; }
fi
# Only what this build needs: no tier's include file, whatever the snapshot holds.
sed -i '/^-include tests\//d' "$work/src/Makefile"

# build TAG PRELOAD(0|1) JOBS VARIANT_ARGS...: one build into $work/src/out-TAG.
build() {
    local tag=$1 pre=$2 jobs=$3 rc=0
    shift 3
    local -a envs=()
    [ "$pre" = 1 ] && envs=(LD_PRELOAD="$lib")
    local -a targets=(lib "out-$tag/bench/micro")
    if [[ $tag == default-* ]]; then
        targets+=("out-$tag/poolstat")
        if [ "$mode" = full ]; then
            local u
            for u in "$work"/src/tests/unit/*.c; do
                u=${u##*/}
                targets+=("out-$tag/unit/${u%.c}")
            done
        fi
    fi
    (
        cd "$work/src" &&
            env ${envs[@]+"${envs[@]}"} make --no-print-directory -j"$jobs" B="out-$tag" "$@" \
                "${targets[@]}"
    ) >"$work/$tag.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $name: the $( [ "$pre" = 1 ] && echo preloaded || echo plain ) build $tag" \
            "(make $* -j$jobs) failed with status $rc; see $work/$tag.log"
        tail -n 10 "$work/$tag.log" | sed 's/^/    /'
        exit 1
    fi
    # The loader only warns when it cannot preload (the build would then be a plain one).
    if [ "$pre" = 1 ] && grep -q 'cannot be preloaded' "$work/$tag.log"; then
        echo "FAIL $name: the loader could not preload $lib in the build $tag; see $work/$tag.log"
        grep -m 3 'cannot be preloaded' "$work/$tag.log" | sed 's/^/    /'
        exit 1
    fi
}

# same A B: every product of build A is byte-identical to build B's.
compared=0
same() {
    local a=$work/src/out-$1 b=$work/src/out-$2 f n=0
    while IFS= read -r f; do
        n=$((n + 1))
        if [ ! -f "$b/$f" ]; then
            echo "FAIL $name: build $2 has no $f (build $1 has)"
            exit 1
        fi
        if ! cmp -s "$a/$f" "$b/$f"; then
            echo "FAIL $name: $f differs between build $1 and build $2 ($(cmp "$a/$f" "$b/$f" 2>&1 | head -n 1))"
            exit 1
        fi
    done < <(cd "$a" && find . -type f \( -name '*.o' -o -name '*.so' -o -name optdoc \
        -o -name poolstat -o -name micro -o -path './unit/*' ! -name '*.d' \) | sort)
    [ "$n" -ge 20 ] || { echo "FAIL $name: only $n products in build $1"; exit 1; }
    compared=$((compared + n))
}

variants=("default")
[ "$mode" = full ] && variants+=("DEBUG=1" "CALIBRATE=0")
for v in "${variants[@]}"; do
    args=()
    [ "$v" != default ] && args=("$v")
    t=${v//[^A-Za-z0-9]/}
    build "$t-plain" 0 2 ${args[@]+"${args[@]}"}
    build "$t-pre" 1 2 ${args[@]+"${args[@]}"}
    same "$t-plain" "$t-pre"
    if [ "$mode" = full ]; then
        build "$t-pre1" 1 1 ${args[@]+"${args[@]}"}
        same "$t-plain" "$t-pre1"
    fi
done
# The products work: the preloaded build's micro, under the preloaded build's own
# library, computes the same checksum as the plain build's micro on glibc.
pre=$work/src/out-default-pre
plain=$work/src/out-default-plain
a=$(timeout 60 "$plain/bench/micro" pingpong 200000 2>&1)
b=$(LD_PRELOAD="$pre/libpoolalloc.so" timeout 60 "$pre/bench/micro" pingpong 200000 2>&1)
ca=$(echo "$a" | grep -o 'check=[0-9]*')
cb=$(echo "$b" | grep -o 'check=[0-9]*')
if [ -z "$ca" ] || [ "$ca" != "$cb" ] || [[ $b != *lib=libpoolalloc.so* ]]; then
    echo "FAIL $name: the built micro does not agree with itself: plain '$a', preloaded build under its own library '$b'"
    exit 1
fi
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
echo "PASS $name ($secs s): ${#variants[@]} variant(s), $compared products (objects, libpoolalloc.so, optdoc, poolstat, micro$([ "$mode" = full ] && echo ", unit tests")) byte-identical to the plain build; the built micro agrees ($cb)"
