#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench.py - poolalloc's benchmark driver (`make bench`, `make bench-fastpath`).

Runs every case under five allocators - glibc (no preload), poolalloc, tcmalloc,
jemalloc, mimalloc (LD_PRELOAD) - and under poolalloc with allocation sampling on
(poolalloc+sample2m, poolalloc+sample512k: POOLALLOC_SAMPLE=2m, 512k), all
interleaved within each repetition (rep k runs them in the order rotated by k), and
prints one markdown table of medians with the ratios poolalloc / best peer and
poolalloc / glibc, then a table of what sampling costs: per row, sampled run /
plain poolalloc run of the same repetition (wall and CPU time), median and range. Lower is better in every
column: times, microseconds per request, MiB of RSS. The table also goes to
BUILD/bench/results.md (with a header naming the machine), every single run to
BUILD/bench/results.json.

Every run is checked: a non-zero exit, a signal, a time-out, a checksum or an
output that differs from glibc's run of the same case marks that cell FAILED, and
the reasons are listed under the table.

    bench.py [--build DIR] [--quick]               all cases (make bench [BENCH_QUICK=1])
    bench.py --case pingpong[,batch100] --reps 3   some cases only
    bench.py --alloc poolalloc,glibc ...           some allocators only
    bench.py --no-sample                           without the sampling variants
    bench.py --fastpath                            malloc(32)+free: time and callgrind,
                                                   and the rseq floors (floor.c: inline,
                                                   and as two calls like malloc/free)
    bench.py --list                                the cases
"""
# This file reads the command line and hands over to the job's module: compare.py
# (make bench), fastpath.py (--fastpath), samplecost.py (--sample-cost). What the jobs
# share: allocs.py (the allocators, their libraries and environments), procs.py
# (running one program), workloads.py (the generated inputs), cases.py (the cases and
# one run of each), callgrind.py (instruction counts), report.py (formats, page header).
import argparse
import os
import sys

from allocs import ALLOC_NAMES, FASTPATH_ALLOCS, VARIANTS, allocators, sampling_starts, \
    snapshot_poolalloc
from cases import Ctx, make_cases
from compare import run_all
from fastpath import FLOOR, FLOOR_CALLED, fastpath
from report import log
from samplecost import sample_cost

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--quick", action="store_true", help="shorter loops, fewer reps (~2 min)")
    ap.add_argument("--case", help="comma-separated case names (default: all)")
    ap.add_argument("--alloc", help="comma-separated allocators (default: all; see --list)")
    ap.add_argument("--no-sample", action="store_true",
                    help="leave out the poolalloc+sample* variants (sampling on)")
    ap.add_argument("--reps", type=int, help="repetitions per case (default: per kind)")
    ap.add_argument("--fastpath", action="store_true", help="the malloc(32)+free fast-path table")
    ap.add_argument("--sample-cost", action="store_true",
                    help="instructions with sampling on / off, per case (callgrind)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    ctx = Ctx()
    ctx.quick = args.quick
    ctx.outdir = os.path.join(ROOT, args.build, "bench")
    ctx.work = os.path.join(ctx.outdir, "work")
    ctx.micro = os.path.join(ctx.outdir, "micro")
    ctx.floors = {FLOOR: os.path.join(ctx.outdir, "floor"),
                  FLOOR_CALLED: os.path.join(ctx.outdir, "floor-called")}
    ctx.redis_script = os.path.join(ctx.work, "redis-check.txt")
    ctx.outputs = {}
    ctx.line_trips = {}
    os.makedirs(ctx.work, exist_ok=True)
    for f in os.listdir(ctx.work):
        if f.startswith("failed-"):
            os.unlink(os.path.join(ctx.work, f))
    if args.list:
        for c in make_cases(ctx):
            print("%-13s %-7s %s" % (c.name, c.kind, "; ".join(r[1] for r in c.rows)))
        print("allocators: %s" % ", ".join(ALLOC_NAMES))
        return 0
    if not os.access(ctx.micro, os.X_OK):
        sys.exit("bench.py: %s missing: run `make %s` first" % (ctx.micro, os.path.relpath(ctx.micro, ROOT)))
    if args.fastpath:
        for prog in ctx.floors.values():
            if not os.access(prog, os.X_OK):
                sys.exit("bench.py: %s missing: run `make %s` first"
                         % (prog, os.path.relpath(prog, ROOT)))
    snap = snapshot_poolalloc(args.build, ctx.work)
    if isinstance(snap, str):
        sys.exit("bench.py: %s missing: run `make %s` first" % (snap, os.path.relpath(snap, ROOT)))
    ctx.lib_note = snap[1]
    libs = allocators(args.build, snap[0])
    if args.alloc:
        allocs = args.alloc.split(",")
    else:
        allocs = list(FASTPATH_ALLOCS if args.fastpath else ALLOC_NAMES)
        if args.no_sample:
            allocs = [a for a in allocs if a not in VARIANTS]
    for a in allocs:
        if a not in libs:
            sys.exit("bench.py: no allocator %s (have: %s)" % (a, ", ".join(ALLOC_NAMES)))
        if a != "glibc" and not (libs[a] and os.path.exists(libs[a])):
            sys.exit("bench.py: %s library not found (%s): run `make bench-deps`" % (a, libs[a]))
    if args.fastpath:
        return fastpath(args, ctx, libs, allocs)
    if args.sample_cost:
        return sample_cost(args, ctx, libs)
    note = None
    for v in [a for a in allocs if a in VARIANTS]:
        why = sampling_starts(ctx.micro, libs[v], VARIANTS[v][1]["POOLALLOC_SAMPLE"])
        if why:
            log("bench: %s left out: sampling does not start (%s)" % (v, why))
            note = "%s left out: sampling does not start: %s" % (v, why)
            allocs = [a for a in allocs if a not in VARIANTS]
            break
    return run_all(args, ctx, libs, allocs, note)


if __name__ == "__main__":
    sys.exit(main())

