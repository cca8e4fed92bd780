# SPDX-License-Identifier: MIT
"""A child that forks only to exec (as a shell does) never gets a socket of
its own: exec gives no chance to remove one, so a fork child's server starts
only once the child has lived a flush period. A child that lives on does get
one (fork_child_gets_its_own_socket). Checked with a POOLALLOC_SOCKET file and
with the default abstract name (which would go with the exec anyway): after
the children exec'd, only the parent's socket is there."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

# A POOLALLOC_SOCKET file.
d = tmpdir()
t = os.path.join(d, "%p.sock")
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": t, "POOLALLOC_FLUSH_MS": "300"})
ask_retry(t.replace("%p", str(h.pid)), "stats")
for _ in range(5):
    line = h.cmd("forkexec")
    check(line and line.startswith("exec "), "no exec child: %r" % line)
    cpid = int(line.split()[1])
    time.sleep(0.05)
    check(not os.path.exists(t.replace("%p", str(cpid))),
          "the exec'd child %d left a socket behind" % cpid)
time.sleep(0.7)   # two flush periods of the parent: nothing appears late either
left = sorted(os.listdir(d))
check(left == ["%d.sock" % h.pid], "sockets in the folder: %r" % left)
rc, err = h.finish()
check(rc == 0, "holder exit %d, stderr %r" % (rc, err))

# The default: the abstract name; nothing in the default folder either.
h = Proc([HOLDER], env={"POOLALLOC_FLUSH_MS": "300", "XDG_RUNTIME_DIR": d})
ask_retry(sock_name(h.pid), "stats")
children = []
for _ in range(5):
    line = h.cmd("forkexec")
    check(line and line.startswith("exec "), "no exec child: %r" % line)
    children.append(int(line.split()[1]))
time.sleep(0.7)
names = abstract_listening()
check(sock_name(h.pid) in names, "the parent's %s is gone" % sock_name(h.pid))
stuck = [c for c in children if sock_name(c) in names]
check(not stuck, "exec'd children left names: %r" % stuck)
check(not os.path.exists(os.path.join(d, "poolalloc")), "a default folder was made: %r" % os.listdir(d))
rc, err = h.finish()
check(rc == 0 and sock_name(h.pid) not in abstract_listening(), "holder exit %d, stderr %r" % (rc, err))
