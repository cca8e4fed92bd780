#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_layers.py - the house's two rules, checked on the sources (make test runs it).

1. Every `#include "../DIR/..."` goes DOWN: include/ (the public header) is under
   everything, then core/, stats/, wire/, sampler/, server/, preload/, and
   tools/poolstat/ on top.
2. No module calls back into one that calls it: a module is a .c file with the
   header of the same name; A depends on B when A's code (its .c and its .h) names a
   function, a global or a header inline that B alone defines (universal-ctags reads
   the definitions). The dependency graph must have no cycle.

Prints one line per broken rule (the cycle's files and the names that tie them) and
exits 1; otherwise one PASS line. Needs universal-ctags (Debian: universal-ctags).
"""
import os
import re
import subprocess
import sys

FLOORS = {"include": 0, "core": 1, "stats": 2, "wire": 3, "sampler": 4, "server": 5,
          "preload": 6, "tools/poolstat": 7}
INCLUDE = re.compile(r'^\s*#\s*include\s+"((?:\.\./)+[^"]+)"', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
IDENT = re.compile(r"\b[A-Za-z_]\w*\b")


def floor_of(path):
    d = os.path.dirname(path)
    return FLOORS.get(d)


def sources(root):
    out = []
    for d in FLOORS:
        full = os.path.join(root, d)
        for f in sorted(os.listdir(full)):
            if f.endswith((".c", ".h")):
                out.append(os.path.join(d, f))
    return out


def module_of(path):
    return path[:-2]   # core/cache.c and core/cache.h are the module core/cache


def check_includes(root, files):
    bad = []
    for f in files:
        text = open(os.path.join(root, f), errors="replace").read()
        for m in INCLUDE.finditer(text):
            target = os.path.normpath(os.path.join(os.path.dirname(f), m.group(1)))
            tf = floor_of(target)
            if tf is None or tf >= floor_of(f):
                bad.append(f"{f} includes {m.group(1)}: "
                           f"{'outside the layers' if tf is None else 'not a lower floor'}")
    return bad


def definitions(root, files):
    """name -> modules defining it, for names other modules can use: functions and
    globals of a .c that are not static, and a header's functions (its inlines)."""
    out = subprocess.run(["ctags", "-f", "-", "--language-force=C", "--kinds-C=fv",
                          "--fields=+fK", "--extras=-F", *files],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    defs = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        name, path, fields = parts[0], parts[1], parts[3:]
        static = any(x == "file:" for x in fields)
        if path.endswith(".c") and static:
            continue
        defs.setdefault(name, set()).add(module_of(path))
    return defs


def header_code(text):
    """What a header runs: its macros' bodies and its (inline) functions' bodies.
    Its declarations use nothing: a prototype in stats.h of a function that
    summary.c defines does not make stats depend on summary."""
    code = [m.group(0) for m in re.finditer(r"^[ \t]*#[ \t]*define[^\n]*(?:\\\n[^\n]*)*", text, re.M)]
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0 and text[:i].rstrip().endswith(")"):
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and start is not None:
                code.append(text[start:i])
                start = None
    return "\n".join(code)


def uses(root, files):
    names = {}
    for f in files:
        text = COMMENT.sub(" ", open(os.path.join(root, f), errors="replace").read())
        if f.endswith(".h"):
            text = header_code(text)
        names.setdefault(module_of(f), set()).update(IDENT.findall(text))
    return names


def cycles(edges):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = sources(root)
    problems = check_includes(root, files)
    defs = definitions(root, files)
    edges = {}
    for mod, names in uses(root, files).items():
        for n in names:
            owners = defs.get(n, set())
            if len(owners) == 1 and mod not in owners:
                (target,) = owners
                edges.setdefault(mod, {}).setdefault(target, set()).add(n)
    for group in cycles(edges):
        ties = []
        for a in group:
            for b in group:
                if b in edges.get(a, {}):
                    ns = sorted(edges[a][b])
                    ties.append(f"{a} -> {b} ({', '.join(ns[:4])}{', ...' if len(ns) > 4 else ''})")
        problems.append("modules that call each other in a circle: " + "; ".join(ties))
    for p in problems:
        print(f"FAIL check-layers: {p}")
    if problems:
        return 1
    print(f"PASS check-layers: {len(files)} files; every include goes down a floor; "
          f"{sum(len(e) for e in edges.values())} module dependencies, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
