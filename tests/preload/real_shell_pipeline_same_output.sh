#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# real_shell_pipeline_same_output — `sh -c 'seq | awk | sort | uniq -c | sort -n | md5sum'`
# with LD_PRELOAD exported to every process of the pipeline gives the same digest as
# the plain run, and no stage writes to stderr.
#
# preload-test: glibc-variant (plain vs plain proves the pipeline is deterministic)
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
need sh seq awk sort uniq md5sum

# awk builds and drops many strings of varied lengths and a large associative array;
# sort holds the whole input; uniq and md5sum stream.
pipeline='seq 1 300000 |
  awk '\''{ k = $1 % 4999; a[k] = a[k] substr("abcdefghijklmnopqrstuvwxyz", 1 + $1 % 26, 1 + $1 % 7);
           if (length(a[k]) > 200) { print k, a[k]; delete a[k] }
           print $1 % 1000, ($1 * 7) % 13 }
       END { for (k in a) print k, length(a[k]) }'\'' |
  sort | uniq -c | sort -n | md5sum'

run() { # run plain|preloaded TAG
    local rc=0
    "$1" env LC_ALL=C sh -c "$pipeline" >"$PT_WORK/$2.out" 2>"$PT_WORK/$2.err" || rc=$?
    echo "$rc" >"$PT_WORK/$2.rc"
}
run plain plain
run preloaded preloaded

[ "$(cat "$PT_WORK/plain.rc")" = 0 ] || fail "the pipeline fails even without the allocator"
# md5 of empty input: the pipeline produced nothing
grep -q d41d8cd98f00b204e9800998ecf8427e "$PT_WORK/plain.out" && fail "the pipeline printed nothing"
same_file "exit status" "$PT_WORK/plain.rc" "$PT_WORK/preloaded.rc"
same_file "digest" "$PT_WORK/plain.out" "$PT_WORK/preloaded.out"
if [ -s "$PT_WORK/preloaded.err" ]; then
    fail "a pipeline stage wrote to stderr under the preload"
    head -5 "$PT_WORK/preloaded.err" | sed 's/^/    stderr: /' >&2
fi
finish
