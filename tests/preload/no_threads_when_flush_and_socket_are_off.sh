#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# no_threads_when_flush_and_socket_are_off — the advice in docs/limits.md for programs
# that must stay single-threaded holds: with POOLALLOC_FLUSH_MS=0 and
# POOLALLOC_SOCKET=off the library starts no thread, even once its pools have started
# (a preloaded process has one task) and the pools still serve (POOLALLOC_STATS counts
# allocations); setpriv, which drops root with PR_SET_KEEPCAPS and per-thread capset
# between setresuid and setresgid, runs to its end. With the defaults a process that
# has lived past its start (POOLALLOC_START_MS) has our two threads, and a process
# that started them (POOLALLOC_START_MS=0) makes setpriv abort in glibc's setxid
# consistency check (docs/limits.md): that is asserted too, so the advice stays needed
# and true. A setpriv that ends before the default start has no thread and works.
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
need setpriv python3
off=(POOLALLOC_FLUSH_MS=0 POOLALLOC_SOCKET=off POOLALLOC_START_MS=0)

if [ -z "$LIB" ]; then
    # glibc only: setpriv works, and one task.
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups /bin/echo dropped 2>&1)
    [ "$out" = dropped ] || fail "plain setpriv: $out"
    finish
fi

n=$(env "${off[@]}" LD_PRELOAD="$LIB" /bin/sh -c 'grep "^Threads:" /proc/$$/status' 2>&1)
[ "$n" = "Threads:	1" ] || fail "flush and socket off: want one thread, got: $n"
out=$(env "${off[@]}" POOLALLOC_STATS=1 LD_PRELOAD="$LIB" /bin/echo ok 2>&1)
printf '%s\n' "$out" | grep -q "^poolalloc: summary .*, [1-9][0-9]* cpu caches" ||
    fail "flush and socket off: no summary with a CPU cache (pools not in use?): $out"
out=$(env "${off[@]}" LD_PRELOAD="$LIB" setpriv --reuid=65534 --regid=65534 --clear-groups \
    /bin/echo dropped 2>&1)
[ "$out" = dropped ] || fail "flush and socket off: setpriv printed: $out"

# The defaults, with the socket in a folder of the test's own (so the server
# thread surely starts): a program that lives and allocates past the start time has
# three tasks (asked for up to 10 s: the threads come at 100 ms).
mkdir -m 700 "$PT_WORK/sock"
n=$(env POOLALLOC_SOCKET="$PT_WORK/sock/%p.sock" LD_PRELOAD="$LIB" python3 -c '
import time
end = time.monotonic() + 10
while True:
    t = [l for l in open("/proc/self/status") if l.startswith("Threads:")][0].strip()
    if t.endswith("3") or time.monotonic() > end:
        break
    time.sleep(0.02)
print(t)' 2>&1)
[ "$n" = "Threads:	3" ] || fail "defaults: want three threads (program, flush, stats), got: $n"
env POOLALLOC_SOCKET="$PT_WORK/sock/%p.sock" POOLALLOC_START_MS=0 LD_PRELOAD="$LIB" \
    setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true >/dev/null 2>&1
rc=$?
[ "$rc" -eq 134 ] || fail "started at once: setpriv exit $rc; the known limit (abort, 134) changed: update docs/limits.md"
out=$(env POOLALLOC_SOCKET="$PT_WORK/sock/%p.sock" LD_PRELOAD="$LIB" \
    setpriv --reuid=65534 --regid=65534 --clear-groups /bin/echo dropped 2>&1)
[ "$out" = dropped ] || fail "defaults: a setpriv that ends before the start printed: $out"
finish
