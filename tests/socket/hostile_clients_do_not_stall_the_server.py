# SPDX-License-Identifier: MIT
"""Garbage bytes, a 1 MiB line, clients that connect and never write (more of
them than the server reads at once), a client that trickles its request, and
1000 connections in a burst: the program keeps running, each bad client gets
at most one error line, and the next honest request is answered within 1 s."""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock"})
path = sock_in(d, h.pid)
ask_retry(path, "help")


def honest(what):
    out, t = ask(path, "stats", timeout=5)
    check(out.startswith("poolalloc 1 ok stats") and out.endswith("end\n"), "%s: honest reply %r" % (what, out[:80]))
    check(t < 1.0, "%s: honest request took %.2f s" % (what, t))
    check(h.alive(), "%s: the program died" % what)


def raw(data, shut=True):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    out = b""
    try:
        while True:
            x = s.recv(4096)
            if not x:
                break
            out += x
    except OSError:
        pass
    s.close()
    return out.decode(errors="replace")


# Garbage: binary, NUL, control characters, unknown words, arguments.
for g in (b"\x00\xff\xfe\x01\x02", b"stats\x00\n", b"\x1b[2J\n", b"GET / HTTP/1.0\r\n\r\n", b"flush all\n", b"\n"):
    out = raw(g)
    check(out.startswith("poolalloc 1 error ") and out.count("\n") == 1, "garbage %r got %r" % (g, out))
honest("garbage")

# A 1 MiB line: refused after the first bytes, never read to the end.
out = raw(b"a" * (1 << 20), shut=False)
check(out == "" or (out.startswith("poolalloc 1 error request too long") and out.count("\n") == 1),
      "1 MiB line got %r" % out[:100])
honest("1 MiB line")

# A client that trickles its request still gets an answer.
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b"sta")
time.sleep(0.3)
s.sendall(b"ts\n")
out = s.makefile("rb").read().decode()
s.close()
check(out.startswith("poolalloc 1 ok stats"), "trickled request got %r" % out[:80])

# Silent clients, more than the server's slots: none of them delays anyone.
silent = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    silent.append(s)
honest("40 silent clients")
for s in silent:
    s.close()

# 1000 connections in a burst, all held open at once, then 1000 that send a
# request and hang up without reading.
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
burst = []
t0 = time.monotonic()
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)   # blocking: waits while the backlog is full
    burst.append(s)
honest("1000 open connections")
for s in burst:
    s.close()
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    try:
        s.sendall(b"all\n")
    except OSError:
        pass
    s.close()
burst_s = time.monotonic() - t0
honest("1000 requests nobody read")
print("bursts took %.2f s" % burst_s)
check(h.cmd("alloc 100 64") == "ok", "the program stopped answering")
rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
