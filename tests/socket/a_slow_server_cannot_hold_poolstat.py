# SPDX-License-Identifier: MIT
"""A server that trickles its reply one byte a second, and one whose backlog
is full because it never accepts, cannot hold poolstat: every exchange ends
at one total deadline. `poolstat PID` on each ends with one line saying so,
and `poolstat` (list) shows both in their rows with a note and goes on to
the live process next to them, which it lists with its figures."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

x = tmpdir()
env = {"XDG_RUNTIME_DIR": x}
slow = Fake(x + "/poolalloc/%p.sock", b"poolalloc 1 ok stats\npid %p\n", mode="trickle", env=env)
deaf = Fake(x + "/poolalloc/%p.sock", mode="noaccept", env=env)
h = Proc([HOLDER], env=env)
ask_retry(sock_name(h.pid), "stats")

# Fill the deaf server's backlog: the next connect would wait (or EAGAIN).
held = []
for _ in range(64):
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    try:
        s.connect(deaf.where)
    except BlockingIOError:
        s.close()
        break
    held.append(s)
else:
    fail("the backlog of a server that never accepts did not fill")


def start(*args):
    return subprocess.Popen([POOLSTAT] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env(**env))


runs = {"list": start(), "slow": start(slow.pid), "deaf": start(deaf.pid)}
res = {}
for what, p in runs.items():
    try:
        out, err = p.communicate(timeout=40)   # hang guard: the deadline is a few seconds
    except subprocess.TimeoutExpired:
        for q in runs.values():
            q.kill()
        fail("poolstat %s was still waiting after 40 s" % what)
    res[what] = (p.returncode, out, err)

rc, out, err = res["slow"]
check(rc == 1 and err.count("\n") == 1 and ("did not answer within" in err or "cut short" in err),
      "slow server: rc %d %r" % (rc, err))
rc, out, err = res["deaf"]
check(rc == 1 and err.count("\n") == 1 and "did not accept the connection within" in err,
      "full backlog: rc %d %r" % (rc, err))
rc, out, err = res["list"]
check(rc == 0, "list: rc %d %r" % (rc, err))
rows = {l.split()[0]: l for l in out.splitlines() if l.split() and l.split()[0].isdigit()}
check(str(h.pid) in rows and rows[str(h.pid)].split()[-1] in ("rseq", "locked"),
      "the live process is missing from the list: %r" % out)
check(str(slow.pid) in rows and ("did not answer" in rows[str(slow.pid)] or "cut short" in rows[str(slow.pid)]),
      "slow server's row: %r" % out)
check(str(deaf.pid) in rows and "did not accept" in rows[str(deaf.pid)], "deaf server's row: %r" % out)
rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
