# SPDX-License-Identifier: MIT
"""The protocol as a person reads it with `socat - UNIX-CONNECT:PATH`: every
request of `help` answers `poolalloc 1 ok REQUEST` ... `end`; an unknown
request gets exactly one error line; `flush` runs a generation (the flush
count goes up by one); `all` holds the stats, class, cpu and config lines."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

check(shutil.which("socat"), "socat is not installed (apt-get install socat)")
d = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_FLUSH_MS": 0})
path = sock_in(d, h.pid)
ask_retry(path, "help")


def socat(text):
    r = subprocess.run(["socat", "-t", "2", "-", "UNIX-CONNECT:" + path], input=text,
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "socat failed: " + r.stderr)
    return r.stdout


helptext = socat("help\n")
check(helptext.startswith("poolalloc 1 ok help\n") and helptext.endswith("\nend\n"), "help: %r" % helptext)
commands = [l.split()[1] for l in helptext.splitlines() if l.startswith("command ")]
for c in ("help", "stats", "classes", "cpus", "config", "flush", "all"):
    check(c in commands, "help does not list %s" % c)
for c in commands:
    out = socat(c + "\n")
    check(out.startswith("poolalloc 1 ok %s\n" % c) and out.endswith("\nend\n"), "%s: %r" % (c, out[:120]))
    for line in out.splitlines()[1:-1]:
        check(" " in line and line.split(" ")[0], "%s: a line without a key: %r" % (c, line))

bad = socat("frobnicate\n")
check(bad == 'poolalloc 1 error unknown request "frobnicate"; try help\n', "unknown: %r" % bad)
check(socat("\r\n").startswith("poolalloc 1 error empty request"), "empty request")
check(socat("stats\r\n").startswith("poolalloc 1 ok stats"), "CRLF line")
check(socat("stats").startswith("poolalloc 1 ok stats"), "request ended by end of input")

f0 = int(kv(socat("stats\n"))["flushes"])
fl = kv(socat("flush\n"))
check(int(fl["flushes"]) == f0 + 1 and "returned_now_bytes" in fl, "flush: %r (before %d)" % (fl, f0))
a = socat("all\n")
for key in ("pid ", "uptime_ms ", "mode ", "in_use_bytes ", "class.columns ", "cpu.columns ", "config POOLALLOC_SOCKET "):
    check("\n" + key in a, "all has no %r line" % key)
# The library's version, beside the protocol's (the first word's 1): the one in poolalloc.h.
with open(os.path.join(REPO, "include", "poolalloc.h")) as f:
    version = [l.split('"')[1] for l in f if l.startswith("#define POOLALLOC_VERSION ")][0]
cfg = socat("config\n")
check(("\nconfig version %s\n" % version) in cfg, "config has no version %s line: %r" % (version, cfg))
rc, err = h.finish()
check(rc == 0, "holder exit %d" % rc)
