#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the sampling tier: allocation sites and heap profiles of real
# preloaded programs, asked over their stats socket by poolstat and by raw
# clients, and read by google-pprof.
#
# usage: tests/sample/run.sh LIB BUILDDIR
#   LIB       the allocator (build/libpoolalloc.so); BUILDDIR holds poolstat (make poolstat).
#   Helpers in tests/sample/support/*.c are built into BUILDDIR/tests/sample/.
# environment: CC (default gcc), SAMPLE_TESTS=substring (run only matching tests).
#
# Each tests/sample/NAME.py runs as `python3 NAME.py LIB BUILDDIR` under a timeout and
# prints `reason: ...` when it fails. Output: `PASS name (N.N s)` or `FAIL name: reason`
# (+ the last 20 lines of its stderr) per test, and last, alone, `N passed, M failed`.
# Exit 1 if anything failed, 2 on a usage error.
set -u
export LC_ALL=C
unset LD_PRELOAD
ulimit -c 0

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
    echo "usage: $0 LIB BUILDDIR" >&2
    exit 2
fi
lib=$1
if [ ! -f "$lib" ]; then
    echo "run.sh: $lib does not exist (run make first)" >&2
    exit 2
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
mkdir -p "$2/tests/sample/logs" || exit 2
builddir=$(cd "$2" && pwd)
out=$builddir/tests/sample
logs=$out/logs
cc=${CC:-gcc}
filter=${SAMPLE_TESTS:-}
if [ ! -x "$builddir/poolstat" ]; then
    echo "run.sh: $builddir/poolstat does not exist (make poolstat)" >&2
    exit 2
fi
for tool in google-pprof addr2line; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL $tool is missing (make sample-tests installs google-perftools and binutils)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

passed=0
failed=0
t_start=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# -O2 with the frames the tests name kept: sites.c marks its sites noinline.
build_failed=
build() {
    local name=$1
    shift
    "$cc" -O2 -g -Wall -Wextra -Werror -o "$out/$name" "$@" >"$logs/$name.build" 2>&1 ||
        build_failed="$build_failed $name"
}
build sites "$here/support/sites.c"
build stress -pthread "$here/support/stress.c" -lunwind
build scope "$here/support/scope.c" -ldl
build malloc_spy.so -shared -fPIC "$here/../socket/support/malloc_spy.c" -ldl
build early "$here/support/early.c"
build libearly.so -shared -fPIC -DEARLY_LIB "$here/support/early.c"
if [ -n "$build_failed" ]; then
    echo "FAIL support programs do not build:$build_failed (logs in $logs)"
    echo "0 passed, 1 failed"
    exit 1
fi

for t in "$here"/*.py; do
    name=$(basename "$t" .py)
    [ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
    t0=$EPOCHREALTIME
    rc=0
    timeout -k 5 90 python3 "$t" "$lib" "$builddir" </dev/null >"$logs/$name.out" 2>"$logs/$name.err" || rc=$?
    reason=$(sed -n 's/^reason: //p' "$logs/$name.out" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name ($(elapsed "$t0") s)"
        passed=$((passed + 1))
    else
        [ "$rc" -eq 124 ] && reason="timed out after 90 s (hang?)"
        [ -n "$reason" ] || reason="exit status $rc"
        echo "FAIL $name: $reason"
        [ -s "$logs/$name.err" ] && tail -n 20 "$logs/$name.err" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done

echo "total $(elapsed "$t_start") s, logs in $logs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
