#!/usr/bin/env bash
# env_values_handled — the POOLALLOC_* variables as a user sets them, right or wrong.
#
# A bad value prints exactly one stderr line that starts with "poolalloc:" and names
# the variable, and the program runs as it would have (same stdout, exit 0, default
# max size still in force).  A good POOLALLOC_MAX_SIZE (with a k suffix or without)
# takes effect silently.  POOLALLOC_STATS=1 prints a summary whose first line starts
# with "poolalloc:" and contains "summary", and leaves the program's stdout alone.
#
# preload-test: no-glibc-variant (every check is about the allocator's own messages)
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
[ -n "$LIB" ] || skip "needs the allocator (no glibc variant)"

probe=$PT_WORK/env_probe
${CC:-gcc} -O2 -g -Wall -Wextra -Werror -pthread -o "$probe" "$PT_DIR/support/env_probe.c" -ldl ||
    { echo "reason: env_probe does not compile"; exit 1; }

# Start from a clean slate: none of the variables set, whatever the caller's shell has;
# but the pools from the first request (POOLALLOC_START_MS=0): the probe checks which
# sizes they serve, and ends before the default start.
clean=(env -u POOLALLOC_MAX_SIZE -u POOLALLOC_FLUSH_MS -u POOLALLOC_CPU_CACHE -u POOLALLOC_STATS
       -u POOLALLOC_VERBOSE -u POOLALLOC_SAMPLE -u POOLALLOC_START_ALLOCS -u LD_PRELOAD
       POOLALLOC_START_MS=0)

"${clean[@]}" "$probe" >"$PT_WORK/plain.out" 2>"$PT_WORK/plain.err" ||
    { echo "reason: env_probe fails without the allocator"; exit 1; }

# run_case LABEL EXPECTED_MAX EXPECTED_WARNINGS VAR=VALUE...
# EXPECTED_WARNINGS: space-separated variable names, one warning line each, in any order.
run_case() {
    local label=$1 max=$2 warned=$3
    shift 3
    local out=$PT_WORK/$label.out err=$PT_WORK/$label.err rc=0
    "${clean[@]}" LD_PRELOAD="$LIB" "$@" "$probe" --expect-max "$max" >"$out" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "$label ($*): exit status $rc"
        sed 's/^/    stderr: /' "$err" | head -5 >&2
    fi
    same_file "$label: stdout" "$PT_WORK/plain.out" "$out"
    local want=0 v
    for v in $warned; do
        want=$((want + 1))
        if [ "$(grep -c "^poolalloc:.*$v" "$err")" -ne 1 ]; then
            fail "$label ($*): expected exactly one stderr line 'poolalloc: ...$v...'"
        fi
    done
    local lines
    lines=$(wc -l <"$err")
    if [ "$lines" -ne "$want" ]; then
        fail "$label ($*): $lines stderr line(s), expected $want"
        sed 's/^/    stderr: /' "$err" | head -5 >&2
    fi
}

run_case max_size_banana 32768 POOLALLOC_MAX_SIZE POOLALLOC_MAX_SIZE=banana
run_case max_size_trailing_junk 32768 POOLALLOC_MAX_SIZE POOLALLOC_MAX_SIZE=12q
run_case flush_negative 32768 POOLALLOC_FLUSH_MS POOLALLOC_FLUSH_MS=-5
run_case cpu_cache_overflow 32768 POOLALLOC_CPU_CACHE POOLALLOC_CPU_CACHE=99999999999999999999
run_case three_bad_values 32768 "POOLALLOC_MAX_SIZE POOLALLOC_FLUSH_MS POOLALLOC_CPU_CACHE" \
    POOLALLOC_MAX_SIZE=banana POOLALLOC_FLUSH_MS=-5 POOLALLOC_CPU_CACHE=99999999999999999999
run_case defaults 32768 "" POOLALLOC_FLUSH_MS=200
run_case max_size_4k 4096 "" POOLALLOC_MAX_SIZE=4k
run_case max_size_plain_bytes 16384 "" POOLALLOC_MAX_SIZE=16384

# Verbose logging may say what it likes on stderr, but not on stdout, and must not fail.
rc=0
"${clean[@]}" LD_PRELOAD="$LIB" POOLALLOC_VERBOSE=1 "$probe" >"$PT_WORK/verbose.out" \
    2>"$PT_WORK/verbose.err" || rc=$?
[ "$rc" -eq 0 ] || fail "POOLALLOC_VERBOSE=1: exit status $rc"
same_file "POOLALLOC_VERBOSE=1: stdout" "$PT_WORK/plain.out" "$PT_WORK/verbose.out"

# POOLALLOC_STATS=1 ls /
"${clean[@]}" ls / >"$PT_WORK/ls.plain.out" 2>"$PT_WORK/ls.plain.err"
plain_rc=$?
rc=0
"${clean[@]}" LD_PRELOAD="$LIB" POOLALLOC_STATS=1 ls / >"$PT_WORK/ls.stats.out" \
    2>"$PT_WORK/ls.stats.err" || rc=$?
[ "$rc" -eq "$plain_rc" ] || fail "POOLALLOC_STATS=1 ls /: exit status $rc, plain $plain_rc"
same_file "POOLALLOC_STATS=1 ls /: stdout" "$PT_WORK/ls.plain.out" "$PT_WORK/ls.stats.out"
first=$(head -n 1 "$PT_WORK/ls.stats.err")
case $first in
poolalloc:*summary*) ;;
*)
    fail "POOLALLOC_STATS=1 ls /: first stderr line is '$first', expected 'poolalloc: ...summary...'"
    ;;
esac
# Without POOLALLOC_STATS the summary must not appear.
"${clean[@]}" LD_PRELOAD="$LIB" ls / >/dev/null 2>"$PT_WORK/ls.nostats.err"
if [ -s "$PT_WORK/ls.nostats.err" ]; then
    fail "ls / preloaded without POOLALLOC_STATS wrote to stderr"
    head -3 "$PT_WORK/ls.nostats.err" | sed 's/^/    stderr: /' >&2
fi

finish
