# SPDX-License-Identifier: MIT
"""The server thread answers `sites` and `heap` (symbols, a heap profile and
the process's maps, streamed through its fixed buffer) without calling
malloc: a spy preloaded before poolalloc (tests/socket/support/malloc_spy.c)
reports any malloc-family call on the thread named poolalloc-stats. The
profile, larger than the buffer, arrives whole."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
from common import ask_text as ask  # noqa: E402  (the reply's text alone)

d = tmpdir()
h = Proc([SITES], env={"POOLALLOC_SAMPLE": 4096, "POOLALLOC_SOCKET": d + "/%p.sock"},
         preload=SPY + ":" + LIB)
check(h.cmd("alloc 8") == "ok", "sites did not allocate: " + h.err_now())
path = os.path.join(d, "%d.sock" % h.pid)
for _ in range(3):
    s = ask(path, "sites")
    check(s.startswith("poolalloc 1 ok sites\nsampling on\n") and s.endswith("\nend\n"),
          "sites: %r" % s[:200])
    for reply in (s, ask(path, "heap")):
        keyless = [l for l in reply.splitlines()[1:-1] if " " not in l or not l.split(" ")[0]]
        check(not keyless, "lines without a key (the protocol's grammar): %r" % keyless[:3])
    p = ask(path, "heap")
    check(p.startswith("poolalloc 1 ok heap\nsampling on\nheap heap profile: ") and p.endswith("\nend\n"),
          "heap: %r ... %r" % (p[:100], p[-100:]))
    maps = open("/proc/%d/maps" % h.pid).read()
    check(len(p) > 4096 and p.count("\n") > maps.count("\n"),
          "heap reply of %d bytes, %d lines: the maps are cut" % (len(p), p.count("\n")))
    body = p.split("\n")[1:-2]
    check(all(l.startswith("heap ") for l in body[1:]), "a heap line without its key: %r"
          % [l for l in body[1:] if not l.startswith("heap ")][:2])
check(poolstat("sites", h.pid).returncode == 0, "poolstat sites failed")
rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
check("MALLOC IN SERVER THREAD" not in err, "the server thread allocated:\n" + err[-800:])
