"""A child that forks only to exec (as a shell does) never gets a socket of
its own: exec gives no chance to remove one, so a fork child's server starts
only once the child has lived a flush period. A child that lives on does get
one (fork_child_gets_its_own_socket)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))
from common import *  # noqa: E402,F401,F403

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
