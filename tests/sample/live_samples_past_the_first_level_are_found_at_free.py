# SPDX-License-Identifier: MIT
"""The live table's first level holds 8192 samples (sampler/sample.c); past
that, a block goes into the second level and its first-level bucket is
flagged. With ~16k samples live (64 MiB at POOLALLOC_SAMPLE=4096), nearly
all of them are held (none dropped that two levels have room for), and after
every site frees, every one of them has been found and taken out: no live
bytes at any site, and (almost) no live sample left."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
h = Proc([SITES], env={"POOLALLOC_SAMPLE": 4096, "POOLALLOC_SOCKET": d + "/%p.sock"})
check(h.cmd("alloc 64") == "ok", "sites did not allocate: " + h.err_now())
before = sites_json(h.pid)
# 64 MiB / 4 KiB is ~16k expected samples; far more than the first level's 8192.
check(before["samples_live"] > 12000,
      "only %d samples live after 64 MiB at a 4 KiB mean" % before["samples_live"])
for f in ("site_alpha", "site_beta", "site_gamma"):
    s = site_by_function(before, f)
    check(s and s["live_bytes"] > 0, "%s holds nothing before the frees" % f)

for f in ("alpha", "beta", "gamma"):
    check(h.cmd("free " + f) == "ok", "sites did not free " + f)
end = sites_json(h.pid)
for f in ("site_alpha", "site_beta", "site_gamma"):
    s = site_by_function(end, f)
    check(s is None or (s["live_bytes"] == 0 and s["live_samples"] == 0),
          "%s still holds %d live bytes in %d samples" % (f, s and s["live_bytes"], s and s["live_samples"]))
check(end["samples_live"] < 20, "%d samples live after every free" % end["samples_live"])
rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
