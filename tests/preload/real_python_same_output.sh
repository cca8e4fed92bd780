#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# real_python_same_output — /usr/bin/python3 running an allocation-heavy script
# (support/alloc_churn.py: dict/list/string churn, json round trips, threads, sorting)
# prints the same bytes, stderr and exit status with and without the allocator.
# PYTHONMALLOC=malloc routes every Python object through malloc instead of pymalloc's
# own arenas; PYTHONHASHSEED=0 makes the run deterministic.
#
# preload-test: glibc-variant (plain vs plain proves the workload is deterministic)
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
py=/usr/bin/python3
need "$py"

run() { # run plain|preloaded TAG
    local rc=0
    "$1" env PYTHONHASHSEED=0 PYTHONMALLOC=malloc "$py" "$PT_DIR/support/alloc_churn.py" \
        >"$PT_WORK/$2.out" 2>"$PT_WORK/$2.err" || rc=$?
    echo "$rc" >"$PT_WORK/$2.rc"
}
run plain plain
run preloaded preloaded

[ "$(cat "$PT_WORK/plain.rc")" = 0 ] || fail "python3 fails even without the allocator"
grep -q '^final digest: ' "$PT_WORK/plain.out" || fail "plain run printed no final digest"
same_file "exit status" "$PT_WORK/plain.rc" "$PT_WORK/preloaded.rc"
same_file "stdout" "$PT_WORK/plain.out" "$PT_WORK/preloaded.out"
same_file "stderr" "$PT_WORK/plain.err" "$PT_WORK/preloaded.err"
[ "$PT_FAILS" -gt 0 ] && tail -5 "$PT_WORK/preloaded.err" | sed 's/^/    preloaded stderr: /' >&2
finish
