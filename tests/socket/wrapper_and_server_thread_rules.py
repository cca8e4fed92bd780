# SPDX-License-Identifier: MIT
"""tools/poolalloc sets LD_PRELOAD to the library of the checkout (absolute)
and runs the command, --stats prints the exit summary; and the server thread
keeps its rules: every signal blocked, never a malloc (a spy preloaded before
poolalloc reports any malloc-family call made on the thread named
poolalloc-stats, through every kind of request)."""
import glob
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

# The wrapper as it lies in a checkout: tools/poolalloc, the library in
# ../build. A tree of that shape around the tier's library, whatever folder
# it was built in (make B=...).
tree = tmpdir()
os.makedirs(os.path.join(tree, "tools"))
os.makedirs(os.path.join(tree, "build"))
wrapper = os.path.join(tree, "tools", "poolalloc")
with open(os.path.join(REPO, "tools", "poolalloc"), "rb") as src, open(wrapper, "wb") as dst:
    dst.write(src.read())
os.chmod(wrapper, 0o755)
os.symlink(LIB, os.path.join(tree, "build", "libpoolalloc.so"))
r = subprocess.run([wrapper, "sh", "-c", "echo $LD_PRELOAD"], capture_output=True, text=True, env=clean_env())
check(r.returncode == 0 and r.stdout.strip() == os.path.join(tree, "build", "libpoolalloc.so"),
      "wrapper LD_PRELOAD: %r %r" % (r.stdout, r.stderr))
r = subprocess.run([wrapper, "--stats", "true"], capture_output=True, text=True, env=clean_env())
check(r.returncode == 0 and "poolalloc: summary for pid" in r.stderr, "wrapper --stats: %r" % r.stderr[:200])
r = subprocess.run([wrapper], capture_output=True, text=True, env=clean_env())
check(r.returncode == 2 and "usage" in r.stderr, "wrapper without a command: %r" % r.stderr)
r = subprocess.run([wrapper, "sh", "-c", "exit 7"], env=clean_env())
check(r.returncode == 7, "wrapper exit status %d" % r.returncode)

d = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_FLUSH_MS": 20},
         preload=SPY + ":" + LIB)
path = sock_in(d, h.pid)
ask_retry(path, "help")
tids = [t for t in glob.glob("/proc/%d/task/*" % h.pid) if open(t + "/comm").read().strip() == "poolalloc-stats"]
check(len(tids) == 1, "server threads: %d" % len(tids))
blk = [l for l in open(tids[0] + "/status") if l.startswith("SigBlk:")][0].split()[1]
mask = int(blk, 16)
missing = [s for s in range(1, 65) if s not in (9, 19, 32, 33) and not mask >> (s - 1) & 1]
check(not missing, "signals not blocked in the server thread: %r" % missing)

check(h.cmd("alloc 2000 48") == "ok", "holder")
for req in ("help", "stats", "classes", "cpus", "config", "flush", "all", "bogus", "", "x" * 400):
    try:
        ask(path, req)
    except OSError:
        pass
for _ in range(50):   # refused, evicted and timed-out clients too
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.close()
p = poolstat("--json", h.pid)
check(p.returncode == 0, "poolstat under the spy: %r" % p.stderr)
check(h.cmd("free 2000 48") == "ok" and h.alive(), "holder stopped")
rc, err = h.finish()
check("MALLOC IN SERVER THREAD" not in err, "the server thread allocated: %r" % err[:300])
check(rc == 0, "holder exit %d: %s" % (rc, err))
