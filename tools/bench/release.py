#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How fast poolalloc gives freed memory back, against the floor: the same amount
of touched memory given back by one madvise(MADV_DONTNEED), measured in the same
runs on the same machine.

    python3 tools/bench/release.py --build B [--rounds N] [--mib M]

B holds libpoolalloc.so; tools/bench/release.c is compiled into B/bench/release
(cc -O2 -pthread). Each round runs release under poolalloc twice, with the main
thread asleep while it waits and with it spinning on the other CPU (a busy
program: each madvise then interrupts that CPU for its TLB), then once under
glibc, tcmalloc, jemalloc and mimalloc (their RSS after the frees, as-is: a
3 s wait, no rounds). POOLALLOC_FLUSH_MS=300. Prints a markdown table of
medians; stdlib only.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PERIOD_MS = 300
SLACK_MIB = 32
PEERS = {
    "glibc": None,
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
}


def build(bdir):
    exe = os.path.join(bdir, "bench", "release")
    src = os.path.join(HERE, "release.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        subprocess.run(["cc", "-O2", "-pthread", "-o", exe, src, "-ldl"], check=True)
    return exe


def run(exe, lib, args, guard_ms=None):
    env = dict(os.environ, POOLALLOC_FLUSH_MS=str(PERIOD_MS), POOLALLOC_SOCKET="off")
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    argv = [exe] + args + ([f"guard={guard_ms}"] if guard_ms else [])
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"release.py: {' '.join(argv)} failed: {out.stderr.strip()}")
    kv = dict(w.split("=", 1) for w in out.stdout.split())
    want = os.path.basename(lib) if lib else "libc.so.6"
    if kv["lib"] != want:
        sys.exit(f"release.py: malloc came from {kv['lib']}, not {want}: the preload did not take")
    return kv


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="folder holding libpoolalloc.so")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--no-peers", action="store_true", help="poolalloc and the floor only")
    a = ap.parse_args()
    lib = os.path.abspath(os.path.join(a.build, "libpoolalloc.so"))
    if not os.path.exists(lib):
        sys.exit(f"release.py: no {lib} (make B={a.build} lib)")
    exe = build(a.build)

    modes = {"asleep": [str(a.mib)], "busy": [str(a.mib), "busy"]}
    res = {m: [] for m in modes}
    for r in range(a.rounds):
        for m, args in modes.items():   # interleaved: one of each per round
            res[m].append(run(exe, lib, args))
            print(f"round {r + 1}/{a.rounds} {m}: flush "
                  f"{int(res[m][-1]['flush_ns']) / 1e6:.1f} ms, floor "
                  f"{int(res[m][-1]['floor_ns']) / 1e6:.1f} ms", file=sys.stderr)

    gib = 1 << 30
    print(f"Give-back after {a.mib} MiB of 48..64-byte objects freed in random order, "
          f"POOLALLOC_FLUSH_MS={PERIOD_MS}, {a.rounds} interleaved rounds, medians "
          f"(`python3 tools/bench/release.py --build {a.build}`).\n")
    print("| poolalloc, main thread | flush-thread CPU ms per GiB given back | floor: one madvise, "
          "ms per GiB | poolalloc / floor | ms from last free to RSS <= start + 32 MiB | "
          + " | ".join(f"RSS MiB at {k * PERIOD_MS} ms" for k in range(1, 5))
          + f" | back by {2 * PERIOD_MS} ms + 100 (rounds) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m, rows in res.items():
        per_gib, floor_gib, back, ok = [], [], [], 0
        for kv in rows:
            given = (int(kv["peak_kib"]) - int(kv["final_kib"])) * 1024
            per_gib.append(int(kv["flush_ns"]) / 1e6 * gib / max(given, 1))
            floor_gib.append(int(kv["floor_ns"]) / 1e6 * gib / int(kv["floor_bytes"]))
            b = int(kv["back_ms"])
            back.append(b if b >= 0 else float("inf"))
            ok += 0 <= b <= 2 * PERIOD_MS + 100
        ratios = [p / f for p, f in zip(per_gib, floor_gib)]
        at = [med([int(kv[f"rss_at_{k * PERIOD_MS}_kib"]) / 1024 for kv in rows])
              for k in range(1, 5)]
        print(f"| {m} | {med(per_gib):.1f} | {med(floor_gib):.1f} | {med(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}) | {med(back):.0f} | "
              + " | ".join(f"{x:.0f}" for x in at) + f" | {ok}/{len(rows)} |")

    if a.no_peers:
        return
    print("\nEvery allocator, one run each, main thread asleep, a 3 s wait after the frees "
          "(most never give small objects back):\n")
    print("| allocator | RSS MiB before | after the burst | right after the frees | "
          "3 s later |")
    print("|---|---|---|---|---|")
    peers = dict(PEERS, poolalloc=lib)
    for name, path in peers.items():
        if path and not os.path.exists(path):
            print(f"| {name} | not installed | | | |")
            continue
        kv = run(exe, path, [str(a.mib)], guard_ms=3000)
        print(f"| {name} | " + " | ".join(f"{int(kv[k]) / 1024:.0f}" for k in
                                          ("start_kib", "peak_kib", "freed_kib", "final_kib"))
              + " |")


if __name__ == "__main__":
    main()
