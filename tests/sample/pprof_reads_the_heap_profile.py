# SPDX-License-Identifier: MIT
"""`poolstat heap PID > f.heap` writes a heap profile in gperftools' legacy
text format (heap_v2: sampled counts, pprof scales them), and
`google-pprof --text PROGRAM f.heap` (Debian google-perftools) reads it and
lists sites.c's three functions, biggest first, near 60/30/10 % of the bytes."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
h = Proc([SITES], env={"POOLALLOC_SAMPLE": 4096, "POOLALLOC_SOCKET": d + "/%p.sock"})
check(h.cmd("alloc 24") == "ok", "sites did not allocate: " + h.err_now())

prof = os.path.join(d, "sites.heap")
with open(prof, "w") as f:
    p = subprocess.run([POOLSTAT, "heap", str(h.pid)], stdout=f, stderr=subprocess.PIPE, text=True,
                       env=clean_env(), timeout=30)
check(p.returncode == 0, "poolstat heap failed: " + p.stderr)
text = open(prof).read()
lines = text.split("\n")
head = re.match(r"^heap profile:\s*(\d+):\s+(\d+)\s+\[\s*(\d+):\s+(\d+)\] @ heap_v2/(\d+)$", lines[0])
check(head is not None, "first line: %r" % lines[0])
check(head.group(5) == "4096", "rate %s, want 4096" % head.group(5))
check("\nMAPPED_LIBRARIES:\n" in text, "no MAPPED_LIBRARIES section")
body = text.split("\nMAPPED_LIBRARIES:\n")
stacks = [l for l in body[0].split("\n")[1:] if l]
row = re.compile(r"^\s*(\d+):\s+(\d+)\s+\[\s*(\d+):\s+(\d+)\]\s+@(\s+0x[0-9a-f]+)+$")
bad = [l for l in stacks if not row.match(l)]
check(stacks and not bad, "malformed stack lines: %r" % bad[:3])
check(sum(int(row.match(l).group(2)) for l in stacks) == int(head.group(2)),
      "header in-use bytes are not the sum of the stacks")
check(re.search(r"^[0-9a-f]+-[0-9a-f]+ r-xp .*/sites$", body[1], re.M),
      "the maps do not show the program's code:\n" + body[1][:500])
check(not text.endswith("end\n"), "the protocol's end line is in the file")

p = subprocess.run(["google-pprof", "--text", SITES, prof], capture_output=True, text=True,
                   timeout=60, env=clean_env())
check(p.returncode == 0, "google-pprof failed (%d): %s" % (p.returncode, p.stderr[-800:]))
flat = {}
for l in p.stdout.splitlines():
    w = l.split()
    if len(w) >= 6 and w[1].endswith("%"):
        flat[w[5]] = float(w[0])
got = [f for f in ("site_alpha", "site_beta", "site_gamma") if f in flat]
check(len(got) == 3, "google-pprof --text does not list the three functions:\n" + p.stdout)
tot = sum(flat[f] for f in got)
share = {f: flat[f] / tot for f in got}
check(share["site_alpha"] > share["site_beta"] > share["site_gamma"],
      "pprof order: %r" % share)
for f, w in (("site_alpha", 0.6), ("site_beta", 0.3), ("site_gamma", 0.1)):
    check(abs(share[f] - w) < 0.08, "pprof share of %s: %.3f, want %.1f" % (f, share[f], w))
rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
