# SPDX-License-Identifier: MIT
"""report.py - what every benchmark page shares: progress lines on stderr, the figures'
format (medians, cells), the failure list under a table, and the page header (machine,
date, load, library, package versions). The tables themselves are built by the job
that measures them (compare.py, fastpath.py, callgrind.py); machine.py prints the
header alone.
"""
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def log(msg):
    """A progress line on stderr (stdout carries the tables)."""
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    """The median of xs, None for none."""
    return statistics.median(xs) if xs else None


def fmt(v):
    """A figure for a table cell: no decimals from 100 up, one from 10 up, else two;
    "—" for None."""
    if v is None:
        return "—"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def failure_lines(name, alloc, bad, total):
    """One markdown line per kind of failure (the reason up to its first ';'), naming
    the repetitions it happened in; the details are those of the first of them."""
    by_kind = {}
    for r in bad:
        by_kind.setdefault(r.fail.split(";")[0], []).append(r)
    lines = []
    for rs in by_kind.values():
        logs = re.findall(r"\(log: (\S+)\)", " ".join(r.fail for r in rs))
        first = re.sub(r" \(log: \S+\)", "", rs[0].fail)
        lines.append("- **%s** under **%s**, rep %s of %d: %s%s" % (
            name, alloc, ",".join(str(r.rep) for r in rs), total, first,
            " (logs: %s)" % ", ".join(logs) if logs else ""))
    return lines


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_header(title, build, lib_note, when="at the end"):
    """The page header; `when` says when the load average was read (bench.py builds
    the header after its runs, machine.py before)."""
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    vers = sh("dpkg-query -W -f='${Package} ${Version}, ' libc6 libtcmalloc-minimal4 libjemalloc2 "
              "libmimalloc2.0 python3 sqlite3 gcc redis-server 2>/dev/null").rstrip(", ")
    rev = sh("cd %s && git rev-parse --short HEAD 2>/dev/null" % ROOT)
    dirty = sh("cd %s && git status --porcelain -- core preload stats 2>/dev/null" % ROOT)
    return ["# %s" % title, "",
            "- machine: %s CPUs (nproc), %s, kernel %s" % (sh("nproc"), cpu,
                                                          platform.release()),
            "- date: %s; load average (1/5/15 min) %s: %s (2 CPUs shared: other work "
            "adds noise)" % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
                             when, loadavg()),
            "- poolalloc: %s, git %s%s" % (lib_note, rev or "?",
                                           " + uncommitted changes in core/preload/stats"
                                           if dirty else ""),
            "- packages: %s" % vers, ""]
