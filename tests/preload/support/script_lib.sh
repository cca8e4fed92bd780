# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# script_lib.sh — sourced by the tests/preload/*.sh scripts, never run on its own.
#
# A script is called as `bash NAME.sh LIB BUILDDIR` by run.sh.  LIB is the absolute path
# of libpoolalloc.so, or empty: then the "preloaded" runs are plain too and the script
# only proves that what it compares is deterministic (the runner's [glibc] self-check).
#
# Protocol back to the runner: details of each problem on stderr; the last stdout line
# is `reason: ...` when the script fails; exit 0 = pass, 1 = fail, 77 = skipped (a
# missing program: counted as a failure by the runner, never as a pass).

LIB=${1-}
BUILDDIR=${2:?usage: $0 LIB BUILDDIR}
# shellcheck disable=SC2034 # used by the scripts that source this file
PT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PT_NAME=$(basename "$0" .sh)
PT_WORK=$BUILDDIR/tests/preload/$PT_NAME.d
rm -rf "$PT_WORK"
mkdir -p "$PT_WORK"
PT_FAILS=0
PT_FIRST=

# Record one problem; the first one becomes the reason line.
fail() {
    echo "  $*" >&2
    PT_FAILS=$((PT_FAILS + 1))
    [ -n "$PT_FIRST" ] || PT_FIRST=$*
}

skip() {
    echo "reason: SKIP $*"
    exit 77
}

# need PROGRAM...: skip the whole script if one is missing.
need() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || [ -x "$p" ] || skip "$p not installed"
    done
}

# Run a command with the allocator preloaded (LD_PRELOAD is inherited by children).
preloaded() {
    env LD_PRELOAD="$LIB" "$@"
}

# Run a command with no preload at all.
plain() {
    env -u LD_PRELOAD "$@"
}

# same_file WHAT EXPECTED ACTUAL: byte-for-byte equality, first differences on stderr.
same_file() {
    if ! cmp -s "$2" "$3"; then
        fail "$1 differs between the plain and the preloaded run"
        diff "$2" "$3" 2>&1 | head -20 | sed 's/^/    /' >&2
        return 1
    fi
}

finish() {
    if [ "$PT_FAILS" -gt 0 ]; then
        echo "reason: $PT_FIRST${PT_FAILS:+ ($PT_FAILS problem(s))}"
        exit 1
    fi
    echo ok
    exit 0
}
