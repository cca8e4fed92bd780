# SPDX-License-Identifier: MIT
"""A process that ends without running its exit handlers leaves no socket a
user sees, and `poolstat` lists exactly the processes still alive. With the
default socket place (no POOLALLOC_SOCKET; XDG_RUNTIME_DIR pointed at a
folder of this test's own) and POOLALLOC_START_MS=0:
  - 50 `/bin/sh -c '...; exec true'` runs (dash, as the issue saw it): each
    shell waits until its stats server is up, then execs `true`, which ends
    before its own start (START_MS=60000), as a short program does under the
    default start, so nothing of the shell's is cleaned up by exit handlers;
  - 20 holders SIGKILLed once their server is up;
  - 2 holders that stay alive.
Afterwards no file lies in the default folders for any of these pids, no
abstract name of theirs is left in /proc/net/unix, and `poolstat` (list) shows,
of the 72 pids this test started, the 2 live ones, with their figures. Other
processes of the same user (tests running beside this one) may be listed too:
only this test's pids are compared."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

x = tmpdir()
ENV = {"XDG_RUNTIME_DIR": x}
UID = os.geteuid()


def abstract_left(pids):
    """Those of pids whose default name still listens."""
    names = abstract_listening()
    return {p for p in pids if sock_name(p) in names}


ended = []
# 50 shells that exec a program which never starts.
e = clean_env(**ENV)
e["LD_PRELOAD"] = LIB
for i in range(50):
    p = subprocess.Popen(["/bin/sh", "-c", "read x; POOLALLOC_START_MS=60000 exec true"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e)
    wait_for(lambda: served(p.pid), 10, "the server of shell %d (run %d)" % (p.pid, i))
    p.stdin.write(b"go\n")
    p.stdin.close()
    rc = p.wait(10)
    err = p.stderr.read().decode(errors="replace")
    check(rc == 0 and err == "", "shell run %d: exit %d, stderr %r" % (i, rc, err))
    ended.append(p.pid)

# 20 programs killed with SIGKILL once their socket is up.
for i in range(20):
    h = Proc([HOLDER], env=ENV)
    check(h.cmd("alloc 100 64") == "ok", "holder %d" % h.pid)
    wait_for(lambda: served(h.pid), 10, "the server of holder %d" % h.pid)
    h.p.send_signal(signal.SIGKILL)
    h.p.wait(10)
    ended.append(h.pid)

live = [Proc([HOLDER], env=ENV) for _ in range(2)]
for h in live:
    check(h.cmd("alloc 100 64") == "ok", "live holder %d" % h.pid)
    wait_for(lambda: served(h.pid), 10, "the server of live holder %d" % h.pid)

# Nothing left where a user looks (before poolstat, which would sweep old files).
folders = [os.path.join(x, "poolalloc"), "/tmp/poolalloc-%d" % UID]
files = [os.path.join(d, "%d.sock" % p) for d in folders for p in ended]
left = [f for f in files if os.path.lexists(f)]
check(not left, "%d ended processes left a socket file, e.g. %s" % (len(left), left[:3]))
if os.path.isdir(folders[0]):
    mine = set(os.listdir(folders[0])) - {"%d.sock" % h.pid for h in live}
    check(not mine, "files left in %s: %r" % (folders[0], sorted(mine)[:5]))
stuck = abstract_left(ended)
check(not stuck, "abstract names left by ended processes: %r" % sorted(stuck))

# poolstat lists exactly the live ones of ours.
p = poolstat(env=ENV)
check(p.returncode == 0, "poolstat list: rc %d %r" % (p.returncode, p.stderr))
rows = {int(l.split()[0]): l.split() for l in p.stdout.splitlines() if l.split() and l.split()[0].isdigit()}
ours = set(ended) | {h.pid for h in live}
check(set(rows) & ours == {h.pid for h in live},
      "listed %r of this test's pids, alive are %r: %r" %
      (sorted(set(rows) & ours), [h.pid for h in live], p.stdout))
for h in live:
    check(rows[h.pid][1] == "holder" and rows[h.pid][-1] in ("rseq", "locked"),
          "live row: %r" % rows[h.pid])
for h in live:
    rc, err = h.finish()
    check(rc == 0 and err == "", "live holder %d: exit %d %r" % (h.pid, rc, err))
check(not abstract_left([h.pid for h in live]), "a live holder's name outlived it")
print("ok: %d ended processes left nothing; listed %r" % (len(ended), [h.pid for h in live]))
