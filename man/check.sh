#!/bin/sh
# SPDX-License-Identifier: MIT
# man/check.sh OPTDOC VERSION [POOLSTAT] - the man-check tier: every page
# poolalloc ships is there, carries VERSION in its title line and formats
# without a warning (groff -ww, mandoc -T lint, man -l); poolalloc.7's
# variable list equals what OPTDOC prints from core/options.h; poolstat.1
# and poolalloc.1 name every option and subcommand that POOLSTAT --help and
# the wrapper's --help list. One PASS or FAIL line per check, then
# "N passed, M failed"; exit 1 if any failed.
set -u
optdoc=$1 version=$2 poolstat=${3:-}
cd "$(dirname "$0")/.."
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
ko() { echo "FAIL $*"; fail=$((fail + 1)); }
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

if python3 tools/readme_options.py "$optdoc" man/poolalloc.7 --check >"$out" 2>&1; then
    ok "man/poolalloc.7: option list matches core/options.h"
else
    ko "$(cat "$out")"
fi

# The pages issue 14 promises, and any other page in man/.
pages=$( { printf '%s\n' man/poolstat.1 man/poolalloc.1 man/poolalloc.3 man/poolalloc.7
           ls man/*.[1-8] 2>/dev/null; } | sort -u)
for p in $pages; do
    if [ ! -f "$p" ]; then
        ko "$p: missing"
        continue
    fi
    why=
    # The title line: .TH NAME SECTION DATE "poolalloc VERSION" ...
    th=$(sed -n 's/^\.TH .*"poolalloc \([^"]*\)".*/\1/p' "$p")
    [ "$th" = "$version" ] || why="$why; .TH says version '$th', poolalloc.h says $version (make man)"
    if ! groff -ww -z -man "$p" >"$out" 2>&1 || [ -s "$out" ]; then
        why="$why; groff -ww: $(head -n 3 "$out" | tr '\n' ' ')"
    fi
    if ! mandoc -T lint -W warning "$p" >"$out" 2>&1; then
        why="$why; mandoc -T lint: $(head -n 3 "$out" | tr '\n' ' ')"
    fi
    # What a reader sees: man-db's own pipeline, with groff's warnings on.
    if ! LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>"$out" >"$out.txt" || [ -s "$out" ]; then
        why="$why; man -l: $(head -n 3 "$out" | tr '\n' ' ')"
    elif [ "$(wc -l <"$out.txt")" -lt 10 ]; then
        why="$why; man -l rendered $(wc -l <"$out.txt") lines"
    fi
    rm -f "$out.txt"
    if [ -z "$why" ]; then
        ok "$p: groff -ww, mandoc -T lint and man -l clean, version $version"
    else
        ko "$p:${why#;}"
    fi
done
# The commands' own --help against their pages: every long option and
# subcommand a command lists must be in its page (they are declared once, in
# tools/poolstat/args.c and the wrapper; the pages are written by hand).
help_vs_page() {   # NAME PAGE HELP-TEXT
    # Options: the lines of an option list ("  -w, --watch  ..."), else (a
    # one-line usage) every --word; subcommands: "  poolstat [show] ...".
    words=$(printf '%s\n' "$3" | sed -n 's/^  *\(-[a-zA-Z], *\)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p')
    [ -n "$words" ] || words=$(printf '%s\n' "$3" | { grep -o -- '--[a-z][a-z-]*' || true; })
    words="$words $(printf '%s\n' "$3" | sed -n 's/^  [a-z]* \[\{0,1\}\([a-z][a-z]*\)\]\{0,1\} .*/\1/p')"
    # Each must be an item of the page: a tag line of its rendering, at the
    # indent of .TP tags ("-w, --watch", "--json ...", "flush target").
    text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$2" 2>/dev/null | sed 's/\xe2\x80\x90/-/g')
    missing=
    for w in $(printf '%s\n' $words | sort -u); do
        printf '%s\n' "$text" | grep -q -E -e "^       (-[a-zA-Z], )?$w( |,|\$)" || missing="$missing $w"
    done
    if [ -z "$(printf '%s' "$words" | tr -d ' ')" ]; then
        ko "$2: $1 --help printed nothing to compare"
    elif [ -n "$missing" ]; then
        ko "$2: $1 --help lists what the page has no item for:$missing"
    else
        ok "$2: an item for every option and subcommand $1 --help lists"
    fi
}
if [ -n "$poolstat" ] && [ -f man/poolstat.1 ]; then
    help_vs_page poolstat man/poolstat.1 "$("$poolstat" --help 2>&1)"
fi
if [ -f man/poolalloc.1 ]; then
    help_vs_page poolalloc man/poolalloc.1 "$(sh tools/poolalloc --help 2>&1)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
