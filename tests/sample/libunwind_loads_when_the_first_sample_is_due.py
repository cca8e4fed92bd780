# SPDX-License-Identifier: MIT
"""With the default start, sampling starts without libunwind: a process that
allocates less than a sampling distance after its start (a shell, most
commands) never maps it, its libraries or its pipe, however many times the
flush thread wakes; one that goes on allocating has it loaded by the flush
thread after its first due sample (that sample and those before the load
have no stack), and its later sites have stacks. Judged by flushes counted
by the library, not by time. (On a busy machine python3 may still be
starting when sampling starts, and take a sample then: the idle check is
then that libunwind did load.)"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

PROG = r'''
import os, sys
keep = []
sys.stdout.write("%d\n" % os.getpid())
sys.stdout.flush()
for line in sys.stdin:
    n, size = map(int, line.split())
    keep.extend(bytes(size) for _ in range(n))
    sys.stdout.write("ok\n")
    sys.stdout.flush()
'''

d = tmpdir()
env = clean_env(POOLALLOC_START_MS=None, POOLALLOC_SAMPLE="4m", POOLALLOC_FLUSH_MS=50,
                POOLALLOC_SOCKET=d + "/%p.sock", PYTHONMALLOC="malloc", LD_PRELOAD=LIB)
p = subprocess.Popen([sys.executable, "-c", PROG], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     text=True, env=env)
try:
    pid = int(p.stdout.readline())
    path = sock_in(d, pid)
    out, _ = ask_retry(path, "stats", within=30.0)   # the start: 100 ms, longer on a busy machine


    def flushes():
        return int(kv(ask(path, "stats")[0])["flushes"])


    def unwind_mapped():
        with open("/proc/%d/maps" % pid) as f:
            return "libunwind" in f.read()


    def wait_flushes(n, what):
        f0 = flushes()
        wait_for(lambda: flushes() >= f0 + n, within=60.0, what=what)


    # Idle after the start: the flush thread wakes (and looks) many times.
    wait_flushes(6, "six flushes of an idle process")
    j = sites_json(str(pid))
    if j["samples_total"] == 0:
        check(not unwind_mapped(), "libunwind was loaded in a process that never took a sample")
        idle = "idle: no sample, no libunwind"
    else:
        check(unwind_mapped(), "%d samples in the start-up, and six flushes later libunwind is "
              "still not loaded" % j["samples_total"])
        idle = "%d samples in the start-up (a busy machine): libunwind loaded" % j["samples_total"]

    # Samples due: libunwind comes within a few wakes; stacks after it.
    stacked = []
    for round_ in range(40):
        p.stdin.write("100000 100\n")   # ~10 MiB: about 2.5 samples
        p.stdin.flush()
        check(p.stdout.readline().strip() == "ok", "the program stopped answering")
        if unwind_mapped():
            j = sites_json(str(pid))
            stacked = [s for s in j["site_list"] if s["frames"]]
            if stacked:
                break
        wait_flushes(1, "a flush after allocating")
    check(j["samples_total"] > 0, "no sample in %d rounds of 10 MiB" % (round_ + 1))
    check(unwind_mapped(), "libunwind still not loaded after %d samples" % j["samples_total"])
    check(stacked, "no site with a stack after libunwind was loaded: %r" % j["site_list"][:3])
finally:
    p.stdin.close()
    p.wait(timeout=30)
print("PASS: %s; after %d samples: libunwind loaded, %d sites with stacks"
      % (idle, j["samples_total"], len(stacked)))
