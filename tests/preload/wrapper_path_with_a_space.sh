#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# wrapper_path_with_a_space — the poolalloc wrapper never runs a program
# without the library by accident. The dynamic loader splits LD_PRELOAD at
# spaces and colons, so a library whose path holds one cannot be preloaded
# by that path: the wrapper then uses the library's real path if it has
# none (a folder reached through a symlink), and otherwise stops with one
# line naming the path, without running the program.
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
[ -n "$LIB" ] || { echo ok; exit 0; }   # the wrapper's own rule: nothing to compare on glibc
wrapper=$(cd "$PT_DIR/../.." && pwd)/tools/poolalloc
[ -x "$wrapper" ] || { fail "no wrapper at $wrapper"; finish; }
base=$(mktemp -d /tmp/pa-wrap.XXXXXX)
trap 'rm -rf "$base"' EXIT

# An installed layout (wrapper and library side by side) in a folder with a space.
mkdir -p "$base/with space" "$base/plain"
cp "$wrapper" "$LIB" "$base/with space/"
out=$("$base/with space/poolalloc" /bin/sh -c 'echo ran' 2>&1)
rc=$?
[ "$rc" -eq 127 ] || fail "library under a path with a space: exit $rc, want 127: $out"
case $out in *ran*) fail "the program ran without the library: $out" ;; esac
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -q "^poolalloc: .*space" ||
    fail "want one line saying why: $out"

# The same layout whose real folder has no space, reached through one that does.
cp "$wrapper" "$LIB" "$base/plain/"
ln -s "$base/plain" "$base/link with space"
out=$("$base/link with space/poolalloc" /bin/sh -c 'grep -c libpoolalloc /proc/$$/maps; echo "$LD_PRELOAD"' 2>&1)
n=$(printf '%s\n' "$out" | head -n 1)
[ "$n" -gt 0 ] 2>/dev/null || fail "through a symlink with a space: the library is not loaded: $out"
printf '%s\n' "$out" | tail -n 1 | grep -qx "$base/plain/libpoolalloc.so" ||
    fail "through a symlink with a space: LD_PRELOAD is not the real path: $out"
finish
