#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh — the integration tier: programs and real tools under LD_PRELOAD=libpoolalloc.so.
#
# usage: tests/preload/run.sh LIB BUILDDIR
#   LIB       the allocator (build/libpoolalloc.so).  A missing LIB is a hard error
#             (exit 2).  LIB=none, or PRELOAD_LIB=none in the environment, runs only the
#             plain-glibc variants: the mode for developing the tests themselves.
#   BUILDDIR  test binaries go to BUILDDIR/tests/preload/, logs to .../logs/.
# environment: CC (default gcc), PRELOAD_TESTS=substring (run only matching tests),
# PRELOAD_C_ONLY=1 (only the C tests, under the library: no glibc runs, no scripts;
# make test-debug's selection, where the assertions are what is tested).
#
# What runs:
#   tests/preload/*.c   compiled with $CC -O2 -g -Wall -Wextra -Werror -pthread, each run
#                       once on plain glibc as NAME[glibc] (proves the test is right),
#                       once preloaded as NAME, and for some once more per setting in
#                       variants_of() below as NAME[LABEL].
#   threads_fork_random_torture  a few seconds of the stress tier's torture
#                       (tests/stress/torture*.c), compiled and run as the C tests are,
#                       with the arguments of args_of() below.
#   tests/preload/*.sh  (not this file) run as `bash NAME.sh LIB BUILDDIR`; they compare
#                       plain against preloaded runs themselves.  In the glibc-only mode,
#                       those marked "preload-test: glibc-variant" run with an empty LIB
#                       (plain vs plain) as NAME[glibc]; the others are left out.
# Every run has a timeout (a hang is a failure); the runner and its output (PASS, FAIL,
# SKIP for a missing program, counted as failed; `N passed, M failed` last) are
# tests/lib/runner.sh.
# shellcheck source=../lib/runner.sh
. "$(dirname "$0")/../lib/runner.sh"
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
runner_dirs preload "$2"
cflags=(-O2 -g -Wall -Wextra -Werror -pthread)
filter=${PRELOAD_TESTS:-}
c_only=${PRELOAD_C_ONLY:-0}

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
    memory_returns_to_os | passthrough_blocks_go_back_to_os_when_idle) echo POOLALLOC_FLUSH_MS=200 ;;
    # No flush may give the first class's pages back before the second class grows.
    pages_move_between_classes) echo POOLALLOC_FLUSH_MS=0 POOLALLOC_SAMPLE=0 ;;
    # They check which allocator serves each request; a sampled request is served by
    # the C library by design (sampler/sample.h), so sampling is off for them (and for
    # the aligned one, so that every aligned request of a pooled size is a pool's).
    aligned_requests_answer_as_glibc_does | realloc_keeps_content_and_frees_at_zero | \
        request_sizes_from_zero_to_huge_answer_as_glibc_does | c_api_reports_and_flushes | \
        pool_exhaustion_falls_back | consecutive_objects_lie_in_address_order)
        echo POOLALLOC_SAMPLE=0 ;;
    esac
}

# Extra preloaded runs of a C test under other settings, one per line: LABEL VAR=VALUE...
# run as NAME[LABEL].  no-rseq: glibc does not register rseq, so the allocator's
# fallback path runs; flush-1ms + tiny cache: flushes and drains race the workers;
# late-start: the pools start in the middle of the run (after 200 requests, while
# threads, forks and signal handlers allocate), fork children start again after theirs;
# max-32k: a limit below the largest classes, so requests of 32..256 KiB pass through.
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
    aligned_requests_answer_as_glibc_does | realloc_keeps_content_and_frees_at_zero | \
        request_sizes_from_zero_to_huge_answer_as_glibc_does)
        echo "max-32k POOLALLOC_MAX_SIZE=32k"
        ;;
    passthrough_blocks_go_back_to_os_when_idle)
        echo "user-tuned MALLOC_MMAP_THRESHOLD_=131072"
        echo "mallopt PT_MALLOPT=1"
        echo "mallopt-late-start PT_MALLOPT=1 POOLALLOC_START_MS=600000 POOLALLOC_START_ALLOCS=3000 POOLALLOC_VERBOSE=1"
        echo "mallopt-other-late-start PT_MALLOPT_OTHER=1 POOLALLOC_START_MS=600000 POOLALLOC_START_ALLOCS=3000"
        echo "thread-only PT_THREAD_ONLY=1 POOLALLOC_START_MS=50 POOLALLOC_START_ALLOCS=1000000000"
        ;;
    pages_move_between_classes)
        echo "no-rseq GLIBC_TUNABLES=glibc.pthread.rseq=0"
        ;;
    thread_exit_and_teardown)
        echo "flush-1ms POOLALLOC_FLUSH_MS=1"
        echo "late-start POOLALLOC_START_MS=20 POOLALLOC_START_ALLOCS=200"
        ;;
    esac
}

# Arguments of a C test's program (every variant). The torture: rounds of 2..16 threads
# with storms of 1-2 fork children (the first of each runs two threads and forks a
# grandchild) for 3 s; -w 25: no progress for 25 s, or a fork child hung for 25 s, fails
# it well before timeout_of; -v: a line per round and per fork child, the count of each
# call.
args_of() {
    case $1 in
    threads_fork_random_torture) echo "-t 3 -r 500 -T 2-16 -f 2 -w 25 -v" ;;
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
    threads_fork_random_torture) echo -lm ;;
    esac
}

# ---- C programs -------------------------------------------------------------------------

run_c() { # run_c NAME EXE VARIANT(glibc|preload|LABEL) [VAR=VALUE...]
    local name=$1 exe=$2 variant=$3 display=$1 tag=$1
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
    local -a args
    read -r -a args <<<"$(args_of "$name")"
    runner_test "$display" "$tag" "$(timeout_of "$name")" env ${envs[@]+"${envs[@]}"} "$exe" \
        ${args[@]+"${args[@]}"}
}

c_test() { # c_test NAME SOURCE...: build it, run it on glibc, preloaded, in its variants
    local name=$1 exe=$out/$1 extra label settings
    shift
    [ -n "$filter" ] && [[ $name != *"$filter"* ]] && return
    if ! extra=$(prepare "$name" 2>"$logs/$name.build"); then
        report_fail "$name" "support pieces do not build" "$logs/$name.build"
        return
    fi
    local -a extra_args vars
    mapfile -t extra_args <<<"$extra"
    [ -z "$extra" ] && extra_args=()
    if ! "$cc" "${cflags[@]}" -o "$exe" "$@" ${extra_args[@]+"${extra_args[@]}"} -ldl \
        >>"$logs/$name.build" 2>&1; then
        report_fail "$name" "does not compile with $cc" "$logs/$name.build"
        return
    fi
    [ "$c_only" = 1 ] || run_c "$name" "$exe" glibc
    [ "$lib" = none ] && return
    run_c "$name" "$exe" preload
    while read -r label settings; do
        [ -n "$label" ] || continue
        read -r -a vars <<<"$settings"
        run_c "$name" "$exe" "$label" "${vars[@]}"
    done < <(variants_of "$name")
}

for src in "$here"/*.c; do
    [ -e "$src" ] || continue
    c_test "$(basename "$src" .c)" "$src"
done
# C tests whose program lives in another tier.
c_test threads_fork_random_torture "$here"/../stress/torture*.c

# ---- scripts (real programs, environment) -------------------------------------------------

for script in "$here"/*.sh; do
    [ "$c_only" = 1 ] && break
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
    runner_test "$display" "$tag" "$(timeout_of "$name")" env CC="$cc" bash "$script" "$arg" "$builddir"
done

runner_end
