# SPDX-License-Identifier: MIT
"""After sites.c frees everything site_beta allocated, site_beta's live bytes
are exactly 0 (every sampled object left the live table when it was freed)
while its total is unchanged, and the other two sites' figures do not move.
Freeing the rest leaves (almost) no live sample."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
h = Proc([SITES], env={"POOLALLOC_SAMPLE": 4096, "POOLALLOC_SOCKET": d + "/%p.sock"})
check(h.cmd("alloc 16") == "ok", "sites did not allocate: " + h.err_now())
before = sites_json(h.pid)
b = {f: site_by_function(before, f) for f in ("site_alpha", "site_beta", "site_gamma")}
check(all(b.values()), "sites missing before the free: %r" % {k: bool(v) for k, v in b.items()})
check(b["site_beta"]["live_bytes"] > 0, "site_beta holds nothing before the free")

check(h.cmd("free beta") == "ok", "sites did not free")
after = sites_json(h.pid)
beta = site_by_function(after, "site_beta")
check(b["site_beta"]["site"] not in after["by_live"],
      "site_beta still listed by live bytes: %r" % after["by_live"])
check(beta is not None, "site_beta gone from the total-bytes list")
check(beta["live_bytes"] == 0 and beta["live_samples"] == 0,
      "site_beta after its free: live %d bytes, %d samples" % (beta["live_bytes"], beta["live_samples"]))
check(beta["total_bytes"] == b["site_beta"]["total_bytes"],
      "site_beta total moved: %d -> %d" % (b["site_beta"]["total_bytes"], beta["total_bytes"]))
for f in ("site_alpha", "site_gamma"):
    a = site_by_function(after, f)
    check(a and a["live_bytes"] == b[f]["live_bytes"],
          "%s live moved when beta freed: %d -> %r" % (f, b[f]["live_bytes"], a and a["live_bytes"]))
check(after["samples_live"] == before["samples_live"] - b["site_beta"]["live_samples"],
      "samples_live %d, want %d - %d" % (after["samples_live"], before["samples_live"],
                                         b["site_beta"]["live_samples"]))

check(h.cmd("free alpha") == "ok" and h.cmd("free gamma") == "ok", "sites did not free")
end = sites_json(h.pid)
for f in ("site_alpha", "site_beta", "site_gamma"):
    s = site_by_function(end, f)
    check(s is None or s["live_bytes"] == 0, "%s still holds %d live bytes" % (f, s and s["live_bytes"]))
check(end["samples_live"] < 20, "%d samples live after every free" % end["samples_live"])
rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
