# SPDX-License-Identifier: MIT
"""Whatever a process calls itself (prctl PR_SET_NAME) and whatever its
server replies, poolstat prints it with control characters replaced: the
list, the summary, config, --prom, --json, -w and every error message carry
no escape sequence, bell or C1 byte to the operator's terminal. The stranger
is a python stand-in that names itself with an OSC title + clear-screen and
answers with escapes in mode, mode_reason, config names and values."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

x = tmpdir()
env = {"XDG_RUNTIME_DIR": x}
evil = b"\x1b]0;pwned\x07\x1b[2J"
reply = (b"poolalloc 1 ok all\npid %p\nuptime_ms 5000\nmode rseq\x1b[31m\x07\x9b2J\n"
         b"mode_reason \x1b]0;title\x07\nin_use_bytes 4096\n"
         b"config POOLALLOC_X\x1b[2J va\x1bl\x07ue\x7f\nend\n")
f = Fake(x + "/poolalloc/%p.sock", reply, comm=evil, env=env)

runs = {
    "list": poolstat_bytes(env=env),
    "summary": poolstat_bytes(f.pid),
    "config": poolstat_bytes("config", f.pid),
    "prom": poolstat_bytes("--prom", f.pid),
    "json": poolstat_bytes("--json", f.pid),
    "watch": poolstat_bytes("-w", "-n", "1", f.pid),
}
for what, (rc, out, err) in runs.items():
    check(not raw_bytes(out) and not raw_bytes(err),
          "poolstat %s put raw control bytes %r on the terminal: %r %r" %
          (what, raw_bytes(out + err), out[:300], err[:300]))
    check(rc == 0, "poolstat %s failed (rc %d): %r" % (what, rc, err))
rc, out, err = runs["list"]
check(("%d" % f.pid).encode() in out and b"?]0;pwned?" in out, "list row: %r" % out)
check(b'mode="rseq?[31m??2J"' in runs["prom"][1], "prom label: %r" % runs["prom"][1][:400])
check(b"POOLALLOC_X?[2J" in runs["config"][1] and b"va?l?ue?" in runs["config"][1],
      "config: %r" % runs["config"][1])
check(b"?]0;pwned?" in runs["watch"][1], "watch header: %r" % runs["watch"][1][:200])

# Errors quote the stranger too: an error reply, a foreign first line.
for reply in (b"poolalloc 1 error no\x1b[2J\x07 way\n", b"HTTP/1.0 \x1b]0;x\x07 400\r\n"):
    g = Fake(x + "/poolalloc/%p.sock", reply, comm=evil, env=env)
    rc, out, err = poolstat_bytes(g.pid)
    check(rc == 1 and err.startswith(b"poolstat: ") and not raw_bytes(out + err),
          "error reply %r: rc %d, %r" % (reply, rc, err))
    g.stop()
