# SPDX-License-Identifier: MIT
"""A daemon-style program closes every descriptor it did not open (3..1023 and
close_range), then opens its own files, a socketpair and a listener, and
churns them: the stats socket keeps answering, and the program's files and
sockets are never written, read or accepted on by us (the program checks its
own). Both with the server's private descriptor table and with a shared one,
where the server must notice its listener was closed and make a new one."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403


def run(label, wrap=None):
    d = tmpdir()
    h = Proc([DAEMON, d], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_FLUSH_MS": 50}, wrap=wrap)
    path = sock_in(d, h.pid)
    ask_retry(path, "stats")
    check(h.cmd("close") == "ok", "%s: close failed" % label)
    for i in range(6):
        for req in ("stats", "all", "flush", "config"):
            out, _ = ask_retry(path, req, within=3)
            check(out.startswith("poolalloc 1 ok " + req), "%s: %s after close: %r" % (label, req, out[:80]))
        check(h.cmd("alloc") == "ok", "%s: alloc" % label)
        check(h.cmd("churn") == "ok", "%s: churn" % label)
        r = h.cmd("check")
        check(r == "ok", "%s: round %d: %s" % (label, i, r))
        time.sleep(0.2)
    st = kv(ask_retry(path, "stats")[0])
    check(st["pid"] == str(h.pid), "%s: pid %r" % (label, st))
    rc, err = h.finish()
    check(rc == 0, "%s: daemon exit %d: %s" % (label, rc, err))
    check(not os.path.exists(path), "%s: socket left after exit" % label)


run("private table")
run("shared table", wrap=[NOSHARE])
