# SPDX-License-Identifier: MIT
"""A program holds exactly 1000 objects of 64 bytes and 10 of 4000 bytes (on
top of what it held at start): the `classes` reply, poolstat --json and the
poolstat table count exactly that; freeing 500 takes exactly 500 off. The
flush thread is off (POOLALLOC_FLUSH_MS=0) so nothing moves objects while the
figures are read; `flush` requests run in the server thread, between reads."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_FLUSH_MS": 0})
path = sock_in(d, h.pid)


def by_size(reply):
    return {r["size"]: r for r in table(reply, "class")}


def in_use(reply, size):
    return by_size(reply).get(size, {}).get("in_use", 0)


base, _ = ask_retry(path, "classes")
check(base.startswith("poolalloc 1 ok classes\n") and base.endswith("end\n"), "bad reply: %r" % base[:200])
b64, b4k = in_use(base, 64), in_use(base, 4096)

check(h.cmd("alloc 1000 64") == "ok", "holder did not allocate")
check(h.cmd("alloc 10 4000") == "ok", "holder did not allocate")
r, _ = ask(path, "classes")
check(in_use(r, 64) == b64 + 1000, "class 64: in_use %d, want %d" % (in_use(r, 64), b64 + 1000))
check(in_use(r, 4096) == b4k + 10, "class 4096: in_use %d, want %d" % (in_use(r, 4096), b4k + 10))
row = by_size(r)[64]
check(row["spans"] >= 1 and row["cap"] > 0, "class 64 row looks empty: %r" % row)

# Flushes move cached objects but never objects the program holds.
for _ in range(3):
    f, _ = ask(path, "flush")
    check(f.startswith("poolalloc 1 ok flush\n") and "returned_now_bytes " in f, "flush: %r" % f)
    r, _ = ask(path, "classes")
    check(in_use(r, 64) == b64 + 1000, "after a flush class 64 in_use %d, want %d" % (in_use(r, 64), b64 + 1000))

# poolstat --json counts the same, and its byte figures agree.
p = poolstat("--json", h.pid)
check(p.returncode == 0, "poolstat --json failed: " + p.stderr)
j = json.loads(p.stdout)
cls = {c["size"]: c for c in j["classes"]}
check(cls[64]["in_use"] == b64 + 1000 and cls[4096]["in_use"] == b4k + 10,
      "json in_use %d/%d" % (cls[64]["in_use"], cls[4096]["in_use"]))
check(cls[64]["in_use_bytes"] == 64 * cls[64]["in_use"], "in_use_bytes != in_use * size")
check(j["pid"] == h.pid, "json pid %r" % j["pid"])
check(j["in_use_bytes"] == sum(c["in_use_bytes"] for c in j["classes"]), "in_use_bytes is not the sum of the classes")

# The table for people shows the row.
p = poolstat(h.pid)
check(p.returncode == 0, "poolstat PID failed: " + p.stderr)
rows = [l.split() for l in p.stdout.splitlines() if l.split()[:2] == ["3", "64"]]
check(rows and int(rows[0][3]) == b64 + 1000, "table row for class 3: %r" % rows)

check(h.cmd("free 500 64") == "ok", "holder did not free")
r, _ = ask(path, "classes")
check(in_use(r, 64) == b64 + 500, "after free 500: in_use %d, want %d" % (in_use(r, 64), b64 + 500))
rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
check(not os.path.exists(path), "socket file left after a normal exit")
