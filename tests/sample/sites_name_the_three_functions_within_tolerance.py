# SPDX-License-Identifier: MIT
"""Three functions of sites.c allocate 24 MiB between them, 60/30/10 % of the
bytes, in objects of 1000 B (pools), 48 B (pools) and 40000 B (above
POOLALLOC_MAX_SIZE: passed through to glibc), and hold them. With
POOLALLOC_SAMPLE=4096, `poolstat --json sites` and `poolstat sites` name the
three functions, innermost, with file:line, and estimate each one's live bytes
within 15 %.

The tolerance: a site of N objects of X bytes, each sampled with probability
p = 1 - exp(-X/T), is estimated as (samples) * X / p, whose relative standard
deviation is sqrt((1 - p) / (N p)): 1.5 % for site_alpha (N = 15099,
p = 0.217), 2.3 % for site_beta (N = 157286, p = 0.0116), 0.3 % for site_gamma
(N = 62, p = 0.99994). 15 % is over six standard deviations for every site:
a false failure about once in 10^9 runs."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

TOL = 0.15
MIB = 24
total = MIB << 20
want = {
    "site_alpha": total // 10 * 6 // 1000 * 1000,
    "site_beta": total // 10 * 3 // 48 * 48,
    "site_gamma": total // 10 // 40000 * 40000,
}

d = tmpdir()
h = Proc([SITES], env={"POOLALLOC_SAMPLE": 4096, "POOLALLOC_SOCKET": d + "/%p.sock",
                       "POOLALLOC_FLUSH_MS": 0})
check(h.cmd("alloc %d" % MIB) == "ok", "sites did not allocate: " + h.err_now())

j = sites_json(h.pid)
check(j["pid"] == h.pid, "sites reply of pid %r" % j["pid"])
check(j["sample_bytes"] == 4096, "sample_bytes %r, want 4096" % j["sample_bytes"])
check(j["samples_dropped"] == 0, "%d samples dropped" % j["samples_dropped"])
for fn, bytes_ in want.items():
    s = site_by_function(j, fn)
    check(s is not None, "no site has %s as its innermost frame: %r" %
          (fn, [[f["function"] for f in x["frames"][:2]] for x in j["site_list"]]))
    rel = s["live_bytes"] / bytes_ - 1
    check(abs(rel) <= TOL, "%s: estimated live %d bytes, holds %d (%+.1f %%, tolerance %d %%)"
          % (fn, s["live_bytes"], bytes_, 100 * rel, 100 * TOL))
    check(s["live_bytes"] == s["total_bytes"], "%s: live %d != total %d before any free"
          % (fn, s["live_bytes"], s["total_bytes"]))
    top = s["frames"][0]
    check(top["file"] and "sites.c:" in top["file"], "%s: file:line %r" % (fn, top["file"]))
    check([f["function"] for f in s["frames"][1:3]] == ["hold", "main"],
          "%s: callers %r, want hold, main" % (fn, [f["function"] for f in s["frames"][:4]]))
    objs = bytes_ // {"site_alpha": 1000, "site_beta": 48, "site_gamma": 40000}[fn]
    check(abs(s["live_objects"] / objs - 1) <= TOL, "%s: estimated %d objects, holds %d"
          % (fn, s["live_objects"], objs))

# Ordered by live bytes: alpha, beta, gamma come first among the program's sites.
order = [site_by_function(j, f)["site"] for f in ("site_alpha", "site_beta", "site_gamma")]
check(j["by_live"][:3] == order, "by_live %r, want %r first" % (j["by_live"], order))

# The table for people names them too, in that order.
p = poolstat("sites", h.pid)
check(p.returncode == 0, "poolstat sites failed: " + p.stderr)
pos = [p.stdout.find(f) for f in ("site_alpha", "site_beta", "site_gamma")]
check(all(x >= 0 for x in pos) and pos == sorted(pos), "poolstat sites output:\n" + p.stdout[:1500])
check("top sites by live bytes" in p.stdout, "no live-bytes section:\n" + p.stdout[:500])

rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
