# SPDX-License-Identifier: MIT
"""POOLALLOC_SOCKET=off: no socket, neither the default abstract name nor a
file in a default folder, no server thread, no warning; and poolstat says so
in words."""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

x = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": "off", "XDG_RUNTIME_DIR": x})
check(h.cmd("alloc 10 64") == "ok", "holder")
names = [open(f).read().strip() for f in glob.glob("/proc/%d/task/*/comm" % h.pid)]
check("poolalloc-stats" not in names, "a server thread runs: %r" % names)
check(not os.path.exists(os.path.join(x, "poolalloc", "%d.sock" % h.pid)), "socket in XDG folder")
check(not os.path.exists("/tmp/poolalloc-%d/%d.sock" % (os.geteuid(), h.pid)), "socket in /tmp")
check(sock_name(h.pid) not in abstract_listening(), "the abstract name %s listens" % sock_name(h.pid))
p = poolstat(h.pid)
check(p.returncode != 0 and "POOLALLOC_SOCKET=off" in p.stderr, "poolstat said %r" % p.stderr)
rc, err = h.finish()
check(rc == 0 and err == "", "holder exit %d, stderr %r" % (rc, err))
