# SPDX-License-Identifier: MIT
"""With POOLALLOC_SAMPLE=0 nothing is sampled: `sites` and `heap` answer
`sampling off (POOLALLOC_SAMPLE=0)` and nothing more, poolstat says what to
do and exits 1, and `config` says sampling is off. Left unset, the default
applies and `config` shows it."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
from common import ask_text as ask  # noqa: E402  (the reply's text alone)

d = tmpdir()
h = Proc([SITES], env={"POOLALLOC_SAMPLE": 0, "POOLALLOC_SOCKET": d + "/%p.sock"})
check(h.cmd("alloc 4") == "ok", "sites did not allocate")
path = os.path.join(d, "%d.sock" % h.pid)
for req in ("sites", "heap"):
    r = ask(path, req)
    check(r == "poolalloc 1 ok %s\nsampling off (POOLALLOC_SAMPLE=0)\nend\n" % req,
          "%s with sampling off: %r" % (req, r[:300]))
    p = poolstat(req, h.pid)
    check(p.returncode == 1 and "POOLALLOC_SAMPLE=512k" in p.stderr and "sampling off" in p.stderr
          and str(h.pid) in p.stderr and not p.stdout,
          "poolstat %s: rc %d, stdout %r, stderr %r" % (req, p.returncode, p.stdout[:100], p.stderr))
c = ask(path, "config")
check("config POOLALLOC_SAMPLE 0\n" in c, "config: %r" % c)
check("config sampling off (POOLALLOC_SAMPLE=0)\n" in c, "config sampling line: %r" % c)
rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))

# Unset: the default is in force and config says which.
h = Proc([SITES], env={"POOLALLOC_SOCKET": d + "/%p.sock"})
c = ask(os.path.join(d, "%d.sock" % h.pid), "config")
line = [l for l in c.splitlines() if l.startswith("config POOLALLOC_SAMPLE ")]
check(line, "config has no POOLALLOC_SAMPLE line: %r" % c)
default = int(line[0].split()[2])
want = "config sampling on\n" if default else "config sampling off (POOLALLOC_SAMPLE=0)\n"
check(want in c, "default POOLALLOC_SAMPLE=%d but config says %r" %
      (default, [l for l in c.splitlines() if "sampling" in l]))
rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
