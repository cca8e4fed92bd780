#!/bin/sh
# SPDX-License-Identifier: MIT
# check_spdx.sh [--add] - every source file tracked by git (C, headers, shell,
# Python, makefiles, man pages, the wrapper) names its licence on an SPDX line
# within its first three lines. --add writes the line where it is missing.
set -eu
cd "$(dirname "$0")/.."
tag="SPDX-License-Identifier: MIT"
add=${1:-}
missing=0
for f in $(git ls-files -- '*.c' '*.h' '*.sh' '*.py' '*.mk' 'Makefile' 'man/*.[1-8]' \
                          'tools/poolalloc' 'tools/*.in' '.ci/run'); do
    [ -f "$f" ] || continue
    head -n 3 "$f" | grep -q "$tag" && continue
    if [ "$add" != --add ]; then
        echo "check-spdx: $f has no '$tag' line" >&2
        missing=$((missing + 1))
        continue
    fi
    case $f in
    *.c | *.h) line="/* $tag */" ;;
    man/*) line=".\\\" $tag" ;;
    *) line="# $tag" ;;
    esac
    if head -n 1 "$f" | grep -q '^#!'; then
        { head -n 1 "$f"; echo "$line"; tail -n +2 "$f"; } >"$f.spdx"
    else
        { echo "$line"; cat "$f"; } >"$f.spdx"
    fi
    chmod --reference="$f" "$f.spdx"
    mv "$f.spdx" "$f"
done
if [ "$missing" -gt 0 ]; then
    echo "FAIL check-spdx: $missing files without an SPDX line (tools/check_spdx.sh --add)"
    exit 1
fi
echo "PASS check-spdx: every source file names its licence"
