#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh — the integration tier: programs and real tools under LD_PRELOAD=libpoolalloc.so.
#
# usage: tests/preload/run.sh LIB BUILDDIR
#   LIB       the allocator (build/libpoolalloc.so).  A missing LIB is a hard error
#             (exit 2).  LIB=none, or PRELOAD_LIB=none in the environment, runs only the
#             plain-glibc variants: the mode for developing the tests themselves.
#   BUILDDIR  test binaries go to BUILDDIR/tests/preload/, logs to .../logs/.
# environment: CC (default gcc), PRELOAD_TESTS=substring (run only matching tests).
#
# What runs:
#   tests/preload/*.c   compiled with $CC -O2 -g -Wall -Wextra -Werror -pthread, each run
#                       once on plain glibc as NAME[glibc] (proves the test is right),
#                       once preloaded as NAME, and for some once more per setting in
#                       variants_of() below as NAME[LABEL].
#   tests/preload/*.sh  (not this file) run as `bash NAME.sh LIB BUILDDIR`; they compare
#                       plain against preloaded runs themselves.  In the glibc-only mode,
#                       those marked "preload-test: glibc-variant" run with an empty LIB
#                       (plain vs plain) as NAME[glibc]; the others are left out.
# Every run has a timeout (a hang is a failure).  Output: `PASS name (N.N s)` or
# `FAIL name: reason` (+ the last 20 lines of its stderr) per run, `SKIP name: reason`
# for a missing program (counted as failed), and last, alone, `N passed, M failed`.
# Exit 1 if anything failed, 2 on a usage error.
set -u
export LC_ALL=C
unset LD_PRELOAD
ulimit -c 0

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
    echo "usage: $0 LIB BUILDDIR   (LIB=none or PRELOAD_LIB=none: plain glibc only)" >&2
    exit 2
fi
lib=$1
[ "${PRELOAD_LIB:-}" = none ] && lib=none
if [ "$lib" != none ]; then
    if [ ! -f "$lib" ]; then
        echo "run.sh: $lib does not exist (run make first, or PRELOAD_LIB=none for glibc only)" >&2
        exit 2
    fi
    lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
    # The loader only warns when it cannot preload: make that a hard error here.
    if ! err=$(env LD_PRELOAD="$lib" /bin/true 2>&1) || [ -n "$err" ]; then
        echo "run.sh: $lib cannot be preloaded: $err" >&2
        exit 2
    fi
fi

mkdir -p "$2/tests/preload/logs" || exit 2
builddir=$(cd "$2" && pwd)
out=$builddir/tests/preload
logs=$out/logs
cc=${CC:-gcc}
cflags=(-O2 -g -Wall -Wextra -Werror -pthread)
filter=${PRELOAD_TESTS:-}

passed=0
failed=0
t_start=$EPOCHREALTIME

elapsed() { # elapsed T0: seconds since T0, one decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

report_fail() { # report_fail DISPLAY REASON STDERR_FILE
    echo "FAIL $1: $2"
    [ -s "$3" ] && tail -n 20 "$3" | sed 's/^/    /'
    failed=$((failed + 1))
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

# ---- per-test settings -----------------------------------------------------------------

# Seconds before a run counts as hung: several times the run's time on a loaded
# 2-core machine, small enough that a few hangs still end the tier in minutes.
timeout_of() {
    case $1 in
    threads_fork_random_torture | real_* | memory_returns_to_os) echo 60 ;;
    *) echo 45 ;;
    esac
}

# Environment a C test needs (both variants). Every preloaded run of a C test also gets
# POOLALLOC_START_MS=0 (pools, thread and socket from the first moment: these programs
# test the pools, and most end before the default start) unless its variant sets
# POOLALLOC_START_MS itself; the start is tested by start_waits_until_a_process_lives.sh
# and by the late-start variants below.
env_of() {
    case $1 in
    memory_returns_to_os) echo POOLALLOC_FLUSH_MS=200 ;;
    # They check which allocator serves each request; a sampled request is served by
    # the C library by design (stats/sample.h), so sampling is off for them.
    malloc_edge_cases | c_api_reports_and_flushes | pool_exhaustion_falls_back)
        echo POOLALLOC_SAMPLE=0 ;;
    esac
}

# Extra preloaded runs of a C test under other settings, one per line: LABEL VAR=VALUE...
# run as NAME[LABEL].  no-rseq: glibc does not register rseq, so the allocator's
# fallback path runs; flush-1ms + tiny cache: flushes and drains race the workers;
# late-start: the pools start in the middle of the run (after 200 requests, while
# threads, forks and signal handlers allocate), fork children start again after theirs.
variants_of() {
    case $1 in
    threads_fork_random_torture)
        echo "no-rseq GLIBC_TUNABLES=glibc.pthread.rseq=0"
        echo "flush-1ms POOLALLOC_FLUSH_MS=1 POOLALLOC_CPU_CACHE=4096"
        echo "late-start POOLALLOC_START_MS=20 POOLALLOC_START_ALLOCS=200"
        ;;
    signals_during_alloc)
        echo "no-rseq GLIBC_TUNABLES=glibc.pthread.rseq=0"
        echo "late-start POOLALLOC_START_MS=20 POOLALLOC_START_ALLOCS=200"
        ;;
    malloc_edge_cases) echo "max-256k POOLALLOC_MAX_SIZE=256k" ;;
    thread_exit_and_teardown)
        echo "flush-1ms POOLALLOC_FLUSH_MS=1"
        echo "late-start POOLALLOC_START_MS=20 POOLALLOC_START_ALLOCS=200"
        ;;
    esac
}

# Build extra pieces a C test needs; prints the extra link arguments.
prepare() { # prepare NAME
    case $1 in
    alloc_before_main)
        local s=$here/support/ctor_alloc_lib.c v
        for v in linked dlopened; do
            "$cc" "${cflags[@]}" -shared -fPIC -DCTOR_LIB_NAME=$v -o "$out/libctor_alloc_$v.so" \
                "$s" >&2 || return 1
        done
        printf '%s\n' "-L$out" -lctor_alloc_linked "-Wl,-rpath,\$ORIGIN"
        ;;
    esac
}

# ---- C programs -------------------------------------------------------------------------

run_c() { # run_c NAME EXE VARIANT(glibc|preload|LABEL) [VAR=VALUE...]
    local name=$1 exe=$2 variant=$3 display=$1 tag=$1 rc=0 t0 to
    shift 3
    local -a envs
    read -r -a envs <<<"$(env_of "$name")"
    if [ "$variant" = glibc ]; then
        display="${name}[glibc]"
        tag=$name.glibc
    else
        envs+=(LD_PRELOAD="$lib" PRELOAD_EXPECT_POOLALLOC=1)
        [[ " $* " == *" POOLALLOC_START_MS="* ]] || envs+=(POOLALLOC_START_MS=0)
        envs+=("$@")
        if [ "$variant" != preload ]; then
            display="${name}[$variant]"
            tag=$name.$variant
        fi
    fi
    to=$(timeout_of "$name")
    t0=$EPOCHREALTIME
    # In a subshell, so that bash's own "Segmentation fault" line lands in the log.
    (
        timeout -k 5 "$to" env ${envs[@]+"${envs[@]}"} "$exe"
        exit $?
    ) </dev/null >"$logs/$tag.out" 2>"$logs/$tag.err" || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "PASS $display ($(elapsed "$t0") s)"
        passed=$((passed + 1))
    else
        report_fail "$display" "$(why "$rc" "$to")" "$logs/$tag.err"
    fi
}

for src in "$here"/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    [ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
    exe=$out/$name
    if ! extra=$(prepare "$name" 2>"$logs/$name.build"); then
        report_fail "$name" "support pieces do not build" "$logs/$name.build"
        continue
    fi
    mapfile -t extra_args <<<"$extra"
    [ -z "$extra" ] && extra_args=()
    if ! "$cc" "${cflags[@]}" -o "$exe" "$src" ${extra_args[@]+"${extra_args[@]}"} -ldl \
        >>"$logs/$name.build" 2>&1; then
        report_fail "$name" "does not compile with $cc" "$logs/$name.build"
        continue
    fi
    run_c "$name" "$exe" glibc
    [ "$lib" = none ] && continue
    run_c "$name" "$exe" preload
    while read -r label settings; do
        [ -n "$label" ] || continue
        read -r -a vars <<<"$settings"
        run_c "$name" "$exe" "$label" "${vars[@]}"
    done < <(variants_of "$name")
done

# ---- scripts (real programs, environment) -------------------------------------------------

for script in "$here"/*.sh; do
    name=$(basename "$script" .sh)
    [ "$name" = run ] && continue
    [ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
    display=$name
    tag=$name
    arg=$lib
    if [ "$lib" = none ]; then
        grep -q 'preload-test: glibc-variant' "$script" || continue
        display="${name}[glibc]"
        tag=$name.glibc
        arg=
    fi
    to=$(timeout_of "$name")
    t0=$EPOCHREALTIME
    rc=0
    CC=$cc timeout -k 5 "$to" bash "$script" "$arg" "$builddir" </dev/null >"$logs/$tag.out" \
        2>"$logs/$tag.err" || rc=$?
    reason=$(sed -n 's/^reason: //p' "$logs/$tag.out" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "PASS $display ($(elapsed "$t0") s)"
        passed=$((passed + 1))
    elif [ "$rc" -eq 77 ]; then
        echo "SKIP $display: ${reason#SKIP }"
        failed=$((failed + 1))
    else
        [ -n "$reason" ] || reason=$(why "$rc" "$to")
        report_fail "$display" "$reason" "$logs/$tag.err"
    fi
done

echo "total $(elapsed "$t_start") s, logs in $logs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
