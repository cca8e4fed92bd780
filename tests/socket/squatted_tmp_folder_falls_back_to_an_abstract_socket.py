# SPDX-License-Identifier: MIT
"""When another user squats /tmp/poolalloc-<uid> (and XDG_RUNTIME_DIR is
unset) the library serves on the abstract socket @poolalloc-<uid>-<pid> (its
default, which needs no folder); poolstat finds it: `poolstat PID` by its name, `poolstat` (list) through
/proc/net/unix, for root and for the user themself, with the same uid and
pid checks as a file (there is no file to stat), and it says on stderr that
the squatted folder was ignored. A python stand-in bound to such a name is
found the same way; it is never swept."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

need_root()
a_uid, _ = user("pa-attacker")
v_uid, _ = user("pa-victim")
squat = "/tmp/poolalloc-%d" % v_uid
if os.path.lexists(squat) and not os.path.islink(squat) and os.lstat(squat).st_uid == v_uid:
    shutil.rmtree(squat)   # a folder an earlier run let the test user make
own_folder(squat, a_uid, 0o755)


def rows_of(out):
    return {l.split()[0]: l for l in out.splitlines() if l.split() and l.split()[0].isdigit()}


# The client half alone: a stand-in of the victim's on an abstract name.
f = Fake("@poolalloc-%u-%p", b"poolalloc 1 ok all\npid %p\nuptime_ms 3000\nmode rseq\nend\n",
         user="pa-victim")
check(f.where == "@poolalloc-%d-%d" % (v_uid, f.pid), "stand-in at %s" % f.where)
p = poolstat(f.pid)
check(p.returncode == 0 and ("pid %d" % f.pid) in p.stdout, "poolstat PID (stand-in): %r %r" % (p.stdout, p.stderr))
for who in (None, "pa-victim"):
    rc, out, err = poolstat_bytes(user=who)
    out, err = out.decode(), err.decode()
    r = rows_of(out)
    check(rc == 0 and str(f.pid) in r and r[str(f.pid)].split()[-1] == "rseq",
          "list as %s: %r %r" % (who or "root", out, err))
    check(("ignoring %s" % squat) in err, "list as %s: no line about the squatted folder: %r" % (who or "root", err))
rc, out, err = poolstat_bytes(user="pa-attacker")
check(str(f.pid).encode() not in out, "the attacker's list shows the victim's process: %r" % out)
f.stop()

# The library itself, run by the victim.
h = Proc([HOLDER], env={"XDG_RUNTIME_DIR": None}, preload=" ",
         wrap=as_user("pa-victim") + ["env", "LD_PRELOAD=" + LIB])
name = "@poolalloc-%d-%d" % (v_uid, h.pid)
wait_for(lambda: name in open("/proc/net/unix").read(), 5, "the library's abstract socket %s" % name)
p = poolstat(h.pid)
check(p.returncode == 0 and ("pid %d (holder)" % h.pid) in p.stdout, "poolstat PID: %r %r" % (p.stdout, p.stderr))
p = poolstat("config", h.pid)
check(p.returncode == 0 and name in p.stdout, "config: %r %r" % (p.stdout, p.stderr))
rc, out, err = poolstat_bytes(user="pa-victim")
check(rc == 0 and str(h.pid) in rows_of(out.decode()), "list as the victim: %r %r" % (out, err))
p = poolstat()
check(p.returncode == 0 and str(h.pid) in rows_of(p.stdout), "list as root: %r %r" % (p.stdout, p.stderr))
rc, err = h.finish()
check(rc == 0 and name not in open("/proc/net/unix").read(), "holder exit %d, %s left: %s" % (rc, name, err))
