# SPDX-License-Identifier: MIT
"""Before sample_start() a thread's countdown is parked (sampler/sample.c,
SAMPLE_PARK = 256 KiB): a thread allocating then leaves malloc's inline path
once per 256 KiB it allocates, not at every request, and once the sampler is
on the same thread draws a real distance and is sampled at the chosen mean.
libearly.so, preloaded after the library, makes 100000 requests of 32 bytes
(3.2 MB) in its constructor, before the library's own; then `early` waits
half a second and makes 64 MiB of 64-byte requests with POOLALLOC_SAMPLE=2m
(about 32 samples). The
figures come from the sampler's exit line (POOLALLOC_VERBOSE=1)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

LINE = re.compile(r"poolalloc: sampling: (\d+) samples, (\d+) dropped, (\d+) sites, "
                  r"(\d+) countdown calls before the start \((.*)\)")
EARLY_BYTES = 100000 * 32
MAIN_BYTES = 64 << 20
PARK = 256 << 10

env = clean_env(LD_PRELOAD="%s %s" % (LIB, EARLY_LIB), POOLALLOC_SAMPLE="2m",
                POOLALLOC_VERBOSE=1, POOLALLOC_SOCKET="off")
p = subprocess.run([EARLY], env=env, capture_output=True, text=True, timeout=60)
check(p.returncode == 0, "early exit %d: %s" % (p.returncode, p.stderr[-500:]))
m = [LINE.search(l) for l in p.stderr.splitlines()]
m = [x for x in m if x]
check(len(m) == 1, "expected one sampler exit line, stderr: %r" % p.stderr[-800:])
samples, dropped, sites, early, state = m[0].groups()
samples, early = int(samples), int(early)
check(state == "on", "sampling state %r" % state)
# Each thread's first request runs the countdown out (it starts at 0): at least
# one call before the start, or the constructor did not run before it.
check(early >= 1, "no countdown call before the start: libearly.so's constructor ran after "
      "the library's (LD_PRELOAD order), so this test checks nothing")
# The start may come while main allocates too (a sampler started late, by the
# library's thread): bounded by every byte the process asks for, one call per
# PARK bytes and per thread. Without the park: one call per request (1.1M).
limit = -(-(EARLY_BYTES + MAIN_BYTES) // PARK) + 4
check(early <= limit,
      "%d countdown calls before the start for %d requests (%d bytes): at most %d expected "
      "(one per %d bytes)" % (early, 100000 + MAIN_BYTES // 64, EARLY_BYTES + MAIN_BYTES,
                              limit, PARK))
# Poisson(32): below 8 has probability ~1e-7.
check(samples >= 8, "only %d samples in 64 MiB at a 2 MiB mean: the parked thread did not "
      "draw once the sampler started" % samples)
print("%d calls before the start, %d samples after" % (early, samples))
