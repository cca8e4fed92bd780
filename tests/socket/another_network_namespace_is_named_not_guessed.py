# SPDX-License-Identifier: MIT
"""The default socket is an abstract name, and abstract names belong to a
network namespace. A process in a network namespace of its own (unshare -n,
systemd's PrivateNetwork=yes, a container) has its name there: none of it
shows in poolstat's /proc/net/unix, `poolstat PID` says in one line (exit 1)
that the process runs in another network namespace and how to reach it, the
list shows that note in its row, and poolstat run inside that namespace
(nsenter -n) finds the process by its name. Skips where a network namespace
cannot be made (no CAP_SYS_ADMIN)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
    print("SKIP: cannot make a network namespace here (unshare -n)")
    sys.exit(0)

x = tmpdir()
ENV = {"XDG_RUNTIME_DIR": x}
h = Proc([HOLDER], env=ENV, preload=" ", wrap=["unshare", "-n", "env", "LD_PRELOAD=" + LIB])
wait_for(lambda: served(h.pid), 10, "the server of holder %d" % h.pid)
check(sock_name(h.pid) not in abstract_listening(), "the name is in poolstat's network namespace")
check(not os.path.exists(os.path.join(x, "poolalloc")), "a socket file was made: %r" % os.listdir(x))

p = poolstat(h.pid, env=ENV)
check(p.returncode == 1 and p.stdout == "" and p.stderr.count("\n") == 1 and
      ("pid %d (holder) runs in another network namespace" % h.pid) in p.stderr and
      ("nsenter -t %d -n" % h.pid) in p.stderr, "poolstat PID from outside: %r %r" % (p.stdout, p.stderr))
p = poolstat(env=ENV)
rows = {l.split()[0]: l for l in p.stdout.splitlines() if l.split() and l.split()[0].isdigit()}
check(p.returncode == 0 and "another network namespace" in rows.get(str(h.pid), ""),
      "list from outside: %r %r" % (p.stdout, p.stderr))

inside = subprocess.run(["nsenter", "-t", str(h.pid), "-n", POOLSTAT, str(h.pid)], capture_output=True,
                        text=True, timeout=20, env=clean_env(**ENV))
check(inside.returncode == 0 and ("pid %d (holder)" % h.pid) in inside.stdout,
      "poolstat inside the namespace: %r %r" % (inside.stdout, inside.stderr))
rc, err = h.finish()
check(rc == 0 and err == "", "holder exit %d: %r" % (rc, err))
