# SPDX-License-Identifier: MIT
"""A socket's name says a pid; poolstat believes it only if that pid runs as
the uid that owns the socket and its folder, and only if that very process
serves it (SO_PEERCRED), checked before the request goes out. Another user's
1.sock is not listed as process 1 (one line on stderr says why); their
socket named after a process of their own that is not the server gets no
request and shows no figures; their abstract @poolalloc-0-1 is refused."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

need_root()
a_uid, _ = user("pa-attacker")
adir = "/tmp/poolalloc-%d" % a_uid
own_folder(adir, a_uid)
figures = b"uptime_ms 9000\nmode rseq\nin_use_bytes 987654321\nend\n"

# 1.sock in the attacker's own folder, claiming to be pid 1 (root's).
one = Fake(adir + "/1.sock", b"poolalloc 1 ok stats\npid 1\n" + figures, user="pa-attacker")
# A socket named after the attacker's own sleeping process, served by another.
sl = subprocess.Popen(as_user("pa-attacker") + ["sleep", "60"], env=clean_env())
decoy = Fake(adir + "/%d.sock" % sl.pid, ("poolalloc 1 ok stats\npid %d\n" % sl.pid).encode() + figures,
             user="pa-attacker")
# An abstract name claiming root's pid 1.
abst = Fake("@poolalloc-0-1", b"poolalloc 1 ok stats\npid 1\n" + figures, user="pa-attacker")
try:
    p = poolstat()
    rows = {l.split()[0]: l for l in p.stdout.splitlines() if l.split() and l.split()[0].isdigit()}
    check(p.returncode == 0, "list: rc %d %r" % (p.returncode, p.stderr))
    check("941.9 MiB" not in p.stdout, "a stranger's figures were listed: %r" % p.stdout)
    check("1" not in rows or "refusing" in rows["1"], "listed as process 1: %r" % p.stdout)
    check(("ignoring %s/1.sock: process 1 runs as uid 0, not as uid %d" % (adir, a_uid)) in p.stderr,
          "no line about the spoofed 1.sock: %r" % p.stderr)
    check(str(sl.pid) in rows and "refusing" in rows[str(sl.pid)] and
          ("served by process %d" % decoy.pid) in rows[str(sl.pid)], "decoy row: %r" % p.stdout)
    p = poolstat(sl.pid)
    check(p.returncode == 1 and p.stderr.count("\n") == 1 and "refusing" in p.stderr and
          "987654321" not in p.stdout, "poolstat %d: %r %r" % (sl.pid, p.stdout, p.stderr))
    p = poolstat(1)
    check(p.returncode == 1 and "in use" not in p.stdout, "poolstat 1: %r %r" % (p.stdout, p.stderr))
    for f in (one, decoy, abst):
        check(not f.requests(), "a request reached %s: %r" % (f.where, f.got))
finally:
    sl.kill()
