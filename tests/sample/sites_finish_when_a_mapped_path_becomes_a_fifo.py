# SPDX-License-Identifier: MIT
"""A process run by another user (nobody) maps its program from a folder it
owns, then unlinks it and makes a FIFO where its maps now point ("PATH
(deleted)"). Root's `poolstat sites PID` must not open that FIFO (an open
that would wait forever for a writer): it finishes and lists the sites'
frames, named or by address. The user's own `poolstat sites PID` (no
/proc/PID/map_files for him: the path walk) finishes too."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

require_root("running a process as nobody")
d = user_dir(NOBODY)
h, prog = hostile_sites(d, user=NOBODY)
bait = prog + " (deleted)"
r = subprocess.run(as_user(NOBODY, ["sh", "-c", 'rm -- "$1" && mkfifo -- "$1 (deleted)"', "sh",
                                    prog]), capture_output=True, text=True)
check(r.returncode == 0, "nobody could not swap its program for a FIFO: " + r.stderr)
check(bait.encode() in mapped_paths(h.pid),
      "maps does not name %r: %r" % (bait, sorted(mapped_paths(h.pid))))

for who, user in (("root", None), ("the process's own user", NOBODY)):
    p = poolstat_bytes("sites", h.pid, timeout=35, user=user)
    check(p is not None, "poolstat sites run by %s did not finish within 35 s (it opened the "
          "FIFO at %s?)" % (who, bait))
    out = p.stdout.decode(errors="replace")
    check(p.returncode == 0, "poolstat sites run by %s failed: %s" % (who, p.stderr.decode(
        errors="replace")))
    frames = [l for l in out.splitlines() if l.startswith("        ") and not l.strip().startswith("(")]
    check("top sites by live bytes" in out and frames,
          "poolstat sites run by %s lists no frame:\n%s" % (who, out[:1500]))

rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
