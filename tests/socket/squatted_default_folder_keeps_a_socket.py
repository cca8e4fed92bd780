# SPDX-License-Identifier: MIT
"""Another user who makes /tmp/poolalloc-<uid> before the victim does (a
squatter) neither silences the victim's stats socket nor gets a warning
printed in every program of the victim: the server listens on its default,
the abstract name @poolalloc-<uid>-<pid>, answers its own user and root,
refuses the squatter, makes nothing in the squatted folder, gives a fork child
a name of its own, and leaves nothing when the program ends. An explicit
POOLALLOC_SOCKET in that folder still warns and gets no socket.

The abstract namespace has no permissions: a squatter may take the victim's
name first. The library then makes a file in the default folder, with the
folder's rules: in the victim's XDG_RUNTIME_DIR it works (and `poolstat PID`
finds it, not the squatter's name); in the squatted /tmp folder it is refused
with one warning line naming both, nothing is made there, the program goes on.

Victim and squatter are two users made for this test (pa-victim,
pa-squatter), so that no folder of root's or nobody's, which other tests use,
is touched. Needs root; skips otherwise."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

need_root()
victim, squatter = "pa-victim", "pa-squatter"   # users (common.user), named for as_user
VUID = user(victim)[0]
SQUID = user(squatter)[0]
squat = "/tmp/poolalloc-%d" % VUID
if os.path.lexists(squat):
    shutil.rmtree(squat) if os.path.isdir(squat) and not os.path.islink(squat) else os.unlink(squat)
import atexit  # noqa: E402
atexit.register(lambda: shutil.rmtree(squat, True))
r = subprocess.run(as_user(squatter) + ["mkdir", "-m", "0755", squat], capture_output=True, text=True)
check(r.returncode == 0, "the squatter cannot make %s: %s" % (squat, r.stderr))
check(os.stat(squat).st_uid == SQUID, "%s is not the squatter's" % squat)


class Victim(Proc):
    """The holder run as the victim, preloaded (only the holder: not setpriv,
    whose credential calls a preloaded process's threads would upset); its
    pid is the holder's own, from its first line."""

    def __init__(self, **env):
        e = clean_env(XDG_RUNTIME_DIR=None, **env)
        self.p = subprocess.Popen(as_user(victim) + ["env", "LD_PRELOAD=" + LIB, HOLDER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        first = self.line(10)
        check(first is not None and first.startswith("ready"), "holder did not start: %r" % first)
        self.pid = int(first.split()[1])


def abstract_names():
    """Abstract unix socket names listening now (/proc/net/unix shows '@name')."""
    names = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            w = line.split()
            if len(w) >= 8 and w[7].startswith("@"):
                names.add(w[7])
    return names


def ask_abstract(name, request, who=None):
    """One request to the abstract socket `name` ('@...'), as root or as user `who`."""
    if who is None:
        return ask(name, request, timeout=10)[0]
    client = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(10)\n"
              "s.connect('\\0'+sys.argv[1])\n"
              "try:\n    s.sendall(sys.argv[2].encode()+b'\\n')\nexcept OSError:\n    pass\nout=b''\n"
              "try:\n    while True:\n        x=s.recv(65536)\n        if not x: break\n        out+=x\nexcept OSError:\n    pass\n"
              "sys.stdout.write(out.decode())\n")
    r = subprocess.run(as_user(who) + ["/usr/bin/python3", "-c", client, name[1:], request],
                       capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr


# The default folder is squatted: an abstract socket, no warning.
v = Victim()
name = "@poolalloc-%d-%d" % (VUID, v.pid)
end = time.monotonic() + 10
while name not in abstract_names() and time.monotonic() < end:
    time.sleep(0.02)
if name not in abstract_names():
    rc, err = v.finish()
    fail("no %s in /proc/net/unix; the program printed %r" % (name, err))
out = ask_abstract(name, "stats")
check(out.startswith("poolalloc 1 ok stats") and out.endswith("end\n"), "root asking %s got %r" % (name, out[:100]))
check(kv(out).get("pid") == str(v.pid), "stats pid %r, the program is %d" % (kv(out).get("pid"), v.pid))
out = ask_abstract(name, "config", who=victim)
check(out.startswith("poolalloc 1 ok config"), "the victim asking %s got %r" % (name, out[:100]))
check("config socket_path %s\n" % name in out, "socket_path is not %s: %r" % (name, out))
out = ask_abstract(name, "stats", who=squatter)
check(out.startswith("poolalloc 1 error permission denied") and "pid " not in out,
      "the squatter asking %s got %r" % (name, out[:100]))

# A fork child gets a name of its own, gone when it ends.
child = v.cmd("fork")
check(child is not None and child.startswith("child "), "fork: %r" % child)
cname = "@poolalloc-%d-%s" % (VUID, child.split()[1])
wait_for(lambda: cname in abstract_names(), within=10, what="the fork child's %s" % cname)
check(kv(ask_abstract(cname, "stats")).get("pid") == child.split()[1], "the child's socket answers for another pid")
check(v.cmd("endchild") == "ok", "the fork child did not end cleanly")
wait_for(lambda: cname not in abstract_names(), within=10, what="%s gone with its process" % cname)
check(name in abstract_names(), "the parent's %s went with its child" % name)

rc, err = v.finish()
check(rc == 0, "the victim's program exited %d: %s" % (rc, err))
check(err == "", "the victim's program printed %r" % err)
wait_for(lambda: name not in abstract_names(), within=10, what="%s gone after exit" % name)
check(os.listdir(squat) == [], "something was made in the squatted folder: %r" % os.listdir(squat))

# POOLALLOC_VERBOSE=1: at most one line says so.
v = Victim(POOLALLOC_VERBOSE=1)
name = "@poolalloc-%d-%d" % (VUID, v.pid)
wait_for(lambda: name in abstract_names(), within=10, what="%s (verbose)" % name)
rc, err = v.finish()
said = [ln for ln in err.splitlines() if squat in ln or "@poolalloc" in ln]
check(rc == 0 and len(said) <= 1, "verbose: exit %d, lines %r" % (rc, said))

# The user named the squatted folder: that place is refused, with a warning.
v = Victim(POOLALLOC_SOCKET=squat + "/%p.sock")
name = "@poolalloc-%d-%d" % (VUID, v.pid)
check(v.cmd("ping") == "pong", "the program with a refused POOLALLOC_SOCKET stopped")
check(name not in abstract_names(), "an explicit POOLALLOC_SOCKET fell back to %s" % name)
rc, err = v.finish()
lines = err.splitlines()
check(rc == 0 and len(lines) == 1 and "belongs to uid %d" % SQUID in lines[0],
      "explicit POOLALLOC_SOCKET in the squatted folder: exit %d, stderr %r" % (rc, err))
check(os.listdir(squat) == [], "something was made in the squatted folder: %r" % os.listdir(squat))

# The squatter holds the victim's name too: a file in the victim's own XDG folder.
vx = tmpdir()
os.chown(vx, VUID, VUID)
v = Gated(env={"XDG_RUNTIME_DIR": vx}, user=victim)
name = "@poolalloc-%d-%d" % (VUID, v.pid)
taken = Fake(name, b"poolalloc 1 ok stats\npid %d\nend\n" % v.pid, user=squatter)
v.go()
path = os.path.join(vx, "poolalloc", "%d.sock" % v.pid)
wait_for(lambda: os.path.exists(path), within=10, what="the victim's fallback file %s" % path)
st = os.lstat(path)
check(st.st_uid == VUID and st.st_mode & 0o777 == 0o600, "fallback file uid %d mode %o" % (st.st_uid, st.st_mode & 0o777))
out = ask_abstract(path, "stats")
check(kv(out).get("pid") == str(v.pid), "the fallback file answers %r" % out[:100])
p = poolstat(v.pid)
check(p.returncode == 0 and ("pid %d (holder)" % v.pid) in p.stdout,
      "poolstat PID with the name squatted: %r %r" % (p.stdout[:200], p.stderr))
check(not taken.requests(), "a request reached the squatter's name: %r" % taken.got)
rc, err = v.finish()
check(rc == 0 and err == "" and not os.path.exists(path), "victim (name squatted): exit %d, %r" % (rc, err))
taken.stop()

# The name and the /tmp folder both squatted: one warning line, nothing made.
v = Gated(env={"XDG_RUNTIME_DIR": None}, user=victim)
name = "@poolalloc-%d-%d" % (VUID, v.pid)
taken = Fake(name, user=squatter)
v.go()
check(v.cmd("alloc 100 64") == "ok" and v.cmd("ping") == "pong", "the victim's program stopped")
rc, err = v.finish()
lines = err.splitlines()
check(rc == 0 and len(lines) == 1 and name in lines[0] and "in use" in lines[0] and
      ("%s belongs to uid %d" % (squat, SQUID)) in lines[0],
      "name and folder squatted: exit %d, stderr %r" % (rc, err))
check(os.listdir(squat) == [], "something was made in the squatted folder: %r" % os.listdir(squat))
taken.stop()
print("ok: %s answered, squatter refused, nothing left" % name)
