# SPDX-License-Identifier: MIT
"""samplecost.py - `make bench-sample` (bench.py --sample-cost): what allocation sampling
costs in callgrind instructions, per case, with no timing, so other load does not move
it. sampling.py measures the same in CPU time.
"""
import os
import time

from allocs import VARIANTS, alloc_env
from callgrind import callgrind_sampled, valgrind_version
from cases import MicroCase, RedisCase, make_cases
from report import log, machine_header


def sample_cost(args, ctx, libs):
    """make bench-sample: for every case that runs a program to its end, callgrind's
    instruction count under poolalloc with sampling on over the count with it off (same
    inputs as --quick), and the instructions per sample. No timing, so no noise from
    other load; what it leaves out is the kernel's share (the system calls a sample
    makes), which the notes state."""
    ctx.quick = True
    cases = [c for c in make_cases(ctx) if c.kind != "memory" and not isinstance(c, RedisCase)]
    if args.case:
        cases = [c for c in cases if c.name in set(args.case.split(","))]
    means = [VARIANTS[v][1]["POOLALLOC_SAMPLE"] for v in VARIANTS]
    lib = libs["poolalloc"]
    head = ["case", "instructions, sampling off"]
    for m in means:
        head += ["%s: samples" % m, "%s: sampled path / all" % m, "%s: all / all off" % m,
                 "%s: sampled path per sample" % m]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    failures = []
    t0 = time.time()
    for case in cases:
        if isinstance(case, MicroCase):
            argv, stdin, cwd = [ctx.micro, case.name, str(case.quick_n)], None, None
            extra = case.env.get("poolalloc", {})
        else:
            argv, stdin, cwd, extra = case.argv, case.stdin, ctx.work, case.env
        got = {}
        for m in ["0"] + means:
            env = alloc_env(lib, dict(extra, POOLALLOC_SAMPLE=m))
            total, n, path, p = callgrind_sampled(argv, env, ctx.work, stdin=stdin, cwd=cwd)
            if p.failure():
                failures.append("- **%s** with POOLALLOC_SAMPLE=%s under callgrind: %s; %s"
                                % (case.name, m, p.failure(), p.tail()))
                total = None
            got[m] = (total, n, path)
            log("  %-13s POOLALLOC_SAMPLE=%-5s %s instructions, %d samples, sampled path %d"
                % (case.name, m, total, n, path))
        off = got["0"][0]
        cells = [case.rows[0][1], "%.4g" % off if off else "FAILED"]
        for m in means:
            total, n, path = got[m]
            if not off or not total:
                cells += ["—", "—", "—", "—"]
                continue
            cells += ["%d" % n, "%.2f %%" % (100.0 * path / total), "%.4f" % (total / off),
                      "%.0f" % (path / n) if n else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["",
             "Instructions counted by callgrind (valgrind %s) in every process of the case, "
             "user space only, for the same inputs as `make bench BENCH_QUICK=1`; poolalloc runs "
             "its locked fallback under valgrind (no rseq), which the sampled path does not "
             "use. samples = calls of sample_record. *sampled path / all*: the inclusive "
             "instructions of sample_due, sample_alloc (glibc's malloc, libunwind, the "
             "tables) and sample_forget_slow over all instructions of the run: what sampling "
             "adds in user space, read directly (the pools' work for a sampled request, ~20 "
             "instructions, is not subtracted). *all / all off*: the two runs' totals, which "
             "also move with the program's own variation (python hashes addresses). Not counted: the kernel's share of a "
             "sample, 4 rt_sigprocmask system calls (glibc's allocator runs with signals "
             "blocked for a sampled block's malloc and free, preload/malloc.c) plus about 8 "
             "more per return address libunwind sees for the first time in a thread; see "
             "tools/bench/README.md for their cost in time. Sampling draws its intervals "
             "from a clock-seeded generator, so the sample counts vary from run to run "
             "(Poisson: +-2/sqrt(n))." % valgrind_version(),
             "", "Whole run: %.0f s." % (time.time() - t0)]
    if failures:
        notes += ["", "## FAILED", ""] + failures
    header = machine_header("poolalloc: what allocation sampling costs, in instructions",
                            args.build, ctx.lib_note)
    print("\n".join(lines + notes))
    out = os.path.join(ctx.outdir, "sample-cost.md" if not args.case else "sample-cost-partial.md")
    with open(out, "w") as f:
        f.write("\n".join(header + lines + notes) + "\n")
    log("bench: wrote %s" % out)
    return 0
