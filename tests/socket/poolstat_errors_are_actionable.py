# SPDX-License-Identifier: MIT
"""poolstat's errors say what happened and what to do: a process that does
not exist, one without poolalloc, a socket that is stale, something that is
not a poolalloc socket, a server speaking another protocol version, bad usage.
poolstat flush and poolstat config work on a live process."""
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
dead = dead_pid()
p = poolstat(dead)
check(p.returncode == 1 and p.stderr.strip() == "poolstat: no process %d" % dead, "dead: %r" % p.stderr)

sl = subprocess.Popen(["sleep", "30"], env=clean_env())
p = poolstat(sl.pid)
sl.kill()
check(p.returncode == 1 and p.stderr == "poolstat: pid %d does not run poolalloc (libpoolalloc.so "
      "is not mapped)\n" % sl.pid, "no poolalloc: %r" % p.stderr)

# Usage mistakes: one line each, exit 2 (all of them in
# poolstat_takes_arguments_like_a_unix_tool.py).
p = poolstat("12ab")
check(p.returncode == 2 and p.stderr.count("\n") == 1 and
      "neither a process id nor a socket path" in p.stderr, "bad target: %r" % p.stderr)
p = poolstat("--frob", "1")
check(p.returncode == 2 and p.stderr.count("\n") == 1 and "unknown option --frob" in p.stderr,
      "bad option: %r" % p.stderr)
p = poolstat("-d", "0", "-w", "1")
check(p.returncode == 2 and p.stderr.count("\n") == 1 and "-d wants seconds" in p.stderr,
      "bad -d: %r" % p.stderr)

# A stale socket: bound once, nobody listening.
stale = d + "/stale.sock"
s = socket.socket(socket.AF_UNIX)
s.bind(stale)
s.close()
p = poolstat(stale)
check(p.returncode == 1 and "stale socket" in p.stderr, "stale: %r" % p.stderr)


def fake_server(path, reply):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)

    def loop():
        while True:
            c, _ = srv.accept()
            c.recv(300)
            c.sendall(reply)
            c.close()
    threading.Thread(target=loop, daemon=True).start()


fake_server(d + "/skew.sock", b"poolalloc 2 ok all\npid 1\nend\n")
p = poolstat("--json", d + "/skew.sock")
check(p.returncode == 1 and "speaks stats protocol 2, this poolstat speaks 1" in p.stderr, "skew: %r" % p.stderr)
fake_server(d + "/http.sock", b"HTTP/1.0 400 Bad Request\r\n\r\n")
p = poolstat(d + "/http.sock")
check(p.returncode == 1 and "is not a poolalloc stats socket" in p.stderr, "foreign: %r" % p.stderr)
fake_server(d + "/cut.sock", b"poolalloc 1 ok all\npid 1\n")
p = poolstat(d + "/cut.sock")
check(p.returncode == 1 and "cut short" in p.stderr, "cut: %r" % p.stderr)
fake_server(d + "/err.sock", b"poolalloc 1 error permission denied: only the process's own user and root may ask\n")
p = poolstat(d + "/err.sock")
check(p.returncode == 1 and "refused the request: permission denied" in p.stderr, "error reply: %r" % p.stderr)

# The good paths of flush and config.
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_FLUSH_MS": 0})
ask_retry(sock_in(d, h.pid), "help")
p = poolstat("flush", h.pid)
check(p.returncode == 0 and p.stdout.startswith("flushed pid %d: returned " % h.pid), "flush: %r %r" % (p.stdout, p.stderr))
p = poolstat("config", h.pid)
check(p.returncode == 0 and "POOLALLOC_FLUSH_MS" in p.stdout and "socket_path" in p.stdout, "config: %r" % p.stdout)
cfg = dict(l.split(None, 1) for l in p.stdout.splitlines() if len(l.split(None, 1)) == 2)
check(cfg["POOLALLOC_FLUSH_MS"] == "0" and cfg["socket_path"] == sock_in(d, h.pid), "config values: %r" % cfg)
h.finish()
