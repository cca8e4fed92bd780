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
# prints `reason: ...` when it fails; the runner and its output are tests/lib/runner.sh.
# shellcheck source=../lib/runner.sh
. "$(dirname "$0")/../lib/runner.sh"
runner_lib "$@"
runner_dirs sample "$2"
runner_need_poolstat
for tool in google-pprof addr2line; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL $tool is missing (make sample-tests installs google-perftools and binutils)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# -O2 with the frames the tests name kept: sites.c marks its sites noinline.
runner_build sites "$here/support/sites.c"
runner_build stress -pthread "$here/support/stress.c" -lunwind
runner_build scope "$here/support/scope.c" -ldl
runner_build malloc_spy.so -shared -fPIC "$here/../socket/support/malloc_spy.c" -ldl
runner_build early "$here/support/early.c"
runner_build libearly.so -shared -fPIC -DEARLY_LIB "$here/support/early.c"
runner_built

runner_py_tests "${SAMPLE_TESTS:-}"
runner_end
