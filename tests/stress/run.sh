#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the stress tier: torture, soak, fallback mode, real suites, fuzzing.
#
# usage: tests/stress/run.sh short|full LIB BUILDDIR [ENV_FUZZER]
#   short  a few seconds of each part (~1.5 minutes on 2 cores): `make stress-short`,
#          part of `make test`
#   full   `make stress` (~15 minutes on 2 cores): 10-minute soaks, minutes of torture
#          in every mode, the long Python subset, redis-benchmark -n 100000, longer fuzzing
#   LIB    the allocator (build/libpoolalloc.so); BUILDDIR: programs and logs go to
#          BUILDDIR/stress/MODE/ (logs/: one .out/.err per part; python/, redis-MODE/,
#          gcc-build-MODE/, bin/, the fuzzer's corpus)
#   ENV_FUZZER  the libFuzzer binary of tests/fuzz/env_fuzz.c (built by tests/fuzz/fuzz.mk);
#          missing: the fuzz part fails
# environment: STRESS_ONLY=substring runs only the parts whose name contains it;
#          STRESS_SEED=N fixes every torture seed (default: new seeds, always printed).
#
# Parts (each prints PASS/FAIL NAME, its numbers, and on failure the reason, the tail of
# its stderr and any stack symbolized with addr2line):
#   selftest:*        the checks can fail: a torture with one byte flipped on purpose
#                     must report it, and the soak's memory rule must reject a torture that
#                     leaks on purpose
#   torture[glibc]    the torture (tests/stress/torture*.c) on plain glibc: proves the
#                     checks themselves
#   torture[...]      the torture preloaded, 2..64 threads, churn, fork storms, cross-thread
#                     frees; variants: no-rseq (GLIBC_TUNABLES=glibc.pthread.rseq=0, and the
#                     allocator must say "mode locked"), flush-1ms + 4 KiB caches, max 32k
#                     (requests of 32..256 KiB pass through)
#   soak              the torture preloaded for 600 s (short: 40 s), VmRSS and the stats sampled every
#                     5 s (short: 0.5 s); the memory rule is in soak_verdict below
#   soak[no-rseq]     the same soak under GLIBC_TUNABLES=glibc.pthread.rseq=0 (mode locked)
#   last-thread-exit  tests/preload/last_thread_exit_ends_process.c (also in make test)
#   python-regrtest   tests/suites/python_regrtest.py (glibc vs preload, PYTHONMALLOC=malloc)
#   redis             tests/suites/redis_check.py
#   gcc-build         tests/suites/gcc_build.sh
#   fuzz-env          libFuzzer on the POOLALLOC_* parser (short 20 s, full 120 s)
# Every part has a timeout. Last line, alone: "N passed, M failed"; exit 1 if anything
# failed, 2 on a usage error. Every process a part started is killed on the way out (they
# carry STRESS_RUN_ID in their environment; nothing else is touched).
set -u
export LC_ALL=C
unset LD_PRELOAD
ulimit -c 0

usage() {
    echo "usage: $0 short|full LIB BUILDDIR [ENV_FUZZER]" >&2
    exit 2
}
[ $# -ge 3 ] || usage
mode=$1
case $mode in short | full) ;; *) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -f "$2" ] || { echo "run.sh: $2 does not exist (run make first)" >&2; exit 2; }
lib=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
if ! err=$(env LD_PRELOAD="$lib" /bin/true 2>&1) || [ -n "$err" ]; then
    echo "run.sh: $lib cannot be preloaded: $err" >&2
    exit 2
fi
mkdir -p "$3/stress/$mode/logs" || exit 2
out=$(cd "$3" && pwd)/stress/$mode
logs=$out/logs
# One run of a mode at a time in a build directory (a short one and a full one may run
# together): the logs, programs and work directories are the mode's.
exec 9>"$out/.lock"
if ! flock -n 9; then
    echo "run.sh: another stress $mode run uses $out; waiting for it"
    flock -w 3600 9 || { echo "run.sh: still busy after an hour" >&2; exit 2; }
fi
fuzzer=${4:-}
only=${STRESS_ONLY:-}
PY=/usr/bin/python3

export STRESS_RUN_ID="poolalloc-stress-$$-$EPOCHSECONDS"
passed=0
failed=0
t_start=$EPOCHREALTIME

# ---- helpers ------------------------------------------------------------------------------

elapsed() { # elapsed T0: seconds since T0, one decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

wanted() { [ -z "$only" ] || [[ $1 == *"$only"* ]]; }

pass() { # pass NAME DETAILS
    echo "PASS $1${2:+ $2}"
    passed=$((passed + 1))
}

fail() { # fail NAME REASON [STDERR_FILE]
    echo "FAIL $1: $2"
    if [ -n "${3:-}" ] && [ -s "$3" ]; then
        grep -a '^\(FAIL\|torture: [^r]\|poolalloc: [^i]\|  check\|ok \|.*[Ee]rror\)' "$3" |
            grep -av '^torture: stack of' | tail -n 15 | sed 's/^/    /'
        symbolize "$3"
    fi
    failed=$((failed + 1))
}

# Why a run with exit status RC failed, in words.
why() { # why RC TIMEOUT
    if [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; then
        echo "timed out after $2 s (hang?)"
    elif [ "$1" -eq 3 ]; then
        echo "watchdog: no progress (deadlock?)"
    elif [ "$1" -eq 255 ]; then
        echo "exit status 255, or none recorded"
    elif [ "$1" -gt 128 ]; then
        echo "killed by signal SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
    else
        echo "exit status $1"
    fi
}

# The backtrace lines in FILE (backtrace_symbols_fd: "object(+0xOFF) [0xADDR]" or
# "object(symbol+0xOFF) [0xADDR]"), with function and file:line from addr2line where
# the object has no exported name for the address (hidden symbols, static functions).
symbolize() { # symbolize FILE
    local line obj off where n=0
    while IFS= read -r line; do
        [ $n -lt 60 ] || break
        n=$((n + 1))
        if [[ $line == "torture: stack of"* ]]; then
            echo "    ${line#torture: }"
            continue
        fi
        obj=${line%%(*}
        off=${line#*(}
        off=${off%%)*}
        where=
        if [[ $off == +0x* ]] && [ -f "$obj" ]; then
            where=$(addr2line -f -i -p -e "$obj" "${off#+}" 2>/dev/null | tr '\n' ' ')
        elif [[ $off == *+0x* ]]; then
            where=${off%%+*}
        fi
        echo "      ${obj##*/}(${off}) ${where}"
    done < <(grep -aE '^[^ ]+\([^)]*\)\[0x[0-9a-f]+\]$|^torture: stack of' "$1" |
        grep -av '/libc.so.6(' | head -n 80)
    if grep -aq '^Thread [0-9]' "$1"; then # gdb's "thread apply all bt"
        echo "    gdb (all threads):"
        grep -aE '^Thread [0-9]|^#[0-9]+ ' "$1" | head -n 80 | sed 's/^/      /'
    fi
}

# Every process that carries this run's STRESS_RUN_ID (read through any of its threads:
# a process whose main thread has exited has no readable /proc/PID/environ), except us.
leftovers() {
    local d pid t
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = $$ ] && continue
        for t in "$d"/task/*; do
            if { tr '\0' '\n' <"$t/environ"; } 2>/dev/null | grep -qx "STRESS_RUN_ID=$STRESS_RUN_ID"; then
                echo "$pid"
                break
            fi
        done
    done
}

cleanup() {
    local pids
    pids=$(leftovers)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted"; exit 130' INT TERM

# ---- building ----------------------------------------------------------------------------

bin=$out/bin
mkdir -p "$bin"
build() { # build NAME SOURCE...: -> $bin/NAME; if it does not compile, say so and end the run
    local name=$1
    shift
    gcc -O2 -g -Wall -Wextra -Werror -pthread -o "$bin/$name" "$@" -lm -ldl \
        >"$logs/build-$name.err" 2>&1 && return 0
    fail "build $name" "does not compile" "$logs/build-$name.err"
    echo "$passed passed, $failed failed"
    exit 1
}
# The torture is every tests/stress/torture*.c (torture.h says what each file holds).
build torture "$here"/torture*.c
build last_thread_exit_ends_process "$root/tests/preload/last_thread_exit_ends_process.c"

seed_for() { # seed_for NAME: STRESS_SEED, or a new seed
    if [ -n "${STRESS_SEED:-}" ]; then echo "$STRESS_SEED"; else
        echo $((($(od -An -N6 -tu8 /dev/urandom) % 1000000000000) + 1)); fi
}

# ---- the torture -----------------------------------------------------------------------------

# torture NAME SECONDS [VAR=VALUE ...] [-- ARGS...]: one run; preloaded unless NAME
# contains "glibc". Checks the exit status, the "torture: ok" line and, preloaded, which
# mode the allocator reports (locked under GLIBC_TUNABLES=glibc.pthread.rseq=0).
torture() {
    local name=$1 secs=$2 rc=0 t0 to seed tag
    shift 2
    local -a envs=() args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    args=("$@")
    wanted "$name" || return 0
    tag=${name//[^A-Za-z0-9_.-]/_}
    seed=$(seed_for)
    # The watchdog (60 s) and fork children's deadline (60 s) come well before this.
    to=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1.5 + 150 }')
    if [[ $name != *glibc* ]]; then
        envs+=(LD_PRELOAD="$lib" PRELOAD_EXPECT_POOLALLOC=1 POOLALLOC_VERBOSE=1)
    fi
    t0=$EPOCHREALTIME
    (
        timeout -k 10 "$to" env ${envs[@]+"${envs[@]}"} "$bin/torture" -t "$secs" -s "$seed" \
            ${args[@]+"${args[@]}"}
        exit $?
    ) </dev/null >"$logs/$tag.out" 2>"$logs/$tag.err" || rc=$?
    local summary
    summary=$(grep -a '^torture: \(ok\|FAILED\)' "$logs/$tag.out" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
        fail "$name" "$(why "$rc" "$to"), seed $seed (rerun: ${envs[*]:+env ${envs[*]} }$bin/torture -t $secs -s $seed${args[*]:+ ${args[*]}})" "$logs/$tag.err"
        return
    fi
    if [[ $summary != "torture: ok"* ]]; then
        fail "$name" "exit 0 but no \"torture: ok\" line (see $logs/$tag.out)" "$logs/$tag.err"
        return
    fi
    if [[ $name != *glibc* ]]; then
        local want=rseq got
        [[ " ${envs[*]} " == *glibc.pthread.rseq=0* ]] && want=locked
        got=$(sed -n 's/^poolalloc: init pid [0-9]*: mode \([a-z]*\).*/\1/p' "$logs/$tag.err" | head -n 1)
        if [ "$got" != "$want" ]; then
            fail "$name" "the allocator reports mode '${got:-none}', expected $want" "$logs/$tag.err"
            return
        fi
    fi
    # "torture: ok seed=S: 8.0 s, 9 rounds, ..." -> the numbers after the seed.
    pass "$name" "($(elapsed "$t0") s): ${summary#*: ok seed=*: }"
}

# ---- the soak ----------------------------------------------------------------------------------

# The memory rule. Samples "t rss_kib pool_resident_kib pool_metadata_kib pool_in_use_kib
# libc_free_kib held_kib libc_in_use_kib" (tests/stress/soak_sample.py), one every few
# seconds. Only samples from the end of the warm-up W (60 s; short runs: 10 s: the tables fill, the
# pools reach their working size) to the torture's deadline (after it: joins, final
# checks, freeing) are judged. With A the first third of them and C the last third, for
# what the process holds (held = RSS - what the C library's heaps keep free):
#   (1) max in C <= 1.25 x max in A + 32 MiB   (no growth between early and late)
#   (2) the least-squares slope over time, times the span measured, is at most
#       20 % of the mean + 16 MiB              (no steady creep)
#   (3) at least 8 samples are judged;
# and the same, tighter, for the pools' own memory as their stats socket reports it:
# resident (the region's pages mincore sees): 1.25 x + 8 MiB and 10 % + 4 MiB;
# metadata: 1.25 x + 4 MiB and 10 % + 2 MiB.
# Why held and not RSS: most of the torture's RSS is glibc's (requests above
# POOLALLOC_MAX_SIZE pass through; pools 12-14 MiB resident), and glibc's heaps grow in
# steps that free memory inside them does not undo (a non-main arena adds a 64 MiB heap;
# the main heap cannot shrink past a block in use at its top). Judged on RSS, 4 of 16
# short soaks under load (2026-12-07, seeds 46-57) fitted +57..+63 MiB of growth against
# limits of 41..48 with the pools flat; held (RSS less glibc's mallinfo2 fordblks, which
# the socket reports as libc_free_bytes) grew -8..+8 MiB in all 16 against limits of
# ~25, and the deliberate leak of the selftest +180..+212 MiB against ~60. A block
# passed through and never freed stays in held (glibc counts it in use). Since the idle
# trim gives back glibc's free pages at the flush thread's first quiet wake, fordblks
# also counts chunks that are no longer resident (RSS 195 -> 63 MiB, fordblks 135 MiB
# before and after): held is the larger of RSS - fordblks and what the stats account for
# (pools resident + metadata + glibc's in-use), so a trim does not read as a drop and the
# refill after it as growth (it failed one CI soak: held 1..57 MiB, fitted +34.1). The torture
# holds a bounded working set (68 tables x 256 slots, 64 blocks, 128 cells): memory that
# keeps growing is a leak or unbounded fragmentation.
soak_rule() { # soak_rule FILE WARMUP END COLUMN WHAT SLACK1_MIB PERCENT SLACK2_MIB -> "ok ..."/"bad ..."
    awk -v W="$2" -v E="$3" -v C="$4" -v what="$5" -v s1="$6" -v pct="$7" -v s2="$8" '
    BEGIN { n = 0 }
    $1 >= W && $1 <= E && $C != "-" && $C > 0 { t[n] = $1; r[n] = $C / 1024; n++ }
    END {
        if (n < 8) { printf "bad %s: only %d samples between %d s and %d s\n", what, n, W, E; exit }
        third = int(n / 3); ma = 0; mc = 0; st = 0; sr = 0; stt = 0; str = 0; mx = 0; mn = r[0]
        for (i = 0; i < n; i++) {
            if (i < third && r[i] > ma) ma = r[i]
            if (i >= n - third && r[i] > mc) mc = r[i]
            if (r[i] > mx) mx = r[i]
            if (r[i] < mn) mn = r[i]
            st += t[i]; sr += r[i]
        }
        mt = st / n; mr = sr / n
        for (i = 0; i < n; i++) { stt += (t[i] - mt) ^ 2; str += (t[i] - mt) * (r[i] - mr) }
        slope = stt > 0 ? str / stt : 0; span = t[n - 1] - t[0]; growth = slope * span
        lim1 = 1.25 * ma + s1; lim2 = pct / 100 * mr + s2
        ok = mc <= lim1 && growth <= lim2
        printf "%s %s %.0f..%.0f MiB, early max %.0f, late max %.0f (limit %.0f), fitted growth %+.1f MiB (limit %.0f)\n", ok ? "ok" : "bad", what, mn, mx, ma, mc, lim1, growth, lim2
    }' "$1"
}

soak_verdict() { # soak_verdict FILE WARMUP END -> "ok ..." or "bad ..." (all three rules)
    local v1 v2 v3 n
    v1=$(soak_rule "$1" "$2" "$3" 7 "held (RSS less glibc's free, see soak_sample.py)" 32 20 16)
    v2=$(soak_rule "$1" "$2" "$3" 3 "pool resident" 8 10 4)
    v3=$(soak_rule "$1" "$2" "$3" 4 "pool metadata" 4 10 2)
    n=$(awk -v W="$2" -v E="$3" '$1 >= W && $1 <= E' "$1" | wc -l)
    if [[ $v1 == ok* && $v2 == ok* && $v3 == ok* ]]; then
        echo "ok $n samples from $2 s to $3 s: ${v1#ok }; ${v2#ok }; ${v3#ok }"
    else
        echo "bad $n samples from $2 s to $3 s: ${v1}; ${v2}; ${v3}"
    fi
}

# soak NAME SECONDS INTERVAL WARMUP [NICE] [VAR=VALUE ...] [-- TORTURE ARGS]: run the
# preloaded torture with those settings, sample it (soak_sample.py), judge with
# soak_verdict, and check the mode the allocator reports (locked under
# GLIBC_TUNABLES=glibc.pthread.rseq=0, else rseq). EXPECT_BAD=1: the rule must reject it.
soak() {
    local name=$1 secs=$2 every=$3 warm=$4 rc=0 t0 seed to tag pid spid niceness=0
    shift 4
    local -a envs=()
    if [ $# -gt 0 ] && [[ $1 =~ ^-?[0-9]+$ ]]; then niceness=$1; shift; fi
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    wanted "$name" || return 0
    tag=${name//[^A-Za-z0-9_.-]/_}
    seed=$(seed_for)
    to=$((secs + 180))
    t0=$EPOCHREALTIME
    local sockdir=$out/sockets-$tag
    rm -rf "$sockdir"
    mkdir -p "$sockdir" && chmod 700 "$sockdir"
    : >"$logs/$tag.rss"
    env ${envs[@]+"${envs[@]}"} LD_PRELOAD="$lib" PRELOAD_EXPECT_POOLALLOC=1 POOLALLOC_VERBOSE=1 \
        POOLALLOC_SOCKET="$sockdir/soak.sock" nice -n "$niceness" \
        "$bin/torture" -t "$secs" -s "$seed" "$@" </dev/null >"$logs/$tag.out" 2>"$logs/$tag.err" &
    pid=$!
    "$PY" "$here/soak_sample.py" "$pid" "$sockdir/soak.sock" "$every" "$logs/$tag.rss" &
    spid=$!
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt $((to * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    wait "$pid" || rc=$?
    wait "$spid"
    rm -rf "$sockdir"
    local verdict
    verdict=$(soak_verdict "$logs/$tag.rss" "$warm" "$secs")
    if [ "${EXPECT_BAD:-0}" = 1 ]; then
        if [[ $verdict == bad* ]]; then
            pass "$name" "(the rule rejects a deliberate leak: ${verdict#bad })"
        else
            fail "$name" "the memory rule did not notice a deliberate leak: ${verdict#ok }"
        fi
        return
    fi
    local want=rseq got
    [[ " ${envs[*]} " == *glibc.pthread.rseq=0* ]] && want=locked
    got=$(sed -n 's/^poolalloc: init pid [0-9]*: mode \([a-z]*\).*/\1/p' "$logs/$tag.err" | head -n 1)
    if [ "$rc" -ne 0 ]; then
        fail "$name" "$(why "$rc" "$to"), seed $seed (rerun: ${envs[*]:+env ${envs[*]} }$bin/torture -t $secs -s $seed${*:+ $*}); ${verdict#* }" "$logs/$tag.err"
    elif [ "$got" != "$want" ]; then
        fail "$name" "the allocator reports mode '${got:-none}', expected $want" "$logs/$tag.err"
    elif [[ $verdict != ok* ]]; then
        fail "$name" "memory grows: ${verdict#bad } (samples: t rss pool-resident pool-metadata pool-in-use libc-free held libc-in-use KiB in $logs/$tag.rss, seed $seed)"
    else
        local s
        s=$(grep -a '^torture: ok' "$logs/$tag.out" | sed 's/^torture: ok seed=[0-9]*: //; s/, [0-9]* cross-thread.*//')
        pass "$name" "($(elapsed "$t0") s): ${verdict#ok }; torture: $s"
    fi
}

# ---- the other parts ----------------------------------------------------------------------------

selftest_corruption() {
    local name=selftest:torture-sees-a-flipped-byte rc=0
    wanted "$name" || return 0
    LD_PRELOAD="$lib" timeout -k 5 60 "$bin/torture" -t 2 -T 2-4 -f 1 -X -s 1 </dev/null \
        >"$logs/selftest-corruption.out" 2>"$logs/selftest-corruption.err" || rc=$?
    if [ "$rc" -eq 1 ] && grep -aq 'byte [0-9]* is [0-9a-fx]*, expected' "$logs/selftest-corruption.err"; then
        pass "$name" "($(grep -ac '^FAIL' "$logs/selftest-corruption.err") reports, exit 1)"
    else
        fail "$name" "a flipped byte went unnoticed (exit $rc)" "$logs/selftest-corruption.err"
    fi
}

last_thread_exit() {
    local name=last-thread-exit rc=0 t0=$EPOCHREALTIME
    wanted "$name" || return 0
    LD_PRELOAD="$lib" timeout -k 5 60 "$bin/last_thread_exit_ends_process" </dev/null \
        >"$logs/$name.out" 2>"$logs/$name.err" || rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$name" "($(elapsed "$t0") s): $(grep -c '^ok' "$logs/$name.out") cases"
    else
        fail "$name" "$(grep -a '^FAIL' "$logs/$name.out" | head -n 3 | sed 's/^FAIL //' | paste -sd '|' | sed 's/|/ | /g')" \
            "$logs/$name.err"
    fi
}

# A script that prints its own PASS/FAIL/FLAKY lines: show them, count PASS and FAIL.
script_part() { # script_part NAME TIMEOUT CMD...
    local name=$1 to=$2 rc=0 tag
    shift 2
    wanted "$name" || return 0
    tag=${name//[^A-Za-z0-9_.-]/_}
    timeout -k 10 "$to" "$@" </dev/null >"$logs/$tag.out" 2>"$logs/$tag.err" || rc=$?
    script_verdict "$name" "$rc" "$to" "$tag"
}

script_verdict() { # script_verdict NAME RC TIMEOUT TAG
    local name=$1 rc=$2 to=$3 tag=$4 line
    line=$(grep -a '^\(PASS\|FAIL\)' "$logs/$tag.out" | tail -n 1)
    if [ "$rc" -eq 0 ] && [[ $line == PASS* ]]; then
        head -n 40 "$logs/$tag.out"
        passed=$((passed + 1))
    elif [[ $line == FAIL* ]]; then
        head -n 40 "$logs/$tag.out"
        failed=$((failed + 1))
    else
        fail "$name" "$(why "$rc" "$to") without a verdict (see $logs/$tag.out)" "$logs/$tag.err"
    fi
}

# A command in the background whose exit status is kept in a file: `wait PID` answered
# 127 (not a child) for a job that had ended a minute before it was asked (the Python
# suite, once the short soaks took 40 s), so the status is not left to bash to remember.
# bg_wait must run in this shell, never inside $(...): a command substitution is a
# subshell, whose `wait` returns at once for a job it did not start (CI once read "no
# status" while the Python suite was still running).
bg_run() { # bg_run STATUSFILE CMD...: the caller redirects, $! is the job
    local f=$1
    shift
    rm -f "$f"
    ( "$@"; echo $? >"$f" ) &
}
bg_wait() { # bg_wait PID STATUSFILE: waits for the job; bg_rc = its exit status (255: none)
    wait "$1" 2>/dev/null
    bg_rc=$(cat "$2" 2>/dev/null || echo 255)
}

# libFuzzer on the environment parser, in the background; fuzz_env_wait reports.
fuzz_pid=
fuzz_env_start() { # fuzz_env_start SECONDS
    local name=fuzz-env
    wanted "$name" || return 0
    fuzz_secs=$1
    fuzz_t0=$EPOCHREALTIME
    if [ -z "$fuzzer" ] || [ ! -x "$fuzzer" ]; then
        fuzz_pid=none
        return
    fi
    local corpus=$out/../fuzz-env-corpus # shared by the modes and make fuzz-env
    mkdir -p "$corpus" "$out/fuzz-env-artifacts"
    rm -f "$out/fuzz-env-artifacts"/*
    bg_run "$logs/fuzz-env.status" timeout -k 10 $((fuzz_secs + 60)) "$fuzzer" \
        -max_total_time="$fuzz_secs" -max_len=512 \
        -timeout=10 -print_final_stats=1 -dict="$root/tests/fuzz/env_fuzz.dict" \
        -artifact_prefix="$out/fuzz-env-artifacts/" "$corpus" "$root/tests/fuzz/seeds/env" \
        </dev/null >"$logs/fuzz-env.out" 2>&1
    fuzz_pid=$!
}
fuzz_env_wait() {
    local name=fuzz-env rc=0 runs art
    [ -n "$fuzz_pid" ] || return 0
    if [ "$fuzz_pid" = none ]; then
        fail "$name" "no fuzzer binary (${fuzzer:-not given}): make fuzz-env builds it with clang"
        return
    fi
    bg_wait "$fuzz_pid" "$logs/fuzz-env.status"
    rc=$bg_rc
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/fuzz-env.out")
    if [ "$rc" -eq 0 ]; then
        pass "$name" "($fuzz_secs s): ${runs:-?} inputs, parser agrees with the reference, defaults kept, one clean warning line each"
    else
        art=$(ls "$out/fuzz-env-artifacts"/* 2>/dev/null | head -n 1)
        fail "$name" "exit status $rc; $(grep -a '^env_fuzz: \|^SUMMARY' "$logs/fuzz-env.out" | head -n 2 | tr '\n' ' ')(input: ${art:-none}; reproduce: $fuzzer $art; log $logs/fuzz-env.out)"
    fi
}

# ---- the plan -----------------------------------------------------------------------------------

echo "stress ($mode): $lib; logs in $logs"
if [ "$mode" = short ]; then
    # Python and the fuzzer in the background (both mostly one core, Python mostly
    # waiting on its own subprocesses); the torture parts in the foreground.
    py_pid=
    if wanted python-regrtest; then
        bg_run "$logs/python-regrtest.status" \
            timeout -k 10 420 "$PY" "$root/tests/suites/python_regrtest.py" "$lib" "$out/python" short \
            </dev/null >"$logs/python-regrtest.out" 2>"$logs/python-regrtest.err"
        py_pid=$!
    fi
    fuzz_env_start 20
    selftest_corruption
    torture "torture[glibc]" 3
    torture "torture" 8
    torture "torture[no-rseq]" 6 GLIBC_TUNABLES=glibc.pthread.rseq=0
    # 40 s judged from 10 s: glibc's arenas (most of the RSS, see soak_rule) step up
    # while the torture's rounds first reach many threads; judged over 15 s from 5 s,
    # a +35 MiB step in the middle of the window fitted as +56 MiB of growth (2 runs
    # of ~10 on 2026-11-28, the pools flat at 12-13 MiB each time). glibc gets two
    # arenas: with one per thread, how many exist and how far each grows follows the
    # threads' interleaving, and on a machine loaded by other work (four CPU hogs
    # beside make test) a late +55 MiB step of glibc's alone failed the RSS rule with
    # the pools flat; with two, RSS stays 110..161 MiB (4 runs under the same load),
    # the rules and their limits unchanged, and the leak selftest still rejected.
    # (The rule now judges held memory, RSS less glibc's free bytes: see soak_rule.)
    soak soak 40 0.5 10 0 GLIBC_TUNABLES=glibc.malloc.arena_max=2
    soak "soak[no-rseq]" 40 0.5 10 0 GLIBC_TUNABLES=glibc.pthread.rseq=0:glibc.malloc.arena_max=2
    EXPECT_BAD=1 soak selftest:soak-rule-sees-a-leak 10 0.5 3 0 -- -L 32768 -T 2-8 -f 2
    last_thread_exit
    script_part redis 120 "$PY" "$root/tests/suites/redis_check.py" "$lib" "$out" short
    script_part gcc-build 300 bash "$root/tests/suites/gcc_build.sh" "$lib" "$out" short
    fuzz_env_wait
    if [ -n "$py_pid" ]; then
        bg_wait "$py_pid" "$logs/python-regrtest.status"
        rc=$bg_rc
        script_verdict python-regrtest "$rc" 420 python-regrtest
    fi
else
    # The two soaks (rseq, and the locked mode) run the whole time in the background,
    # niced so that the parts in the foreground keep their speed; the torture parts come
    # first, then Python (which then competes only with the soaks), then redis, gcc.
    soak_pids=()
    if wanted soak; then
        soak soak 600 5 60 10 >"$logs/soak.verdict" &
        soak_pids+=("$!:$logs/soak.verdict")
    fi
    if wanted "soak[no-rseq]"; then
        soak "soak[no-rseq]" 600 5 60 10 GLIBC_TUNABLES=glibc.pthread.rseq=0 \
            >"$logs/soak_no-rseq_.verdict" &
        soak_pids+=("$!:$logs/soak_no-rseq_.verdict")
    fi
    fuzz_env_start 120
    selftest_corruption
    EXPECT_BAD=1 soak selftest:soak-rule-sees-a-leak 10 0.5 3 0 -- -L 32768 -T 2-8 -f 2
    torture "torture[glibc]" 20
    torture "torture" 60
    torture "torture[flush-1ms,cache-4k]" 40 POOLALLOC_FLUSH_MS=1 POOLALLOC_CPU_CACHE=4096
    torture "torture[max-32k]" 30 POOLALLOC_MAX_SIZE=32k
    torture "torture[no-rseq]" 90 GLIBC_TUNABLES=glibc.pthread.rseq=0
    torture "torture[no-rseq,flush-1ms]" 30 GLIBC_TUNABLES=glibc.pthread.rseq=0 POOLALLOC_FLUSH_MS=1
    last_thread_exit
    fuzz_env_wait
    script_part python-regrtest 1800 "$PY" "$root/tests/suites/python_regrtest.py" "$lib" "$out/python" full
    script_part redis 600 "$PY" "$root/tests/suites/redis_check.py" "$lib" "$out" full
    script_part gcc-build 900 bash "$root/tests/suites/gcc_build.sh" "$lib" "$out" full
    for s in ${soak_pids[@]+"${soak_pids[@]}"}; do
        wait "${s%%:*}"
        cat "${s#*:}"
        grep -aq '^PASS' "${s#*:}" && passed=$((passed + 1)) || failed=$((failed + 1))
    done
fi

echo "total $(elapsed "$t_start") s, logs in $logs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
