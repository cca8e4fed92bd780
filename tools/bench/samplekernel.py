#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""samplekernel.py - the kernel's share of what sampling costs, by counts, not by time.

CPU time cannot show a cost under 1 % on a shared machine (a run moves by 10-20 %),
and callgrind counts user-space instructions only. What sampling adds in the kernel is
system calls (rt_sigprocmask around each sample's glibc call, libunwind's own, the
dlopen of libunwind) and page faults (libunwind and the tables): both are counted
exactly by `perf stat` (the raw_syscalls:sys_enter tracepoint and page-faults, children
included). This runs python3, sqlite3 and gcc (the inputs of sampling.py and
`make bench`) under poolalloc with POOLALLOC_SAMPLE=0 and with MEAN, REPS times each,
and prints per program: the extra system calls and faults (medians), what they cost at
the unit costs measured in the same run (a getppid loop for a system call, a
first-touch loop for a fault: both upper bounds, the loops' own overhead included),
and that cost over the unsampled run's task-clock.

    samplekernel.py [--build DIR] [--mean 2m] [--reps 3] [--quick]

Needs perf (Debian: linux-perf) and the rights to read the syscall tracepoint (root).
"""
import argparse
import mmap
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sampling  # noqa: E402  (cases(): the programs and inputs)

EVENTS = "raw_syscalls:sys_enter,page-faults,task-clock"


def perf_counts(argv, env, stdin, cwd):
    """{event: value} of one run under perf stat (children counted)."""
    out = os.path.join(cwd, "perf.csv")
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    try:
        r = subprocess.run(["perf", "stat", "-x", ",", "-o", out, "-e", EVENTS, "--"] + argv,
                           env=env, stdin=fin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd=cwd, timeout=600)
    finally:
        if stdin:
            fin.close()
    if r.returncode != 0:
        raise SystemExit("samplekernel.py: %s exited with %d" % (argv[0], r.returncode))
    got = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[2] and re.match(r"^[0-9.]+$", parts[0]):
                got[parts[2]] = float(parts[0])
    return got


def syscall_ns():
    """ns per system call: getppid in a loop (the loop's overhead included)."""
    n = 200000
    t = time.process_time()
    for _ in range(n):
        os.getppid()
    return (time.process_time() - t) * 1e9 / n


def fault_ns():
    """ns per first-touch page fault of anonymous memory (the loop included)."""
    pages = 32768
    m = mmap.mmap(-1, pages * 4096)
    t = time.process_time()
    for i in range(pages):
        m[i * 4096] = 1
    ns = (time.process_time() - t) * 1e9 / pages
    m.close()
    return ns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="directory of libpoolalloc.so")
    ap.add_argument("--mean", default="2m", help="POOLALLOC_SAMPLE of the sampled runs")
    ap.add_argument("--reps", type=int, default=3, help="runs per program and setting")
    ap.add_argument("--quick", action="store_true", help="the smaller inputs of make bench --quick")
    args = ap.parse_args()
    if not shutil.which("perf"):
        print("samplekernel.py: perf not found (Debian package linux-perf): skipped")
        return
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    lib = os.path.join(build, "libpoolalloc.so")
    work = os.path.join(build, "bench", "sampling")
    os.makedirs(work, exist_ok=True)
    try:
        perf_counts(["/bin/true"], dict(os.environ), None, work)
    except (SystemExit, OSError) as e:
        print("samplekernel.py: perf cannot count system calls here (%s): skipped" % e)
        return
    todo = sampling.cases(work, args.quick)
    base = {k: v for k, v in os.environ.items() if not k.startswith("POOLALLOC_")}
    t_sys, t_fault = syscall_ns(), fault_ns()
    lines = ["| program | system calls, 0 -> %s | page faults, 0 -> %s | their cost at "
             "%.0f ns a call and %.0f ns a fault | over the unsampled task-clock |"
             % (args.mean, args.mean, t_sys, t_fault), "|---|---|---|---|---|"]
    for name, title, argv, extra, stdin in todo:
        got = {}
        for setting in ("0", args.mean):
            env = dict(base, LD_PRELOAD=lib, POOLALLOC_SAMPLE=setting, **extra)
            runs = [perf_counts(argv, env, stdin, work) for _ in range(args.reps)]
            got[setting] = {e: statistics.median(r.get(e, 0.0) for r in runs)
                            for e in ("raw_syscalls:sys_enter", "page-faults", "task-clock")}
        a, b = got["0"], got[args.mean]
        dsys = b["raw_syscalls:sys_enter"] - a["raw_syscalls:sys_enter"]
        dflt = b["page-faults"] - a["page-faults"]
        cost_ms = (max(dsys, 0) * t_sys + max(dflt, 0) * t_fault) / 1e6
        lines.append("| %s | %.0f -> %.0f (%+.0f) | %.0f -> %.0f (%+.0f) | %.2f ms | %.2f %% |" % (
            title, a["raw_syscalls:sys_enter"], b["raw_syscalls:sys_enter"], dsys,
            a["page-faults"], b["page-faults"], dflt, cost_ms, 100.0 * cost_ms / a["task-clock"]))
    lines.append("")
    lines.append("%s, %d runs per program and setting (medians); counts from perf stat, "
                 "children included; unit costs measured in the same run (upper bounds)."
                 % (time.strftime("%Y-%m-%d %H:%M"), args.reps))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
