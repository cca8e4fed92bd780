# SPDX-License-Identifier: MIT
"""callgrind.py - instructions counted by valgrind's callgrind, for the two tables that
give them: the fast path's instructions per malloc(32)+free pair (callgrind_per_pair,
fastpath.py) and the instructions allocation sampling adds (callgrind_sampled,
samplecost.py). Instruction counts do not move with other load on the machine; they
leave out the kernel, and under valgrind poolalloc runs its fallback path (valgrind
does not implement rseq).
"""
import os
import re
import subprocess
import tempfile

from allocs import alloc_env
from procs import run


# The function of micro.c that runs the pingpong loop; callgrind's counts of it (its
# own instructions, and what the calls it makes cost) split the allocator from the loop.
LOOP_FN = "bench_pingpong_loop"


def callgrind_counts(micro, lib, n, work):
    """Runs `micro pingpong n` under callgrind. Returns (total instructions of the
    process, all threads; instructions of LOOP_FN itself; inclusive instructions of
    the calls LOOP_FN makes, i.e. its malloc and free with everything they call).
    Raises RuntimeError if valgrind fails or LOOP_FN is not in its output."""
    out = os.path.join(work, "callgrind.out")
    if os.path.exists(out):
        os.unlink(out)
    p = run(["valgrind", "--tool=callgrind", "--dump-instr=no",
             "--callgrind-out-file=" + out, micro, "pingpong", str(n)],
            alloc_env(lib), timeout=600)
    if p.failure():
        raise RuntimeError("valgrind: %s; %s" % (p.failure(), p.tail()))
    total, own, calls = None, 0, 0
    names, fn, found, after_call = {}, None, False, False
    with open(out) as f:
        for line in f:
            if after_call:  # "<position> <inclusive cost>" of the call above
                after_call = False
                if fn == LOOP_FN:
                    calls += int(line.split()[1])
                continue
            # fn=(id) name the first time, fn=(id) after (cfn= lines define ids too).
            m = re.match(r"(c?)fn=(?:\((\d+)\))? ?(.*)$", line.rstrip("\n"))
            if m:
                key = m.group(2) or m.group(3)
                if m.group(3):
                    names[key] = m.group(3).strip()
                if not m.group(1):
                    fn = names.get(key, key)
                    found = found or fn == LOOP_FN
                continue
            if line.startswith("calls="):
                after_call = True
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
            elif fn == LOOP_FN and line[:1] in "0123456789+-*":  # "<position> <self cost>"
                own += int(line.split()[1])
    if total is None:
        raise RuntimeError("no totals in callgrind output")
    if not found:
        raise RuntimeError("no %s in callgrind output (micro stripped?)" % LOOP_FN)
    return total, own, calls


def callgrind_per_pair(micro, lib, work):
    """Instructions per malloc(32)+free pair from two runs, N = 1e6 and 2e6, so that
    start-up and first calls cancel: (allocator only, loop included, the loop's own).
    allocator only = the calls the loop makes, exact and the same on every run; loop
    included = the whole process, as this table gave it before (two identical runs'
    totals differ by up to a few hundred instructions)."""
    t1, own1, calls1 = callgrind_counts(micro, lib, 1000000, work)
    t2, own2, calls2 = callgrind_counts(micro, lib, 2000000, work)
    return (calls2 - calls1) / 1e6, (t2 - t1) / 1e6, (own2 - own1) / 1e6


# The sampled path, entered from the allocator: deciding (sample_due), taking a sample
# (sample_alloc: glibc's malloc, unwinding, recording) and forgetting it at its free.
# Their inclusive instructions are what sampling adds, read directly, so they do not
# carry the program's own run-to-run variation (python's hashing of addresses moves
# its total by more than sampling at 2m does).
SAMPLED_PATH = {"sample_due", "sample_alloc", "sample_forget_slow"}
# ... and sample_record where the caller records a block it got itself (realloc),
# not inside sample_alloc, whose inclusive count holds it already.


def callgrind_sampled(argv, env, work, stdin=None, cwd=None, timeout=1800):
    """Runs argv under callgrind (children too). Returns (instructions of every process,
    samples = calls of sample_record, inclusive instructions of SAMPLED_PATH, Proc)."""
    outdir = tempfile.mkdtemp(prefix="cg-", dir=work)
    p = run(["valgrind", "--tool=callgrind", "--trace-children=yes",
             "--callgrind-out-file=" + os.path.join(outdir, "cg.%p")] + argv,
            env, stdin=stdin, timeout=timeout, cwd=cwd)
    total = samples = path = 0
    for name in os.listdir(outdir):
        names, caller, callee, after_calls = {}, None, None, False
        with open(os.path.join(outdir, name)) as f:
            for line in f:
                if after_calls:  # "<position> <inclusive cost>" of the call above
                    if callee in SAMPLED_PATH or (callee == "sample_record" and
                                                  caller != "sample_alloc"):
                        path += int(line.split()[1])
                    after_calls = False
                    continue
                if line.startswith(("totals:", "summary:")):
                    total += int(line.split()[1])
                    continue
                m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
                if m:
                    if m.group(3):
                        names[m.group(2)] = m.group(3).strip()
                    if m.group(1):
                        callee = names.get(m.group(2))
                    else:
                        caller, callee = names.get(m.group(2)), None
                    continue
                if line.startswith("calls=") and callee:
                    after_calls = True
                    if callee == "sample_record":
                        samples += int(line[6:].split()[0])
        os.unlink(os.path.join(outdir, name))
    os.rmdir(outdir)
    return total, samples, path, p


def valgrind_version():
    """valgrind's version number, "?" when valgrind does not run."""
    try:
        return subprocess.run(["valgrind", "--version"], capture_output=True,
                              text=True).stdout.strip().replace("valgrind-", "")
    except OSError:
        return "?"
