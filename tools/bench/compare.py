# SPDX-License-Identifier: MIT
"""compare.py - `make bench`: every case under every allocator, interleaved, and the
two tables: medians per allocator with the ratios poolalloc / best peer and
poolalloc / glibc, then what sampling costs as paired ratios to plain poolalloc.
"""
import json
import os
import sys
import time

from allocs import PEERS, VARIANTS
from cases import make_cases, run_case
from report import failure_lines, fmt, log, machine_header, median


def row_unit(case, key, unit):
    """The unit a row states, else the one its micro case printed, else none."""
    if unit:
        return unit
    return getattr(case, "unit", None) or ""


def best_peer_cell(values, peers):
    """poolalloc's value over the lowest of the peers' ("1.23 (tcmalloc)"), or "—"
    when poolalloc or every peer has none."""
    ok = {a: values[a] for a in peers if values.get(a)}
    if values.get("poolalloc") is None or not ok:
        return "—"
    best = min(ok, key=ok.get)
    return "%.2f (%s)" % (values["poolalloc"] / ok[best], best)


def table(cases, allocs, results):
    """Markdown table lines, and the list of failures."""
    head = ["case", "unit"] + allocs
    has_pa = "poolalloc" in allocs
    peers = [a for a in allocs if a in PEERS]
    if has_pa and peers:
        head += ["poolalloc / best peer"]
    if has_pa and "glibc" in allocs:
        head += ["poolalloc / glibc"]
    head += ["peak RSS MiB: " + a for a in allocs]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    failures = []
    for case in cases:
        for key, label, unit in case.rows:
            med, peak = {}, {}
            for a in allocs:
                rs = results.get((case.name, a), [])
                bad = [r for r in rs if r.fail]
                if key == case.rows[0][0]:
                    failures += failure_lines(case.name, a, bad, len(rs))
                good = [r for r in rs if not r.fail]
                if bad or not rs:
                    med[a] = None
                else:
                    med[a] = median([r.metrics[key] for r in good])
                ps = [r.peak_kib / 1024.0 for r in good if r.peak_kib is not None]
                peak[a] = median(ps) if ps else None
            cells = [label, row_unit(case, key, unit)]
            cells += [("FAILED" if any(r.fail for r in results.get((case.name, a), [])) else fmt(med[a]))
                      for a in allocs]
            if has_pa and peers:
                cells.append(best_peer_cell(med, peers))
            if has_pa and "glibc" in allocs:
                if med["poolalloc"] is not None and med["glibc"]:
                    cells.append("%.2f" % (med["poolalloc"] / med["glibc"]))
                else:
                    cells.append("—")
            cells += [fmt(peak[a]) for a in allocs]
            lines.append("| " + " | ".join(cells) + " |")
    return lines, failures


def paired_ratios(results, case, alloc, value):
    """value(r) of alloc's run over poolalloc's run of the same repetition, for every
    repetition where both ran and neither failed."""
    base = {r.rep: r for r in results.get((case.name, "poolalloc"), []) if not r.fail}
    out = []
    for r in results.get((case.name, alloc), []):
        b = base.get(r.rep)
        if r.fail or b is None:
            continue
        num, den = value(r), value(b)
        if num is not None and den:
            out.append(num / den)
    return out


def ratio_cell(rs):
    """The median ratio, then (min-max) when there is more than one."""
    if not rs:
        return "—"
    if len(rs) == 1:
        return "%.3f" % rs[0]
    return "%.3f (%.2f–%.2f)" % (median(rs), min(rs), max(rs))


def sample_table(cases, allocs, results):
    """Markdown lines: the cost of sampling per row, as paired ratios to plain poolalloc
    (each repetition's sampled run over the same repetition's poolalloc run)."""
    variants = [a for a in allocs if a in VARIANTS]
    if not variants or "poolalloc" not in allocs:
        return []
    head = ["case", "unit", "poolalloc"]
    for v in variants:
        mean = VARIANTS[v][1]["POOLALLOC_SAMPLE"]
        head += [v, "%s / poolalloc" % mean, "%s / poolalloc, CPU time" % mean]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for case in cases:
        for i, (key, label, unit) in enumerate(case.rows):
            base = [r.metrics[key] for r in results.get((case.name, "poolalloc"), []) if not r.fail]
            cells = [label, row_unit(case, key, unit), fmt(median(base))]
            for v in variants:
                got = [r.metrics[key] for r in results.get((case.name, v), []) if not r.fail]
                bad = any(r.fail for r in results.get((case.name, v), []))
                cells.append("FAILED" if bad else fmt(median(got)))
                cells.append(ratio_cell(paired_ratios(results, case, v, lambda r: r.metrics.get(key))))
                # One process per case: its CPU time belongs to the case's first row.
                cells.append(ratio_cell(paired_ratios(results, case, v, lambda r: r.cpu))
                             if i == 0 else "″")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def kernel_table(cases, allocs, results):
    """Markdown lines: per case (one process each), the CPU time of the whole process,
    its minor page faults and the share of its CPU time spent in the kernel, medians
    per allocator, with poolalloc's CPU time and faults over the best peer's."""
    base = [a for a in allocs if a not in VARIANTS]
    peers = [a for a in base if a in PEERS]
    head = ["case"] + base
    if "poolalloc" in base and peers:
        head += ["CPU: poolalloc / best peer", "faults: poolalloc / best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for case in cases:
        cpu, flt, share = {}, {}, {}
        for a in base:
            good = [r for r in results.get((case.name, a), [])
                    if not r.fail and r.faults is not None and r.proc_cpu]
            cpu[a] = median([r.proc_cpu for r in good])
            flt[a] = median([r.faults for r in good])
            share[a] = median([100.0 * r.sys / r.proc_cpu for r in good])
        if all(v is None for v in cpu.values()):
            continue
        cells = [case.rows[0][1] if len(case.rows) == 1 else case.name]
        for a in base:
            cells.append("—" if cpu[a] is None else "%s s, %.1fk, %.0f %%" % (
                fmt(cpu[a]), flt[a] / 1000.0, share[a]))
        if "poolalloc" in base and peers:
            cells += [best_peer_cell(cpu, peers), best_peer_cell(flt, peers)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def section(title, lines, note):
    """A table under its heading with its note after it; nothing for no table."""
    return ["", "## " + title, ""] + lines + ["", note] if lines else []


def line_trips_note(cases, trips):
    """The machine during each case: its cross-CPU round trip before each repetition."""
    cells = []
    for c in cases:
        ts = [t for t in trips.get(c.name, []) if t is not None]
        if ts:
            cells.append("%s %s" % (c.name, "/".join(fmt(t) for t in ts)))
    if not cells:
        return "Cross-CPU round trip: not measured (one CPU, or micro linepong failed)."
    return ("The machine during each case: ns for one cache line to go from CPU 0 to CPU 1 "
            "and back (micro linepong, no allocator), before each repetition in order. On a "
            "shared VM it moves between about 100 ns (the two vCPUs close) and 450 ns (far "
            "apart); cases whose threads share cache lines (prodcons, bulk, xbulk, threads) "
            "slow down with it, and more under an allocator whose threads share more "
            "(docs/performance.md, bulk): " + "; ".join(cells) + ".")


def run_all(args, ctx, libs, allocs, sample_note=None):
    """make bench: runs the cases (--case) under allocs, prints the two tables with
    their notes and writes them to BUILD/bench/results.md (results-partial.md with
    --case), every single run to the .json beside it. Exits on an unknown case."""
    cases = make_cases(ctx)
    if args.case:
        want = set(args.case.split(","))
        unknown = want - {c.name for c in cases}
        if unknown:
            sys.exit("bench.py: no case %s (see --list)" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c.name in want]
    results = {}
    t0 = time.time()
    log("bench: %d cases x %s%s" % (len(cases), ", ".join(allocs), " (quick)" if ctx.quick else ""))
    for case in cases:
        reps = args.reps or (case.quick_reps if ctx.quick else case.reps)
        run_case(case, allocs, libs, reps, ctx, results)
    elapsed = time.time() - t0
    lines, failures = table(cases, allocs, results)
    klines = section("What the kernel does", kernel_table(cases, allocs, results),
                     "Each cell: CPU seconds of the whole process under test (user + system, start-up "
            "included; gcc with cc1, redis the server), its minor page faults (thousands) and "
            "the share of its CPU time spent in the kernel (system time: page faults, madvise, "
            "mmap, brk and the rest); medians over the same repetitions as above.")
    slines = section("Sampling (POOLALLOC_SAMPLE) against plain poolalloc",
                     sample_table(cases, allocs, results),
                     "Each ratio is the median over repetitions of (sampled run / plain poolalloc run "
            "of the same repetition), with the smallest and largest in brackets: above 1 is "
            "what sampling costs (1.010 = 1 %%). The first ratio is the row's own figure (wall "
            "time, us per request, MiB of RSS for the memory rows), the second the CPU time "
            "(user + system) of the process under test, which other load on the machine "
            "disturbs less (micro cases: the case's loop only, all threads; gcc including cc1; "
            "redis the server's; one per case). "
            "A sample is served by glibc, unwound with libunwind and tracked until freed; "
            "POOLALLOC_SAMPLE is the mean number of bytes between samples. Timings on a shared "
            "machine move by more than 1 %%: `make bench-sample` gives the same ratios in "
            "instructions (callgrind), which do not depend on other load." % ())
    if sample_note:
        slines += ["", sample_note]
    reps_note = sorted({"%s %d" % (c.kind, args.reps or (c.quick_reps if ctx.quick else c.reps))
                        for c in cases})
    notes = ["",
             "Medians over repetitions (%s), the allocators interleaved in each repetition "
             "(order rotated by one each time). **Lower is better in every column** (times, "
             "us per request, MiB). Ratios < 1 mean poolalloc is better; best peer = the best of "
             "glibc, tcmalloc, jemalloc, mimalloc for that row. Peak RSS = the process's VmHWM "
             "(for gcc including cc1; for redis the server's). burst-idle runs poolalloc with "
             "POOLALLOC_FLUSH_MS=500 (the others have no such knob; defaults). Debian's "
             "redis-server links libjemalloc.so.2 itself, so its *glibc* column (no preload) is "
             "redis's own jemalloc. Real programs: wall seconds of the whole process; output "
             "(stdout, stderr, object file, redis-cli replies) compared with glibc's run."
             % ", ".join(reps_note),
             "",
             line_trips_note(cases, ctx.line_trips),
             "",
             "Whole run: %.0f s." % elapsed]
    if failures:
        notes += ["", "## FAILED", ""] + failures
    header = machine_header("poolalloc benchmarks" + (" (BENCH_QUICK=1)" if ctx.quick else ""),
                            args.build, ctx.lib_note)
    text = "\n".join(header + lines + notes + klines + slines) + "\n"
    print("\n".join(lines + notes + klines + slines))
    out = os.path.join(ctx.outdir, "results.md" if not args.case else "results-partial.md")
    with open(out, "w") as f:
        f.write(text)
    raw = {"%s/%s" % k: [dict(rep=r.rep, metrics=r.metrics, check=r.check, peak_kib=r.peak_kib,
                             cpu=r.cpu, faults=r.faults, sys=r.sys, fail=r.fail) for r in v]
           for k, v in results.items()}
    raw["line_trips_ns"] = ctx.line_trips
    with open(out[:-3] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    log("bench: wrote %s (%.0f s)" % (out, elapsed))
    return 0
