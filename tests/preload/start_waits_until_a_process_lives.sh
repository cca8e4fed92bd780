#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# start_waits_until_a_process_lives — a process that ends in its first moments makes
# nothing of ours: under the default start (docs/how-it-works.md, Start-up) strace
# sees no thread (no clone with CLONE_THREAD, no clone3), no socket, no bind and no
# reservation of a gigabyte or more, for /bin/true and for `sh -c 'echo x | cat'` and
# every process that pipeline makes. The checker is proved on the same programs with
# POOLALLOC_START_MS=0 (everything at start): there it must see the thread, the socket
# and the reservation. A process that lives past the start is found by poolstat with
# no argument and its flush runs: one that made POOLALLOC_START_ALLOCS requests at
# once and then only sleeps (nothing of the program's wakes the library: its own
# thread must), and, with no flush (its pools have not started), one that allocated
# little, slept past POOLALLOC_START_MS, then allocated again. One that allocated
# little and then only sleeps stays as it was: one task, no socket. A fork child that
# only execs makes no socket.
# preload-test: glibc-variant
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
need strace ${CC:-gcc}
# The default socket place, in a folder of the test's own, where poolstat looks too.
export XDG_RUNTIME_DIR=$PT_WORK/xdg
unset POOLALLOC_SOCKET POOLALLOC_START_MS POOLALLOC_START_ALLOCS POOLALLOC_FLUSH_MS
mkdir -m 700 "$XDG_RUNTIME_DIR"
socks=$XDG_RUNTIME_DIR/poolalloc

# What strace saw of ours in LOG: one word per kind, or nothing.
ours() { # ours LOG
    grep -q 'clone([^)]*CLONE_THREAD\|clone3(' "$1" && echo thread
    grep -q ' socket(AF_UNIX' "$1" && echo socket
    grep -q ' bind(' "$1" && echo bind
    grep -Eq 'mmap\(NULL, [0-9]{10,}, PROT_NONE' "$1" && echo reservation
}

traced() { # traced LOG CMD...: strace -f with the preload given to the traced program only
    local log=$1
    shift
    if [ -n "$LIB" ]; then
        strace -f -o "$log" -e trace=clone,clone3,socket,bind,mmap -E LD_PRELOAD="$LIB" "$@"
    else
        strace -f -o "$log" -e trace=clone,clone3,socket,bind,mmap "$@"
    fi
}

n=0
for cmd in "/bin/true" "/bin/sh -c 'echo x | cat'"; do
    n=$((n + 1))
    out=$(eval traced "$PT_WORK/short$n.log" "$cmd" 2>&1)
    [ "$cmd" = /bin/true ] || [ "$out" = x ] || fail "$cmd printed: $out"
    got=$(ours "$PT_WORK/short$n.log" | tr '\n' ' ')
    [ -z "$got" ] || fail "$cmd made: $got(strace: $PT_WORK/short$n.log)"
    [ -n "$(ls -A "$socks" 2>/dev/null)" ] && fail "$cmd left a socket: $(ls "$socks")"
    if [ -n "$LIB" ]; then
        # The checker sees them when they are made.
        POOLALLOC_START_MS=0 eval traced "$PT_WORK/now$n.log" "$cmd" >/dev/null 2>&1
        got=$(ours "$PT_WORK/now$n.log" | tr '\n' ' ')
        [ "$got" = "thread socket bind reservation " ] ||
            fail "selftest: $cmd with POOLALLOC_START_MS=0: strace saw only: $got"
    fi
done
[ -n "$LIB" ] || finish

# A program for the long-lived cases: `idle N` makes N requests, then sleeps;
# `late N` makes N, sleeps 300 ms, makes N more, then sleeps; `fork` makes 30000,
# sleeps 300 ms (started), then forks a child that allocates once and execs /bin/true,
# waits for it and sleeps. Each prints "ready" when it has done its part.
cat >"$PT_WORK/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void requests(int n)
{
    for (int i = 0; i < n; i++) {
        char *volatile p = malloc(48);
        p[0] = 1;
        free(p);
    }
}
int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(argv[1], "late")) {
        requests(n);
        usleep(300000);
        requests(n);
    } else if (!strcmp(argv[1], "fork")) {
        requests(30000);
        usleep(300000);
        pid_t c = fork();
        if (c == 0) {
            requests(1);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(c, NULL, 0);
        printf("child %d\n", (int)c);
    } else {
        requests(n);
    }
    printf("ready\n");
    fflush(stdout);
    sleep(30);
    return 0;
}
C
${CC:-gcc} -O1 -o "$PT_WORK/prog" "$PT_WORK/prog.c" || { fail "cannot build the test program"; finish; }

poolstat=$BUILDDIR/poolstat
[ -x "$poolstat" ] || { fail "$poolstat missing (make B=$BUILDDIR $BUILDDIR/poolstat)"; finish; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT

# start LABEL ARGS...: runs prog in the background with FLUSH_MS=50; sets $pid.
start() {
    local label=$1
    shift
    POOLALLOC_FLUSH_MS=50 LD_PRELOAD="$LIB" "$PT_WORK/prog" "$@" >"$PT_WORK/$label.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        grep -q ready "$PT_WORK/$label.out" && return 0
        sleep 0.05
    done
    fail "$label: the program did not get ready: $(cat "$PT_WORK/$label.out")"
    return 1
}

# found LABEL PID [flushes]: poolstat with no argument lists PID within 10 s (and,
# asked, its flushes run).
found() {
    local label=$1 p=$2 fl
    for _ in $(seq 200); do
        "$poolstat" >"$PT_WORK/$label.list" 2>&1
        grep -q "^ *$p " "$PT_WORK/$label.list" && break
        sleep 0.05
    done
    grep -q "^ *$p " "$PT_WORK/$label.list" ||
        { fail "$label: poolstat does not list pid $p: $(head -c 300 "$PT_WORK/$label.list")"; return; }
    [ "${3-}" = flushes ] || return
    for _ in $(seq 200); do
        "$poolstat" --json "$p" >"$PT_WORK/$label.json" 2>&1
        fl=$(grep -o '"flushes":[0-9]*' "$PT_WORK/$label.json" | head -n 1 | grep -o '[0-9]*$')
        [ "${fl:-0}" -gt 0 ] && return
        sleep 0.05
    done
    fail "$label: no flush has run (flushes ${fl:-none}): $(head -c 300 "$PT_WORK/$label.json")"
}

start idle-many idle 30000 && found idle-many "$pid" flushes
start late late 100 && found late "$pid"

# Little, then only sleep: after 0.5 s still one task and no socket.
if start idle-few idle 100; then
    sleep 0.5
    t=$(grep '^Threads:' "/proc/$pid/status" | tr -d '\t')
    [ "$t" = "Threads:1" ] || fail "idle-few: an idle process that allocated little has: $t"
    [ -e "$socks/$pid.sock" ] && fail "idle-few: it made a socket"
fi

if start fork fork; then
    child=$(sed -n 's/^child //p' "$PT_WORK/fork.out")
    found fork "$pid" flushes
    sleep 0.3
    [ -n "$child" ] || fail "fork: no child pid: $(cat "$PT_WORK/fork.out")"
    [ -e "$socks/$child.sock" ] && fail "fork: the child that only execs made a socket"
fi
finish
