#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install_and_uninstall.sh — `make install` and `make uninstall` as a packager and a
# user run them, into temporary trees:
#   debian  DESTDIR=T PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu (a package build)
#   usr     PREFIX=T/usr LIBDIR=T/usr/lib/x86_64-linux-gnu (the same layout, live: the
#           installed wrapper must find the library by the path written in at install,
#           where bin/../lib holds nothing)
#   local   PREFIX=T/local (the /usr/local layout)
# For each: the exact files and symlinks installed, `poolalloc --version`, the SONAME,
# the installed wrapper running a live program that the installed poolstat reads,
# pkg-config's flags pointing into the tree, a C program built with them against
# poolalloc.h, and `make uninstall` leaving no file or symlink but what was there before.
#
# usage: tests/install/install_and_uninstall.sh BUILDDIR   (as given to make: B=BUILDDIR)
# Prints `PASS name` or `FAIL name: why` per check, last `N passed, M failed`; exit 1 if
# anything failed, 2 on a usage error.
set -u
export LC_ALL=C
unset LD_PRELOAD POOLALLOC_LIB PKG_CONFIG_PATH
# Only the folders each round names: none from the caller's make or environment.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES DESTDIR PREFIX BINDIR LIBDIR INCLUDEDIR MANDIR PKGCONFIGDIR
ulimit -c 0

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILDDIR" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
b=$1
version=$(sed -n 's/^#define POOLALLOC_VERSION "\(.*\)"/\1/p' "$repo/include/poolalloc.h")
major=${version%%.*}
if [ -z "$version" ]; then
    echo "install_and_uninstall.sh: no POOLALLOC_VERSION in include/poolalloc.h" >&2
    exit 2
fi
for tool in pkg-config readelf python3 "${CC:-gcc}"; do
    command -v "$tool" >/dev/null || { echo "install_and_uninstall.sh: $tool is missing" >&2; exit 2; }
done
t=$(mktemp -d /tmp/pa-install.XXXXXX)
holder_pid=
cleanup() {
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
    rm -rf "$t"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
# check NAME WHY-IF-FALSE CMD...: PASS when CMD succeeds
check() { local n=$1 w=$2; shift 2; if "$@"; then pass "$n"; else fail "$n" "$w"; fi; }

# mk LOG ARGS...: make in the checkout with this build folder, output to LOG
mk() { local log=$1; shift; make --no-print-directory -C "$repo" B="$b" "$@" >"$log" 2>&1; }

# The files and symlinks under a tree, as "path" or "path -> target", sorted.
tree_list() { # tree_list ROOT
    (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort | while read -r p; do
        if [ -L "$p" ]; then echo "$p -> $(readlink "$p")"; else echo "$p"; fi
    done)
}

# What install must put there, relative to the tree: expected_list BIN LIB INC MAN PC
expected_list() {
    local bin=$1 lib=$2 inc=$3 man=$4 pc=$5 m s
    {
        echo "$bin/poolalloc"
        echo "$bin/poolstat"
        echo "$inc/poolalloc.h"
        echo "$lib/libpoolalloc.so.$version"
        echo "$lib/libpoolalloc.so.$major -> libpoolalloc.so.$version"
        echo "$lib/libpoolalloc.so -> libpoolalloc.so.$major"
        echo "$pc/poolalloc.pc"
        for m in "$repo"/man/*.[137]; do
            [ -f "$m" ] || continue
            s=${m##*.}
            echo "$man/man$s/$(basename "$m")"
        done
    } | sort
}

# live NAME WRAPPER POOLSTAT [VAR=VALUE...]: the wrapper runs python3 holding 20000
# small objects until told to end; poolstat reads it through its socket. Every wait
# is bounded and ends on an event (a line, a file), not on a guess of time.
live() {
    local name=$1 wrapper=$2 poolstat=$3 d pid='' sock out rc
    shift 3
    d=$(mktemp -d "$t/live.XXXXXX")
    mkfifo "$d/go"
    env "$@" POOLALLOC_START_MS=0 POOLALLOC_SOCKET="$d/%p.sock" timeout -k 2 60 "$wrapper" \
        python3 -c 'import os, sys
keep = [bytearray(64) for _ in range(20000)]
print(os.getpid(), flush=True)
sys.stdin.read()' <"$d/go" >"$d/out" 2>"$d/err" &
    holder_pid=$!
    exec 3>"$d/go"
    for _ in $(seq 300); do
        pid=$(head -n 1 "$d/out" 2>/dev/null)
        [ -n "$pid" ] || ! kill -0 "$holder_pid" 2>/dev/null && break
        sleep 0.1
    done
    sock=$d/$pid.sock
    for _ in $(seq 300); do
        [ -S "$sock" ] || ! kill -0 "$holder_pid" 2>/dev/null && break
        sleep 0.1
    done
    rc=1
    if [ -z "$pid" ]; then
        fail "$name" "the program did not start under the installed wrapper: $(head -c 300 "$d/err")"
    elif [ ! -S "$sock" ]; then
        fail "$name" "no socket $sock: the library was not preloaded? $(head -c 300 "$d/err")"
    else
        for _ in 1 2 3 4 5; do
            out=$(timeout 20 "$poolstat" "$sock" 2>&1) && rc=0 && break
            sleep 0.2
        done
        if [ "$rc" -ne 0 ]; then
            fail "$name" "the installed poolstat failed: $(printf '%s' "$out" | head -c 300)"
        elif ! printf '%s\n' "$out" | grep -q "^pid $pid," ||
            ! printf '%s\n' "$out" | grep -q '^class  *size'; then
            fail "$name" "the installed poolstat printed no table: $(printf '%s' "$out" | head -c 300)"
        fi
    fi
    exec 3>&-
    wait "$holder_pid"
    local prc=$?
    holder_pid=
    if [ "$rc" -eq 0 ]; then
        if [ "$prc" -ne 0 ]; then
            fail "$name" "the program under the wrapper exited $prc: $(head -c 300 "$d/err")"
        else
            pass "$name"
        fi
    fi
}

# names_and_stops OUT PATH: the wrapper's output names PATH and the program did not run
names_and_stops() { [[ $1 != *ran* && $1 == *"$2"* ]]; }

# A program built against the installed header and library.
cat >"$t/ver.c" <<'C'
#include <poolalloc.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    char *p = malloc(100);
    if (!p)
        return 1;
    free(p);
    printf("%s %s\n", POOLALLOC_VERSION, poolalloc_version());
    return 0;
}
C

# round_trip LAYOUT ROOT DEST-OR-EMPTY PREFIX LIBDIR BIN LIB INC MAN PC [LIBDIR=...]
#   ROOT: the folder that must end empty; BIN..PC: where files land, relative to ROOT.
round_trip() {
    local lay=$1 root=$2 dest=$3 prefix=$4 libdir=$5 bin=$6 lib=$7 inc=$8 man=$9 pc=${10}
    local -a vars=(PREFIX="$prefix")
    [ -n "$dest" ] && vars+=(DESTDIR="$dest")
    [ -n "$libdir" ] && vars+=(LIBDIR="$libdir")
    local log=$t/$lay.install.log got want out flags

    mkdir -p "$root"
    if ! mk "$log" "${vars[@]}" install; then
        fail "$lay: make install" "$(tail -n 5 "$log" | tr '\n' ' ')"
        return
    fi
    got=$(tree_list "$root")
    want=$(expected_list "$bin" "$lib" "$inc" "$man" "$pc")
    check "$lay: make install puts exactly these files and symlinks" \
        "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')" [ "$got" = "$want" ]
    local installed=$got

    out=$("$root/$bin/poolalloc" --version 2>&1)
    check "$lay: poolalloc --version" "printed '$out', want 'poolalloc $version'" \
        [ "$out" = "poolalloc $version" ]

    out=$(readelf -d "$root/$lib/libpoolalloc.so.$version" 2>&1 | grep SONAME)
    check "$lay: SONAME libpoolalloc.so.$major" "readelf -d: '$out'" \
        grep -q "Library soname: \[libpoolalloc.so.$major\]" <<<"$out"

    # pkg-config reads only this tree's .pc (PKG_CONFIG_LIBDIR replaces its search
    # path) and, for a DESTDIR, puts the sysroot before -I and -L. System folders are
    # kept in the output so that the test sees every flag.
    local -a pkenv=(PKG_CONFIG_LIBDIR="$root/$pc" PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
        PKG_CONFIG_ALLOW_SYSTEM_LIBS=1)
    [ -n "$dest" ] && pkenv+=(PKG_CONFIG_SYSROOT_DIR="$dest")
    flags=$(env "${pkenv[@]}" pkg-config --cflags --libs poolalloc 2>&1 | sed 's/ *$//')
    want="-I$root/$inc -L$root/$lib -lpoolalloc"
    check "$lay: pkg-config --cflags --libs" "'$flags', want '$want'" [ "$flags" = "$want" ]
    out=$(env "${pkenv[@]}" pkg-config --modversion poolalloc 2>&1)
    check "$lay: pkg-config --modversion" "'$out', want '$version'" [ "$out" = "$version" ]

    # shellcheck disable=SC2086  # the flags are words
    if ! out=$("${CC:-gcc}" -Wall -Wextra -Werror -o "$t/ver-$lay" "$t/ver.c" $flags \
        -Wl,-rpath,"$root/$lib" 2>&1); then
        fail "$lay: a program builds with pkg-config's flags" "$(printf '%s' "$out" | head -c 300)"
    else
        out=$(timeout 20 "$t/ver-$lay" 2>&1)
        if [ "$out" != "$version $version" ]; then
            fail "$lay: a program builds with pkg-config's flags" "it printed '$out', want '$version $version'"
        elif ! readelf -d "$t/ver-$lay" | grep -q "Shared library: \[libpoolalloc.so.$major\]"; then
            fail "$lay: a program builds with pkg-config's flags" "it does not need libpoolalloc.so.$major"
        else
            pass "$lay: a program builds with pkg-config's flags"
        fi
    fi

    if [ -n "$dest" ]; then
        # The wrapper's library is the installed path, without DESTDIR; here it is
        # not there (unless poolalloc is installed on this machine): the wrapper
        # names it and stops rather than look elsewhere.
        local real=$prefix/${lib#"${prefix#/}"/}/libpoolalloc.so.$major
        [ -n "$libdir" ] && real=$libdir/libpoolalloc.so.$major
        if [ -e "$real" ]; then
            # shellcheck disable=SC2016  # the inner shell expands it
            out=$("$root/$bin/poolalloc" sh -c 'echo "$LD_PRELOAD"' 2>&1)
            check "$lay: the wrapper preloads $real" "LD_PRELOAD was '$out'" [ "$out" = "$real" ]
        else
            out=$("$root/$bin/poolalloc" sh -c 'echo ran' 2>&1)
            check "$lay: the wrapper names $real and stops" "'$out'" \
                names_and_stops "$out" "$real"
        fi
        live "$lay: the installed wrapper and poolstat on a live program" \
            "$root/$bin/poolalloc" "$root/$bin/poolstat" \
            POOLALLOC_LIB="$root/$lib/libpoolalloc.so.$major"
    else
        live "$lay: the installed wrapper and poolstat on a live program" \
            "$root/$bin/poolalloc" "$root/$bin/poolstat"
    fi

    # Uninstall removes what install put there and nothing else.
    mkdir -p "$root/$lib" && echo keep >"$root/$lib/libother.so.1"
    log=$t/$lay.uninstall.log
    if ! mk "$log" "${vars[@]}" uninstall; then
        fail "$lay: make uninstall" "$(tail -n 5 "$log" | tr '\n' ' ')"
        return
    fi
    got=$(tree_list "$root")
    if [ -z "$installed" ]; then
        fail "$lay: make uninstall removes what install put there" "install put nothing there"
    else
        check "$lay: make uninstall removes what install put there, and nothing else" \
            "left: $(tr '\n' ' ' <<<"$got")" [ "$got" = "$lib/libother.so.1" ]
    fi
}

# Build first, as the user (make install only copies).
if ! mk "$t/build.log" all; then
    fail "make all" "$(tail -n 5 "$t/build.log" | tr '\n' ' ')"
else
    mlib=usr/lib/x86_64-linux-gnu
    round_trip debian "$t/debian" "$t/debian" /usr /usr/lib/x86_64-linux-gnu \
        usr/bin $mlib usr/include usr/share/man $mlib/pkgconfig
    r=$t/usr-tree
    round_trip usr "$r" "" "$r/usr" "$r/usr/lib/x86_64-linux-gnu" \
        usr/bin $mlib usr/include usr/share/man $mlib/pkgconfig
    r=$t/local-tree
    round_trip local "$r" "" "$r/local" "" \
        local/bin local/lib local/include local/share/man local/lib/pkgconfig
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
