# SPDX-License-Identifier: MIT
"""stress.c with POOLALLOC_SAMPLE=1 (nearly every allocation sampled): worker
threads use every entry point with content, alignment and size checks;
signal handlers (a thread's SIGUSR1, the process's SIGALRM every 2 ms)
allocate in the middle of anything, the sampler and libunwind included; a
thread unwinds with libunwind and glibc's backtrace() itself; one fork in the
middle. It must finish (a deadlock is a time-out), pass its checks, and its
worker and handler sites must hold nothing once it has freed everything.
Runs in both pool modes: rseq, and the locked fallback; then five short runs
with sampling off, where handlers meet fork inside glibc (see the end)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

OURS = {"work", "op", "on_signal", "put", "fork_once"}

for mode, extra, secs in (("rseq", {}, 3), ("locked", {"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}, 2)):
    d = tmpdir()
    env = {"POOLALLOC_SAMPLE": 1, "POOLALLOC_SOCKET": d + "/%p.sock"}
    env.update(extra)
    t0 = time.monotonic()
    h = Proc([STRESS, str(secs), "4"], env=env)
    done = h.line(timeout=secs + 25)
    check(done is not None and done.startswith("done "),
          "%s mode: no `done` within %d s (a deadlock?): %r; stderr: %s"
          % (mode, secs + 25, done, h.err_now()))
    ops, runs = int(done.split()[1]), int(done.split()[3])
    check(ops > 5000, "%s mode: only %d operations" % (mode, ops))
    check(runs > 10, "%s mode: only %d signal handler runs" % (mode, runs))
    j = sites_json(h.pid)
    check(j["samples_total"] > ops // 2, "%s mode: %d samples for %d operations"
          % (mode, j["samples_total"], ops))
    leaks = []
    for s in j["site_list"]:
        if s["site"] in j["by_live"] and OURS & {f["function"] for f in s["frames"]}:
            leaks.append((s["live_bytes"], [f["function"] for f in s["frames"][:4]]))
    check(not leaks, "%s mode: sites of stress.c still hold memory after every free: %r"
          % (mode, leaks[:3]))
    check(j["samples_live"] < 100, "%s mode: %d samples live after every free" % (mode, j["samples_live"]))
    rc, err = h.finish()
    check(rc == 0, "%s mode: stress exit %d: %s" % (mode, rc, err[-500:]))
    print("%s: %d ops, %d handler runs, %d samples, %.1f s" % (mode, ops, runs, j["samples_total"],
                                                           time.monotonic() - t0))

# Sampling off, rseq mode, five short runs: handlers that allocate while their
# thread is inside glibc (pass-through requests) during the fork. Before the
# fork guard (core/cache.h) about one run in twelve hung: fork waited for the
# interrupted thread's arena lock while that thread's handler waited for a
# pool lock fork held. A hang here is a time-out.
for run in range(5):
    h = Proc([STRESS, "2", "4"], env={"POOLALLOC_SAMPLE": 0, "POOLALLOC_SOCKET": "off"})
    done = h.line(timeout=40)
    check(done is not None and done.startswith("done "),
          "sampling off, run %d: no `done` within 40 s (fork against allocating handlers "
          "deadlocked?): %r; stderr: %s" % (run, done, h.err_now()))
    rc, err = h.finish()
    check(rc == 0, "sampling off, run %d: stress exit %d: %s" % (run, rc, err[-500:]))
print("sampling off: 5 runs with fork, handlers and pass-through requests, no hang")
