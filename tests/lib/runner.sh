# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# runner.sh - what the test tiers' run.sh share; sourced by them, never run on its own.
#
# A tier's run.sh (tests/TIER/run.sh) sources this file, checks its arguments with
# runner_lib (or a check of its own) and runner_dirs, builds
# its helpers with runner_build, runs each test with runner_test and ends with
# runner_end. What a test sees is set here once for every tier: LC_ALL=C, no
# LD_PRELOAD, no core files, stdin from /dev/null, its own .out and .err in the logs
# folder, a timeout.
#
# Output, the same in every tier: one line per test, `PASS name (N.N s)`,
# `FAIL name: reason` (+ the last 20 lines of its stderr, indented) or
# `SKIP name: reason` (exit status 77: counted as failed, never as passed); then
# `total N.N s, logs in DIR` and last, alone, `N passed, M failed`. runner_end exits 1 if
# anything failed; a usage error exits 2 before any test runs.
set -u
export LC_ALL=C
unset LD_PRELOAD
ulimit -c 0

# here: the tier's folder (that of the run.sh which sourced this file).
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-gcc}
passed=0
failed=0
t_start=$EPOCHREALTIME
build_failed=

elapsed() { # elapsed T0: seconds since T0, one decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# Why a run with exit status RC failed, in words.
why() { # why RC TIMEOUT
    if [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; then
        echo "timed out after $2 s (hang?)"
    elif [ "$1" -gt 128 ]; then
        echo "killed by signal SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
    else
        echo "exit status $1"
    fi
}

report_fail() { # report_fail DISPLAY REASON STDERR_FILE
    echo "FAIL $1: $2"
    [ -s "$3" ] && tail -n 20 "$3" | sed 's/^/    /'
    failed=$((failed + 1))
}

# runner_lib LIB BUILDDIR: the two arguments every tier takes; sets lib to LIB's absolute
# path. A missing argument or LIB is a usage error (exit 2).
runner_lib() {
    if [ $# -lt 2 ]; then
        echo "usage: $0 LIB BUILDDIR" >&2
        exit 2
    fi
    if [ ! -f "$1" ]; then
        echo "run.sh: $1 does not exist (run make first)" >&2
        exit 2
    fi
    lib=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
}

# runner_dirs TIER BUILDDIR: makes BUILDDIR/tests/TIER/logs; sets builddir (absolute),
# out (where the tier's programs go) and logs.
runner_dirs() {
    mkdir -p "$2/tests/$1/logs" || exit 2
    builddir=$(cd "$2" && pwd)
    out=$builddir/tests/$1
    logs=$out/logs
}

# runner_need_poolstat: the live-stats tiers ask their programs with BUILDDIR/poolstat.
runner_need_poolstat() {
    if [ ! -x "$builddir/poolstat" ]; then
        echo "run.sh: $builddir/poolstat does not exist (make poolstat)" >&2
        exit 2
    fi
}

# runner_build NAME CC-ARGS...: compiles a helper into $out/NAME with $cc -O2 -g and
# warnings as errors; a failure is remembered for runner_built, the log is
# $logs/NAME.build.
runner_build() {
    local name=$1
    shift
    "$cc" -O2 -g -Wall -Wextra -Werror -o "$out/$name" "$@" >"$logs/$name.build" 2>&1 ||
        build_failed="$build_failed $name"
}

# runner_built: if a helper did not build, one FAIL line and the count, exit 1.
runner_built() {
    if [ -n "$build_failed" ]; then
        echo "FAIL support programs do not build:$build_failed (logs in $logs)"
        echo "0 passed, 1 failed"
        exit 1
    fi
}

# runner_test DISPLAY TAG TIMEOUT COMMAND...: runs COMMAND under the timeout, stdout to
# $logs/TAG.out, stderr to $logs/TAG.err, and prints its line. The reason of a failure is
# the last `reason: ...` line of its stdout, else why(). In a subshell, so that bash's own
# "Segmentation fault" line lands in the log.
runner_test() {
    local display=$1 tag=$2 to=$3 t0 rc=0 reason
    shift 3
    t0=$EPOCHREALTIME
    (
        timeout -k 5 "$to" "$@"
        exit $?
    ) </dev/null >"$logs/$tag.out" 2>"$logs/$tag.err" || rc=$?
    reason=$(sed -n 's/^reason: //p' "$logs/$tag.out" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "PASS $display ($(elapsed "$t0") s)"
        passed=$((passed + 1))
    elif [ "$rc" -eq 77 ]; then
        echo "SKIP $display: ${reason#SKIP }"
        failed=$((failed + 1))
    else
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || [ -z "$reason" ]; then
            reason=$(why "$rc" "$to")
        fi
        report_fail "$display" "$reason" "$logs/$tag.err"
    fi
}

# runner_py_tests FILTER: every $here/NAME.py whose name holds FILTER, run as
# `python3 NAME.py LIB BUILDDIR` with 90 s before it counts as hung. Such a test prints `reason: ...` when it fails; a test that
# cannot run here (not root) prints `skip: ...` and passes.
runner_py_tests() {
    local t name
    for t in "$here"/*.py; do
        name=$(basename "$t" .py)
        [ -n "$1" ] && [[ $name != *"$1"* ]] && continue
        runner_test "$name" "$name" 90 python3 "$t" "$lib" "$builddir"
    done
}

# runner_end: the closing lines; exits 1 if anything failed, else 0.
runner_end() {
    echo "total $(elapsed "$t_start") s, logs in $logs"
    echo "$passed passed, $failed failed"
    exit $((failed > 0))
}
