# SPDX-License-Identifier: MIT
"""A client running as another uid (nobody) gets nothing: poolstat as nobody
fails with a permission message it can act on (the folder is 0700, the socket
0600), and when the test opens the file modes (as root), the server itself
refuses the connection by SO_PEERCRED with one error line and no figures."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
from common import NOBODY_PREFIX as NOBODY  # noqa: E402  (the command prefix)

d = tmpdir()
os.chmod(d, 0o711)   # others may pass through, not list or write
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock"})
path = sock_in(d, h.pid)
ask_retry(path, "help")
st = os.lstat(path)
check(st.st_mode & 0o777 == 0o600, "socket mode %o, want 600" % (st.st_mode & 0o777))

# poolstat as nobody, given the path: the file mode stops it.
p = poolstat(path, user="nobody")
check(p.returncode != 0 and "permission denied" in p.stderr,
      "poolstat as nobody: rc %d, %r" % (p.returncode, p.stderr))
# poolstat as nobody, given the pid: it cannot even read the process's environment.
p = poolstat(h.pid, user="nobody")
check(p.returncode != 0 and p.stderr.startswith("poolstat: "), "poolstat PID as nobody: %r" % p.stderr)

# Now only SO_PEERCRED stands between nobody and the figures.
os.chmod(path, 0o666)
client = ("import socket,sys\n"
          "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
          "try: s.sendall(b'stats\\n')\n"
          "except OSError: pass\n"
          "o=b''\n"
          "while True:\n"
          "    d=s.recv(4096)\n"
          "    if not d: break\n"
          "    o+=d\n"
          "sys.stdout.write(o.decode())\n")
r = subprocess.run(NOBODY + ["/usr/bin/python3", "-c", client, path], capture_output=True, text=True, timeout=10)
check(r.returncode == 0, "nobody's client failed: %s" % r.stderr)
check(r.stdout.startswith("poolalloc 1 error permission denied") and r.stdout.count("\n") == 1,
      "nobody got: %r" % r.stdout)
check("in_use_bytes" not in r.stdout, "figures leaked to another uid")
# root still gets the figures.
out, _ = ask(path, "stats")
check(out.startswith("poolalloc 1 ok stats"), "root refused: %r" % out[:100])
check(h.alive(), "program died")
rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
