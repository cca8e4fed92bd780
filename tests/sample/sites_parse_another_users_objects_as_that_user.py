# SPDX-License-Identifier: MIT
"""When root runs `poolstat sites PID` on another user's process, the ELF
files that user chose are parsed by addr2line with that user's rights, not
root's: an addr2line first in PATH records its real and effective uid and
gid and its groups (then runs the real one), and every run it records is
nobody's, with no supplementary group. The frames are still named."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

require_root("running a process as nobody")
real = shutil.which("addr2line")
check(real is not None, "no addr2line in PATH")
spy_dir = user_dir(NOBODY)   # nobody may write its record there
os.chmod(spy_dir, 0o755)
record = os.path.join(spy_dir, "record")
spy = os.path.join(spy_dir, "addr2line")
with open(spy, "w") as f:
    f.write('#!/bin/sh\n'
            'echo "$(id -ru) $(id -u) $(id -rg) $(id -g) groups=$(id -G)" >> %s\n'
            'exec %s "$@"\n' % (record, real))
os.chmod(spy, 0o755)

d = user_dir(NOBODY)
h, prog = hostile_sites(d, user=NOBODY)
p = poolstat_bytes("sites", h.pid, timeout=60,
                   env={"PATH": spy_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
check(p is not None, "poolstat sites did not finish within 60 s")
out = p.stdout.decode(errors="replace")
check(p.returncode == 0, "poolstat sites failed: " + p.stderr.decode(errors="replace"))
check("site_alpha" in out, "the frames are not named:\n" + out[:1500])
try:
    with open(record) as f:
        runs = f.read().splitlines()
except OSError:
    runs = []
check(runs, "addr2line never ran (or could not write %s)" % record)
want = "%d %d %d %d groups=%d" % ((NOBODY,) * 5)
check(all(r == want for r in runs), "addr2line ran as %r, want every run as %r" % (runs, want))

rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
