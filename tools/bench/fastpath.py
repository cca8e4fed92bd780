# SPDX-License-Identifier: MIT
"""fastpath.py - `make bench-fastpath` (bench.py --fastpath): what one malloc(32)+free
pair costs under each allocator, in time and in callgrind instructions, against the
two rseq floors of floor.c (the least any per-CPU rseq pair can cost here).
"""
import os
import time

from allocs import PEERS, base_env
from callgrind import LOOP_FN, callgrind_per_pair
from cases import MicroCase, Result, run_case
from procs import run
from report import failure_lines, fmt, log, machine_header, median


# tools/bench/floor.c, run in the pingpong's rotation as if it were two more allocators:
# the pop+push pair of a per-CPU rseq stack and nothing else, the floor of any such
# fast path, built twice: FLOOR with pop and push inlined into the loop, FLOOR_CALLED
# (floor-called) with the two as calls through the GOT into libfloorcall.so, as a
# program calls a preloaded malloc and free. Their pairs are cheap, so they run more
# of them (~0.3 s, like the others).
FLOOR = "rseq floor (pop+push only)"
FLOOR_CALLED = "rseq floor, called (pop and push as two calls, as malloc/free are)"
FLOORS = [FLOOR, FLOOR_CALLED]
FLOOR_N = 250000000


class PingpongFloorCase(MicroCase):
    """micro pingpong under each allocator, and the FLOORS (tools/bench/floor.c, the
    programs in ctx.floors) in the same rotation. A floor checks itself: its check must
    be the number of pairs asked for; it has no output to compare with glibc's (check
    None). Without rseq (valgrind, glibc.pthread.rseq=0) a floor says so and measures
    nothing: a Result with no metrics and the reason in `skipped`, not a failure."""

    def run(self, alloc, lib, ctx):
        if alloc not in FLOORS:
            return super().run(alloc, lib, ctx)
        prog = ctx.floors[alloc]
        p = run([prog, str(FLOOR_N)], base_env(), timeout=300)
        fail = p.failure()
        if fail:
            return Result(fail="%s; %s (log: %s)" % (
                fail, p.tail(), p.save(ctx.faillog("floor", os.path.basename(prog)))))
        text = p.out.decode(errors="replace").strip()
        kv = dict(w.split("=", 1) for w in text.split() if "=" in w)
        if "value" not in kv:
            r = Result()
            r.skipped = text or "no output"
            return r
        if kv.get("check") != str(FLOOR_N):
            return Result(fail="floor ran %s pairs, not %d" % (kv.get("check"), FLOOR_N))
        return Result({self.name: float(kv["value"])}, cpu=float(kv["cpu_s"]))


def best_peer(vals, allocs):
    """(name, value) of the lowest value among the peers in allocs, or (None, None)."""
    ok = {a: vals[a] for a in allocs if a in PEERS and vals.get(a)}
    if not ok:
        return None, None
    best = min(ok, key=ok.get)
    return best, ok[best]


def fastpath(args, ctx, libs, allocs):
    """make bench-fastpath: malloc(32)+free pairs and batches of 100 under allocs with
    the FLOORS in the pingpong's rotation, callgrind's instructions per pair, one table
    printed and written to BUILD/bench/fastpath.md."""
    reps = args.reps or (5 if ctx.quick else 7)
    ping = PingpongFloorCase("pingpong", "malloc(32)+free ping-pong", 30000000, 30000000)
    batch = MicroCase("batch100", "batch of 100", 40000000, 40000000)
    results = {}
    t0 = time.time()
    ctx.quick = False  # the loops must take ~0.3 s even in quick mode
    run_case(ping, allocs + FLOORS, dict(libs, **{f: None for f in FLOORS}), reps, ctx, results)
    run_case(batch, allocs, libs, reps, ctx, results)
    instr, failures, loop = {}, [], set()
    for a in allocs:
        try:
            only, incl, own = callgrind_per_pair(ctx.micro, libs[a], ctx.work)
            instr[a] = (only, incl)
            loop.add(own)
        except RuntimeError as e:
            instr[a] = None
            failures.append("- callgrind under **%s**: %s" % (a, e))
        log("  callgrind %-10s %s instructions/pair (loop included: %s)"
            % (a, fmt(instr[a] and instr[a][0]), fmt(instr[a] and instr[a][1])))
    head = ["allocator", "ns per malloc(32)+free pair (median, min–max)",
            "ns per object, batch of 100 (median, min–max)",
            "callgrind instructions per pair, loop removed (malloc + free only)",
            "callgrind instructions per pair, loop included"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    med = {}
    for a in allocs:
        row = [a]
        for c in (ping, batch):
            rs = results[(c.name, a)]
            bad = [r for r in rs if r.fail]
            failures += failure_lines(c.name, a, bad, len(rs))
            vals = [r.metrics[c.name] for r in rs if not r.fail]
            v = None if bad else median(vals)
            med[(c.name, a)] = v
            row.append("FAILED" if bad else "%s (%s–%s)" % (fmt(v), fmt(min(vals)), fmt(max(vals))))
        row += ["FAILED"] * 2 if instr[a] is None else ["%.1f" % x for x in instr[a]]
        lines.append("| " + " | ".join(row) + " |")
    if "poolalloc" in allocs:
        row = ["**poolalloc / best peer**"]
        for key in ["pingpong", "batch100", 0, 1]:
            vals = {a: (instr[a] and instr[a][key] if key in (0, 1) else med[(key, a)])
                    for a in allocs}
            best, v = best_peer(vals, allocs)
            row.append("%.2f (%s)" % (vals["poolalloc"] / v, best) if vals["poolalloc"] and best
                       else "—")
        lines.append("| " + " | ".join(row) + " |")
    # The floors: their pairs against the best peer's, where the 0.5x target is set.
    unmeasured = []
    best, bv = best_peer({a: med[("pingpong", a)] for a in allocs}, allocs)
    for f in FLOORS:
        rs = results[("pingpong", f)]
        bad = [r for r in rs if r.fail]
        skipped = [r.skipped for r in rs if getattr(r, "skipped", None)]
        failures += failure_lines("floor", f, bad, len(rs))
        vals = [r.metrics["pingpong"] for r in rs if not r.fail and r.metrics]
        if bad:
            cell = "FAILED"
        elif skipped or not vals:
            cell = "— (no rseq, see below)"
            if not vals:
                unmeasured.append(skipped[0] if skipped else "%s: no output" % f)
        else:
            v = median(vals)
            cell = "%s (%s–%s)%s" % (fmt(v), fmt(min(vals)), fmt(max(vals)),
                                     "; %.2f × best peer (%s)" % (v / bv, best) if best else "")
        lines.append("| " + " | ".join([f, cell, "—", "—", "—"]) + " |")
    floor_n = "{:,}".format(FLOOR_N).replace(",", " ")
    loop_note = ("%g instructions" % loop.pop() if len(loop) == 1 else
                 "%s instructions (not the same under every allocator?)"
                 % "/".join("%g" % x for x in sorted(loop)) if loop else "the instructions")
    notes = ["",
             "Time: median of %d runs per allocator, interleaved (order rotated each run), each run "
             "a loop of 30 000 000 pairs or 40 000 000 objects (~0.3 s); loop included. "
             "Instructions: callgrind, at N=2e6 minus at N=1e6, over 1e6, which removes "
             "start-up and first-call costs. *Loop removed*: the inclusive instructions of the "
             "malloc and free calls made by micro's %s, i.e. the allocator alone, counted "
             "exactly (the same on every run); this is how peer figures are usually quoted. "
             "*Loop included*: the whole process's total, as this column was before; it adds "
             "the loop's own %s per pair (argument set-up, the one store into the object, "
             "counter, compare, branch and the two call instructions; micro is built with "
             "-fno-plt, so there are no PLT jumps) and whatever else the process did meanwhile. "
             "Under valgrind glibc does not register rseq, so poolalloc runs its "
             "fallback path there (expected); its rseq path is measured by the time column only. "
             "Lower is better." % (reps, LOOP_FN, loop_note),
             "",
             "*%s* is tools/bench/floor.c, run in the same rotation as the allocators (%d runs "
             "of %s pairs, ~0.3 s): one pop and one push of a pointer on this CPU's stack, each "
             "a complete restartable sequence, in micro's loop with nothing else (no call, size "
             "class, page map, check or counter), so no per-CPU rseq malloc+free can beat it and "
             "the target of a pair in ≤ 0.5 × the best peer is judged against it (no callgrind "
             "figure: valgrind does not implement rseq)." % (FLOOR, reps, floor_n),
             "",
             "*%s* is the same pop and push (the same assembly, floor_rseq.h) as two "
             "functions of libfloorcall.so that floor-called calls through the GOT exactly as "
             "micro calls malloc(32) and free, same rotation and runs: since a preloaded "
             "malloc and free are always two such calls, it is the least any preloaded per-CPU "
             "rseq malloc+free pair can cost here." % FLOOR_CALLED,
             "", "Whole run: %.0f s." % (time.time() - t0)]
    for why in unmeasured:
        notes += ["", "A floor measured nothing: %s" % why]
    if failures:
        notes += ["", "## FAILED", ""] + failures
    header = machine_header("poolalloc fast path", args.build, ctx.lib_note)
    print("\n".join(lines + notes))
    out = os.path.join(ctx.outdir, "fastpath.md")
    with open(out, "w") as f:
        f.write("\n".join(header + lines + notes) + "\n")
    log("bench: wrote %s" % out)
    return 0
