# SPDX-License-Identifier: MIT
"""The C library's own figures in the stats reply: libc_in_use_bytes follows
the blocks poolalloc passes through to it (requests above POOLALLOC_MAX_SIZE):
it grows by at least what the program holds there and falls back when those
blocks are freed, while the pools' in_use_bytes does not move; libc_free_bytes
is there too. Read from poolstat --json (the same reply the soak's RSS rule
reads to leave out what the C library keeps free)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

MIB = 1 << 20


def figures(pid):
    p = poolstat("--json", pid)
    check(p.returncode == 0, "poolstat --json: " + p.stderr)
    j = json.loads(p.stdout)
    for k in ("libc_in_use_bytes", "libc_free_bytes"):
        check(isinstance(j.get(k), int), "json has no integer %r: %r" % (k, j.get(k)))
    return j


d = tmpdir()
# Blocks of 256 KiB: above the 32 KiB the pools take here, below glibc's
# mmap threshold's ceiling; 64 of them are 16 MiB held by the C library.
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_MAX_SIZE": "32k"})
check(h.cmd("alloc 100 64") == "ok", "holder did not allocate")
ask_retry(sock_in(d, h.pid), "help")
before = figures(h.pid)
check(h.cmd("alloc 64 262144") == "ok", "holder did not allocate the big blocks")
held = figures(h.pid)
grew = held["libc_in_use_bytes"] - before["libc_in_use_bytes"]
check(grew >= 16 * MIB, "libc_in_use_bytes grew by %d bytes for 16 MiB passed through" % grew)
check(held["in_use_bytes"] == before["in_use_bytes"],
      "the pools' in_use_bytes moved for blocks they do not hold: %d -> %d"
      % (before["in_use_bytes"], held["in_use_bytes"]))
check(h.cmd("free 64 262144") == "ok", "holder did not free the big blocks")
after = figures(h.pid)
fell = held["libc_in_use_bytes"] - after["libc_in_use_bytes"]
check(fell >= 16 * MIB, "libc_in_use_bytes fell by %d bytes when 16 MiB were freed" % fell)
rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
