#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keeps the generated option list of a document equal to what `optdoc` prints
from the one option table in core/options.h.

    readme_options.py OPTDOC FILE --write|--check

FILE is markdown (README.md, docs/*.md: the table between the HTML comment
markers, as optdoc prints it) or a man page (man/*.[1-8]: the same rows as
roff `.TP` items between `.\\" options:begin` and `.\\" options:end`).
A markdown file whose table lives elsewhere says where, in a comment
`<!-- options: docs/tuning.md -->` (a path relative to it), and that file is
the one written or checked (README.md does: `make readme` keeps working).
--write replaces the section between the markers, --check fails (exit 1)
when it differs."""
import os
import re
import sys
import subprocess
import textwrap

MD_MARKERS = ("<!-- options:begin -->", "<!-- options:end -->")
ROFF_MARKERS = ('.\\" options:begin', '.\\" options:end')


def roff_text(s):
    """Markdown inline text (only `code` spans) to roff: code in bold, the
    characters roff reads specially escaped."""
    out = []
    for i, part in enumerate(s.split("`")):
        part = part.replace("\\", "\\e")
        if i % 2:   # inside a code span: a real minus, in bold
            out.append("\\fB\\%" + part.replace("-", "\\-") + "\\fR")
        else:
            out.append(part.replace(" %", "\\~%"))
    text = "".join(out)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def roff_wrap(text, width=78):
    """Source lines of at most `width` bytes (mandoc's style check wants 80),
    broken at spaces; a line that would start with a control character gets
    the zero-width escape first."""
    out = []
    for line in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False):
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return out


def roff_list(table):
    """optdoc's markdown table to one `.TP` item per variable."""
    lines = []
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 3:
            sys.exit(f"optdoc printed a row that is not three cells: {row!r}")
        name, default, doc = cells
        name = "\\fB\\%" + name.strip("`").replace("-", "\\-") + "\\fR"
        if default == "(unset)":
            tag = f"{name} (unset by default)"
        else:
            tag = f"{name} (default {roff_text(default)})"
        doc = roff_text(doc)
        lines += [".TP", tag] + roff_wrap(doc if doc.endswith(".") else doc + ".")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("--write", "--check"):
        sys.exit("usage: readme_options.py OPTDOC FILE --write|--check")
    optdoc, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    table = subprocess.run([optdoc], check=True, capture_output=True, text=True).stdout
    roff = re.search(r"\.[1-8]$", path) is not None
    begin, end = ROFF_MARKERS if roff else MD_MARKERS
    body = roff_list(table) if roff else table
    text = open(path, encoding="utf-8").read()
    moved = re.search(r"<!-- options: (\S+) -->", text)
    if not roff and begin not in text and moved:
        path = os.path.join(os.path.dirname(path), moved.group(1))
        text = open(path, encoding="utf-8").read()
    head, sep, rest = text.partition(begin)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        sys.exit(f"{path}: no {begin} ... {end} section")
    new = f"{head}{begin}\n{body}{end}{tail}"
    if mode == "--write":
        if new != text:
            open(path, "w", encoding="utf-8").write(new)
    elif new != text:
        target = "man" if roff else "readme"
        sys.exit(f"{path}: the option list is stale; run `make {target}`")
    else:
        print(f"{path}: option list matches core/options.h")


main()
