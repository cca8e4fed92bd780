#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sampling.py - what allocation sampling costs real programs, in CPU time.

Runs python3 (tools/bench/py_workload.py, PYTHONMALLOC=malloc), sqlite3 (`:memory:`,
the generated SQL of `make bench`) and gcc (-O2 -c of the generated C file of
`make bench`) under poolalloc twice per round, with POOLALLOC_SAMPLE=0 and with
POOLALLOC_SAMPLE=MEAN, in alternating order (ABBA: round k runs sampled first when k
is odd), and prints a markdown table, one row per program: the median CPU time (user + system
of the child and its reaped children, from os.wait4) of each setting, the median of
the per-round ratios sampled / unsampled with their range, the peak RSS of each
setting (the largest process of the run, from the same rusage), and the samples taken per
sampled run (every process of the run: gcc's cc1 and as too), read from the
library's exit line under POOLALLOC_VERBOSE=1 (both settings run with it).

    sampling.py [--build DIR] [--rounds N] [--mean 2m] [--case python3,gcc] [--quick]

DIR holds libpoolalloc.so (`make B=DIR lib`); the inputs go to DIR/bench/sampling/.
The same inputs as `make bench` (workloads.py's generators); --quick uses its --quick
sizes. Every run's output is compared with the first unsampled run's: a difference,
a non-zero exit or a signal marks the program FAILED. Ratios, never single timings:
on a shared machine other load moves a run by more than the 1 % this measures, and
the paired ratio of one round cancels most of it. Exit status 0 even when a ratio
is over 1 %: a benchmark, not a test.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import workloads  # noqa: E402  (gen_sql, gen_c: the inputs of `make bench`)

SAMPLES_RE = re.compile(rb"poolalloc: sampling: (\d+) samples")


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def cases(work, quick):
    scale = 0.3 if quick else 1.0
    sql = os.path.join(work, "workload.sql")
    csrc = os.path.join(work, "gen.c")
    workloads.gen_sql(sql, scale)
    workloads.gen_c(csrc, 50 if quick else 150)
    py = os.path.join(HERE, "py_workload.py")
    return [
        ("python3", "python3 allocation-heavy script (PYTHONMALLOC=malloc)",
         ["/usr/bin/python3", py, str(scale)], {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"},
         None),
        ("sqlite3", "sqlite3 :memory: generated SQL workload", ["/usr/bin/sqlite3", ":memory:"],
         {}, sql),
        ("gcc", "gcc -O2 -c generated C file",
         ["/usr/bin/gcc", "-O2", "-c", csrc, "-o", os.path.join(work, "gen.o")], {}, None),
    ]


def run(argv, env, stdin, cwd, timeout=600):
    """(status, cpu seconds, peak RSS KiB, stdout, stderr) of one run, from wait4's
    rusage, which counts the child's reaped children (gcc's cc1 and as; the RSS is
    the largest of them)."""
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    outp, errp = os.path.join(cwd, "out.txt"), os.path.join(cwd, "err.txt")
    with open(outp, "wb") as fo, open(errp, "wb") as fe:
        p = subprocess.Popen(argv, env=env, stdin=fin, stdout=fo, stderr=fe, cwd=cwd)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        p.returncode = 0   # reaped here; keeps Popen from waiting again
    if stdin:
        fin.close()
    with open(outp, "rb") as f:
        out = f.read()
    with open(errp, "rb") as f:
        err = f.read()
    return status, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, out, err


def fmt_ratio(rs):
    if not rs:
        return "—"
    return "%.4f (%.3f–%.3f)" % (statistics.median(rs), min(rs), max(rs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default="build", help="directory of libpoolalloc.so (default: build)")
    ap.add_argument("--rounds", type=int, default=9, help="rounds, each one run per setting (default 9)")
    ap.add_argument("--mean", default="2m", help="POOLALLOC_SAMPLE of the sampled runs (default 2m)")
    ap.add_argument("--case", help="comma-separated: python3,sqlite3,gcc (default: all)")
    ap.add_argument("--quick", action="store_true", help="the smaller inputs of make bench --quick")
    args = ap.parse_args()

    build = os.path.join(ROOT, args.build) if not os.path.isabs(args.build) else args.build
    lib = os.path.join(build, "libpoolalloc.so")
    if not os.path.exists(lib):
        sys.exit("sampling.py: %s missing: run `make B=%s lib` first" % (lib, args.build))
    work = os.path.join(build, "bench", "sampling")
    os.makedirs(work, exist_ok=True)
    todo = cases(work, args.quick)
    if args.case:
        want = set(args.case.split(","))
        todo = [c for c in todo if c[0] in want]
    settings = [("0", "POOLALLOC_SAMPLE=0"), (args.mean, "POOLALLOC_SAMPLE=" + args.mean)]

    base = {k: v for k, v in os.environ.items() if not k.startswith("POOLALLOC_")}
    base.update({"LD_PRELOAD": lib, "POOLALLOC_SOCKET": "off", "POOLALLOC_VERBOSE": "1",
                 "LC_ALL": "C"})
    cpu = {c[0]: {s: [] for s, _ in settings} for c in todo}
    rss = {c[0]: {s: [] for s, _ in settings} for c in todo}
    samples = {c[0]: [] for c in todo}
    ref, failed = {}, {}
    t0 = time.time()
    for r in range(args.rounds):
        for name, _, argv, extra, stdin in todo:
            order = settings if r % 2 == 0 else settings[::-1]
            for s, _ in order:
                env = dict(base, POOLALLOC_SAMPLE=s, **extra)
                status, t, kib, out, err = run(argv, env, stdin, work)
                why = None
                if os.WIFSIGNALED(status):
                    why = "signal %d" % os.WTERMSIG(status)
                elif os.WEXITSTATUS(status):
                    why = "exit %d" % os.WEXITSTATUS(status)
                elif ref.setdefault(name, out) != out:
                    why = "output differs from the first run's"
                if why:
                    failed[name] = "POOLALLOC_SAMPLE=%s: %s; %s" % (
                        s, why, err[-300:].decode(errors="replace"))
                    continue
                cpu[name][s].append(t)
                rss[name][s].append(kib)
                if s != "0":
                    n = [int(m) for m in SAMPLES_RE.findall(err)]
                    samples[name].append(sum(n) if n else None)
        log("round %d/%d done (%.0f s)" % (r + 1, args.rounds, time.time() - t0))

    m = args.mean
    head = ["program", "CPU s, POOLALLOC_SAMPLE=0", "CPU s, POOLALLOC_SAMPLE=%s" % m,
            "%s / 0: median (range)" % m, "samples per run (median)",
            "peak RSS MiB, 0 -> %s (medians)" % m]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, title, _, _, _ in todo:
        a, b = cpu[name]["0"], cpu[name][m]
        ratios = [y / x for x, y in zip(a, b) if x > 0]
        ns = [n for n in samples[name] if n is not None]
        cells = [title, "%.3f" % statistics.median(a) if a else "—",
                 "%.3f" % statistics.median(b) if b else "—", fmt_ratio(ratios),
                 "%d" % statistics.median(ns) if ns else "—",
                 "%.1f -> %.1f" % (statistics.median(rss[name]["0"]) / 1024,
                                   statistics.median(rss[name][m]) / 1024) if a and b else "—"]
        if name in failed:
            cells[3] = "FAILED"
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "%s, %d rounds, ABBA order, library %s; CPU time = user + system of the "
             "program and its reaped children (os.wait4). Ratio = the sampled run over the "
             "unsampled run of the same round; median and range. Samples: every process of "
             "a sampled run, from the exit line of POOLALLOC_VERBOSE=1." %
             (time.strftime("%Y-%m-%d %H:%M"), args.rounds, lib),
             "Whole run: %.0f s." % (time.time() - t0)]
    for name, why in failed.items():
        notes.append("- **%s FAILED**: %s" % (name, why))
    print("\n".join(lines + notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
