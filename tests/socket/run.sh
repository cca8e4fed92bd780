#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the live-stats tier: real preloaded programs asked over their stats
# socket, by poolstat and by raw clients.
#
# usage: tests/socket/run.sh LIB BUILDDIR
#   LIB       the allocator (build/libpoolalloc.so); BUILDDIR holds poolstat (make poolstat).
#   Helpers in tests/socket/support/*.c are built into BUILDDIR/tests/socket/.
# environment: CC (default gcc), SOCKET_TESTS=substring (run only matching tests).
#
# Each tests/socket/NAME.py runs as `python3 NAME.py LIB BUILDDIR` under a timeout and
# prints `reason: ...` when it fails; the runner and its output are tests/lib/runner.sh.
# shellcheck source=../lib/runner.sh
. "$(dirname "$0")/../lib/runner.sh"
runner_lib "$@"
runner_dirs socket "$2"
runner_need_poolstat
# socat is how a person reads the socket; one test uses it.
if ! command -v socat >/dev/null && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null 2>&1; }
fi

for h in holder daemon noshare; do
    runner_build "$h" "$here/support/$h.c"
done
runner_build malloc_spy.so -shared -fPIC "$here/support/malloc_spy.c" -ldl
runner_built

runner_py_tests "${SOCKET_TESTS:-}"
runner_end
