#!/usr/bin/env python3
"""Keeps README.md's option table equal to what `optdoc` prints from the one
option table in preload/options.h.  --write replaces the section between the
markers, --check fails (exit 1) when it differs."""
import subprocess
import sys

BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"


def main():
    optdoc, readme, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    table = subprocess.run([optdoc], check=True, capture_output=True, text=True).stdout
    text = open(readme, encoding="utf-8").read()
    head, sep, rest = text.partition(BEGIN)
    old, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        sys.exit(f"{readme}: no {BEGIN} ... {END} section")
    new = f"{head}{BEGIN}\n{table}{END}{tail}"
    if mode == "--write":
        open(readme, "w", encoding="utf-8").write(new)
    elif new != text:
        sys.exit(f"{readme}: the option table is stale; run `make readme`")
    else:
        print("readme-check: option table matches preload/options.h")


main()
