#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# env_values_handled — the POOLALLOC_* variables as a user sets them, right or wrong.
#
# A bad value prints exactly one stderr line that starts with "poolalloc:" and names
# the variable, and the program runs as it would have (same stdout, exit 0, default
# max size still in force).  A good POOLALLOC_MAX_SIZE (with a k suffix or without)
# takes effect silently.  POOLALLOC_STATS=1 prints a summary whose first line starts
# with "poolalloc:" and contains "summary" and the version, and leaves the program's
# stdout alone.  An unknown POOLALLOC_* name (a typo) gets one line each, with the closest
# known name when there is one, and changes nothing else; a set-uid program says nothing
# about them (it ignores the environment).
#
# preload-test: no-glibc-variant (every check is about the allocator's own messages)
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
[ -n "$LIB" ] || skip "needs the allocator (no glibc variant)"

probe=$PT_WORK/env_probe
${CC:-gcc} -O2 -g -Wall -Wextra -Werror -pthread -o "$probe" "$PT_DIR/support/env_probe.c" -ldl ||
    { echo "reason: env_probe does not compile"; exit 1; }

# Start from a clean slate: none of the variables set, whatever the caller's shell has
# (an unknown name left there would be warned about in every run);
# but the pools from the first request (POOLALLOC_START_MS=0): the probe checks which
# sizes they serve, and ends before the default start.
clean=(env -u POOLALLOC_MAX_SIZE -u POOLALLOC_FLUSH_MS -u POOLALLOC_CPU_CACHE -u POOLALLOC_STATS
       -u POOLALLOC_VERBOSE -u POOLALLOC_SAMPLE -u POOLALLOC_START_ALLOCS -u LD_PRELOAD
       POOLALLOC_START_MS=0)

while read -r v; do unset "$v"; done < <(compgen -e | grep '^POOLALLOC_')

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

run_case max_size_banana 262144 POOLALLOC_MAX_SIZE POOLALLOC_MAX_SIZE=banana
run_case max_size_trailing_junk 262144 POOLALLOC_MAX_SIZE POOLALLOC_MAX_SIZE=12q
run_case flush_negative 262144 POOLALLOC_FLUSH_MS POOLALLOC_FLUSH_MS=-5
run_case cpu_cache_overflow 262144 POOLALLOC_CPU_CACHE POOLALLOC_CPU_CACHE=99999999999999999999
run_case three_bad_values 262144 "POOLALLOC_MAX_SIZE POOLALLOC_FLUSH_MS POOLALLOC_CPU_CACHE" \
    POOLALLOC_MAX_SIZE=banana POOLALLOC_FLUSH_MS=-5 POOLALLOC_CPU_CACHE=99999999999999999999
run_case defaults 262144 "" POOLALLOC_FLUSH_MS=200
run_case max_size_4k 4096 "" POOLALLOC_MAX_SIZE=4k
run_case max_size_plain_bytes 16384 "" POOLALLOC_MAX_SIZE=16384

# Unknown names: one line each, the value in force unchanged.
run_case unknown_maxsize 262144 POOLALLOC_MAXSIZE POOLALLOC_MAXSIZE=1k
grep -qx 'poolalloc: POOLALLOC_MAXSIZE: unknown, did you mean POOLALLOC_MAX_SIZE?' \
    "$PT_WORK/unknown_maxsize.err" ||
    fail "POOLALLOC_MAXSIZE=1k: want the line 'poolalloc: POOLALLOC_MAXSIZE: unknown, did you mean POOLALLOC_MAX_SIZE?', got: $(head -c 300 "$PT_WORK/unknown_maxsize.err")"
run_case unknown_beside_good 4096 "POOLALLOC_FLUSHMS POOLALLOC_FOO" POOLALLOC_MAX_SIZE=4k \
    POOLALLOC_FLUSHMS=5 POOLALLOC_FOO=1
grep -q 'POOLALLOC_FLUSHMS: unknown, did you mean POOLALLOC_FLUSH_MS?' \
    "$PT_WORK/unknown_beside_good.err" || fail "POOLALLOC_FLUSHMS: no suggestion of POOLALLOC_FLUSH_MS"
grep 'POOLALLOC_FOO' "$PT_WORK/unknown_beside_good.err" | grep -q 'did you mean' &&
    fail "POOLALLOC_FOO: a suggestion, though no known name is close"
run_case unknown_and_bad_value 262144 "POOLALLOC_MAX_SIZE POOLALLOC_SAMPEL" \
    POOLALLOC_MAX_SIZE=banana POOLALLOC_SAMPEL=0
run_case wrapper_variable_is_known 262144 "" POOLALLOC_LIB="$LIB"
# Many: capped at 8 names and one line saying there are more.
many=()
for i in $(seq 1 12); do many+=("POOLALLOC_ZZ$i=1"); done
"${clean[@]}" LD_PRELOAD="$LIB" "${many[@]}" "$probe" >"$PT_WORK/many.out" 2>"$PT_WORK/many.err" ||
    fail "12 unknown names: exit status $?"
[ "$(grep -c ': unknown, ' "$PT_WORK/many.err")" -eq 8 ] && [ "$(wc -l <"$PT_WORK/many.err")" -eq 9 ] &&
    grep -q '^poolalloc: more unknown POOLALLOC_\* names' "$PT_WORK/many.err" ||
    fail "12 unknown names: want 8 named and one 'more' line, got $(wc -l <"$PT_WORK/many.err") lines"

# A set-uid program ignores the environment: not a word about unknown names. Linked
# with the library (the loader ignores LD_PRELOAD paths there), run as nobody.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    sdir=$(mktemp -d /tmp/pa-envsuid.XXXXXX)
    chmod 755 "$sdir"
    # Under both names: the library may carry the SONAME libpoolalloc.so.1.
    cp "$LIB" "$sdir/libpoolalloc.so"
    cp "$LIB" "$sdir/libpoolalloc.so.1"
    printf '#include <stdio.h>\n#include <sys/auxv.h>\nint main(void) { printf("secure %%lu\\n", getauxval(AT_SECURE)); return 0; }\n' >"$PT_WORK/suid.c"
    if ${CC:-gcc} -O1 -o "$sdir/prog" "$PT_WORK/suid.c" -L"$sdir" -Wl,--no-as-needed \
        -l:libpoolalloc.so -Wl,-rpath,"$sdir"; then
        chmod 4755 "$sdir/prog"
        out=$("${clean[@]}" POOLALLOC_MAXSIZE=1k "$sdir/prog" 2>"$PT_WORK/suid.plain.err")
        grep -q 'POOLALLOC_MAXSIZE: unknown' "$PT_WORK/suid.plain.err" ||
            fail "the linked program run by root did not warn (control): $out"
        out=$("${clean[@]}" POOLALLOC_MAXSIZE=1k setpriv --reuid=65534 --regid=65534 \
            --clear-groups "$sdir/prog" 2>"$PT_WORK/suid.err")
        if [ "$out" = "secure 1" ]; then
            [ -s "$PT_WORK/suid.err" ] &&
                fail "a set-uid program warned about an unknown name: $(head -c 200 "$PT_WORK/suid.err")"
        else
            echo "note: the set-uid program did not run with AT_SECURE here ($out): not checked" >&2
        fi
    else
        fail "cannot build the set-uid test program"
    fi
    rm -rf "$sdir"
fi

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
version=$(sed -n 's/^#define POOLALLOC_VERSION "\(.*\)"$/\1/p' "$PT_DIR/../../include/poolalloc.h")
[ -n "$version" ] || fail "no POOLALLOC_VERSION in include/poolalloc.h"
case $first in
poolalloc:*summary*"$version"*) ;;
*)
    fail "POOLALLOC_STATS=1 ls /: first stderr line is '$first', expected 'poolalloc: ...summary...VERSION...'"
    ;;
esac
# Without POOLALLOC_STATS the summary must not appear.
"${clean[@]}" LD_PRELOAD="$LIB" ls / >/dev/null 2>"$PT_WORK/ls.nostats.err"
if [ -s "$PT_WORK/ls.nostats.err" ]; then
    fail "ls / preloaded without POOLALLOC_STATS wrote to stderr"
    head -3 "$PT_WORK/ls.nostats.err" | sed 's/^/    stderr: /' >&2
fi

finish
