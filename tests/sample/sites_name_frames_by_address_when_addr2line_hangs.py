# SPDX-License-Identifier: MIT
"""addr2line parses ELF files the target chose and can be made to run for
ever. With an addr2line first in PATH that never answers for the sites
program (and is the real one for every other object), `poolstat sites PID`
still finishes: it kills that run at its deadline, names those frames by
address, says so in one line on stderr, and still names the C library's
frames."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

real = shutil.which("addr2line")
check(real is not None, "no addr2line in PATH")
fake_dir = tmpdir()
os.chmod(fake_dir, 0o755)
fake = os.path.join(fake_dir, "addr2line")
with open(fake, "w") as f:
    f.write('#!/bin/sh\n'
            '# Hangs on the sites program (named as an argument or given as fd 3),\n'
            '# answers for everything else.\n'
            'case "$* $(readlink /proc/self/fd/3 2>/dev/null)" in\n'
            '*/sites*) exec sleep 300 ;;\n'
            'esac\n'
            'exec %s "$@"\n' % real)
os.chmod(fake, 0o755)

d = user_dir(NOBODY) if os.geteuid() == 0 else tmpdir()
h, prog = hostile_sites(d, user=NOBODY if os.geteuid() == 0 else None)
p = poolstat_bytes("sites", h.pid, timeout=60,
                   env={"PATH": fake_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
check(p is not None, "poolstat sites did not finish within 60 s while addr2line hung")
out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
check(p.returncode == 0, "poolstat sites failed: " + err)
check("site_alpha" not in out and "sites+0x" in out,
      "the sites program's frames are not named by address:\n" + out[:1500])
check("__libc_start" in out, "the C library's frames lost their names:\n" + out[:1500])
lines = [l for l in err.splitlines() if "addr2line" in l]
check(len(lines) == 1 and prog in lines[0], "stderr does not say, in one line, that addr2line "
      "gave up on %s:\n%s" % (prog, err))

rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
