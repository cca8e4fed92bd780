#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# set_uid_programs_ignore_the_environment — in a set-uid program (AT_SECURE)
# the environment belongs to the user who started it, not to the program's
# owner: every POOLALLOC_* variable is ignored (glibc ignores MALLOC_* there
# too) and no stats server starts. A set-uid-root program, linked with the
# library (the loader ignores LD_PRELOAD paths for set-uid programs), is run
# as nobody with POOLALLOC_STATS, _VERBOSE, _SAMPLE and a bad value set: its
# stderr stays empty, no stats server thread runs and no socket appears, even
# after the program has started its pools and lived 3 s. The same
# program run plainly by root (no AT_SECURE) honours the variables, so the
# test can tell the two apart.
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
[ -n "$LIB" ] || { echo ok; exit 0; }   # poolalloc's own rule: nothing to compare on glibc
[ "$(id -u)" = 0 ] || skip "needs root to make a set-uid program"
need setpriv ${CC:-gcc}

# A folder nobody can reach, outside the build tree (whose parents may be 0700).
dir=$(mktemp -d /tmp/pa-setuid.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
cp "$LIB" "$dir/libpoolalloc.so"
cp "$LIB" "$dir/libpoolalloc.so.1"   # its SONAME: what the program asks the loader for
cat >"$PT_WORK/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
int main(void)
{
    /* Allocate through the pools (enough requests to start them, and then
     * for as long as the start time), then report what a user could see. */
    char path[96], line[64];
    int server = 0;
    for (int round = 0; round < 300 && !server; round++) {
        for (int i = 0; i < (round ? 10 : 3000); i++) { char *p = malloc(64); memset(p, 1, 64); free(p); }
        usleep(10000);
        /* The stats server is the thread named poolalloc-stats. */
        for (int tid = getpid(); tid < getpid() + 64; tid++) {
            snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)getpid(), tid);
            FILE *f = fopen(path, "r");
            if (f && fgets(line, sizeof line, f) && !strncmp(line, "poolalloc-stats", 15))
                server = 1;
            if (f)
                fclose(f);
        }
    }
    /* A default socket: the abstract name, or a file in the /tmp folder. */
    int sock = 0;
    char name[64], row[512];
    snprintf(name, sizeof name, "@poolalloc-%d-%d\n", (int)geteuid(), (int)getpid());
    FILE *u = fopen("/proc/net/unix", "r");
    while (u && fgets(row, sizeof row, u))
        if (strstr(row, name))
            sock = 1;
    if (u)
        fclose(u);
    snprintf(path, sizeof path, "/tmp/poolalloc-%d/%d.sock", (int)geteuid(), (int)getpid());
    if (access(path, F_OK) == 0)
        sock = 1;
    printf("secure %lu server %s socket %s\n", getauxval(AT_SECURE), server ? "yes" : "no",
           sock ? "yes" : "no");
    return 0;
}
C
${CC:-gcc} -O1 -o "$dir/prog" "$PT_WORK/prog.c" -L"$dir" -Wl,--no-as-needed -l:libpoolalloc.so -Wl,-rpath,"$dir" ||
    { fail "cannot build the test program"; finish; }
chmod 4755 "$dir/prog"
vars=(POOLALLOC_STATS=1 POOLALLOC_VERBOSE=1 POOLALLOC_SAMPLE=1 POOLALLOC_MAX_SIZE=bogus POOLALLOC_MAXSIZE=1k
      POOLALLOC_SOCKET="$dir/%p.sock")

# Control: root runs it (no AT_SECURE): the variables are honoured.
out=$(env -u LD_PRELOAD -u XDG_RUNTIME_DIR "${vars[@]}" "$dir/prog" 2>"$PT_WORK/plain.err")
grep -q '^poolalloc: init' "$PT_WORK/plain.err" ||
    fail "plain run: POOLALLOC_VERBOSE not honoured (is the library linked?): $(head -c 300 "$PT_WORK/plain.err")"
[ "$out" = "secure 0 server yes socket no" ] ||
    fail "plain run: want the server running (at POOLALLOC_SOCKET), got: $out"

# nobody runs the set-uid-root program: AT_SECURE, everything ignored.
out=$(env -u LD_PRELOAD -u XDG_RUNTIME_DIR "${vars[@]}" \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$dir/prog" 2>"$PT_WORK/secure.err")
case $out in
"secure 1 "*) ;;
*) skip "the set-uid program did not run with AT_SECURE here (nosuid mount?): $out" ;;
esac
[ -s "$PT_WORK/secure.err" ] &&
    fail "set-uid run printed on stderr (options honoured): $(head -c 300 "$PT_WORK/secure.err")"
[ "$out" = "secure 1 server no socket no" ] ||
    fail "set-uid run: want no stats server thread and no socket, got: $out"
ls "$dir"/*.sock* >/dev/null 2>&1 && fail "a socket appeared at POOLALLOC_SOCKET under AT_SECURE"
finish
