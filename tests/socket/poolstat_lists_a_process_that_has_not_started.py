# SPDX-License-Identifier: MIT
"""A process under the preload that has not started (fewer than
POOLALLOC_START_ALLOCS requests, none since it was POOLALLOC_START_MS old: here
`sleep` with START_MS=60000) has no socket, yet `poolstat` lists it as `not
started` with one footnote, and `poolstat PID` (and `sites PID`) says so in
one line with exit status 1. A started process is listed once, by its socket
(the default abstract name), with its figures, also when only its
POOLALLOC_SOCKET says where that is; one
whose socket was refused is listed with a note, not as not started. Names
reach the terminal printable. As root: a
stranger's process that has not started is listed for root, not for another
user, who sees only their own."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
from common import NOBODY_PREFIX as NOBODY  # noqa: E402  (the command prefix)

WAIT = {"POOLALLOC_START_MS": "60000"}
NOTE = ("not started: fewer than POOLALLOC_START_ALLOCS requests so far and none since it was "
        "POOLALLOC_START_MS old; everything it allocated is the C library's "
        "(docs/how-it-works.md#start-up)")


def maps_lib(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "/libpoolalloc.so" in f.read()
    except OSError:
        return False


def sleeper(argv, prefix=(), env=None):
    """argv started with the preload, START_MS=60000: it will not start."""
    e = clean_env(**dict(WAIT, **(env or {})))
    if prefix:   # the preload for the program alone, not for setpriv
        p = subprocess.Popen(list(prefix) + ["env", "LD_PRELOAD=" + LIB] + argv, env=e)
    else:
        e["LD_PRELOAD"] = LIB
        p = subprocess.Popen(argv, env=e)
    import atexit
    atexit.register(p.kill)
    wait_for(lambda: maps_lib(p.pid) and open("/proc/%d/comm" % p.pid).read().strip() != "env",
             within=10, what="process %d to map libpoolalloc" % p.pid)
    return p


def rows(out):
    """pid -> list of the words of its rows."""
    got = {}
    for line in out.splitlines():
        w = line.split()
        if w and w[0].isdigit():
            got.setdefault(int(w[0]), []).append(w)
    return got


x = tmpdir()
# A name with terminal controls: comm is the name the program was run by.
odd = os.path.join(x, "sl\x1b]0;x\x07p")
os.symlink("/bin/sleep", odd)
quiet = sleeper([odd, "30"], env={"XDG_RUNTIME_DIR": x})
busy = Proc([HOLDER], env={"XDG_RUNTIME_DIR": x})   # START_MS=0: started, socket at once
ask_retry(sock_name(busy.pid), "stats")   # the default: its abstract name
# Started, with a socket where only its POOLALLOC_SOCKET says: found by its pid.
own = Proc([HOLDER], env={"XDG_RUNTIME_DIR": x, "POOLALLOC_SOCKET": x + "/own-%p.sock"})
ask_retry(x + "/own-%d.sock" % own.pid, "stats")
# Started, but its socket was refused (a folder others can write): not "not started".
os.mkdir(x + "/ww")
os.chmod(x + "/ww", 0o777)
bad = Proc([HOLDER], env={"XDG_RUNTIME_DIR": x, "POOLALLOC_SOCKET": x + "/ww/%p.sock"})

rc, out, err = poolstat_bytes(env={"XDG_RUNTIME_DIR": x})
check(rc == 0, "poolstat list: rc %d %r" % (rc, err))
check(not raw_bytes(out) and not raw_bytes(err), "raw control bytes reach the terminal: %r" % out)
out = out.decode()
r = rows(out)
check(len(r.get(quiet.pid, [])) == 1, "not-started process %d listed %d times: %r" %
      (quiet.pid, len(r.get(quiet.pid, [])), out))
row = r[quiet.pid][0]
check(row[1] == "sl?]0;x?p" and row[-2:] == ["not", "started"],
      "not-started row: %r in %r" % (row, out))
check(len(r.get(busy.pid, [])) == 1, "started process %d listed %d times: %r" %
      (busy.pid, len(r.get(busy.pid, [])), out))
row = r[busy.pid][0]
check(row[1] == "holder" and row[-1] in ("rseq", "locked"), "started row: %r in %r" % (row, out))
row = r.get(own.pid, [[]])
check(len(r.get(own.pid, [])) == 1 and row[0][1:2] == ["holder"] and row[0][-1] in ("rseq", "locked"),
      "process with its own socket: %r in %r" % (row, out))
row = r.get(bad.pid, [[]])
check(len(r.get(bad.pid, [])) == 1 and "not started" not in " ".join(row[0]) and
      "poolalloc socket" in " ".join(row[0]), "started process without a socket: %r in %r" % (row, out))
check(out.count(NOTE) == 1, "footnote not there once: %r" % out)
check(not os.path.exists(sock_in(os.path.join(x, "poolalloc"), quiet.pid)) and
      sock_name(quiet.pid) not in abstract_listening(), "sleep made a socket")

# poolstat PID, and a command on PID: one line, exit status 1.
want = "poolstat: pid %d (sl?]0;x?p) runs poolalloc but has not started yet: " % quiet.pid
for args in ([quiet.pid], ["sites", quiet.pid], ["--json", quiet.pid], ["flush", quiet.pid]):
    rc, o, e = poolstat_bytes(*args, env={"XDG_RUNTIME_DIR": x})
    check(rc == 1 and o == b"" and e.decode().startswith(want) and e.count(b"\n") == 1 and
          not raw_bytes(e), "poolstat %r: rc %d, %r %r" % (args, rc, o, e))
    check("docs/how-it-works.md#start-up" in e.decode(), "no pointer to the docs: %r" % e)
check(quiet.poll() is None and busy.alive(), "a process died")
for h in (busy, own, bad):
    h.finish()

# Other users: root sees a stranger's process, a user only their own.
if os.geteuid() == 0:
    mine = sleeper(["sleep", "30"], prefix=as_user("pa-attacker"), env={"XDG_RUNTIME_DIR": None})
    theirs = sleeper(["sleep", "30"], prefix=NOBODY, env={"XDG_RUNTIME_DIR": None})
    p = poolstat(env={"XDG_RUNTIME_DIR": None})
    r = rows(p.stdout)
    check(p.returncode == 0 and len(r.get(theirs.pid, [])) == 1 and
          r[theirs.pid][0][-2:] == ["not", "started"], "root's list: %r %r" % (p.stdout, p.stderr))
    rc, out, err = poolstat_bytes(user="pa-attacker", env={"XDG_RUNTIME_DIR": None})
    r = rows(out.decode())
    check(rc == 0 and theirs.pid not in r and quiet.pid not in r,
          "another user's processes listed: %r %r" % (out, err))
    check(len(r.get(mine.pid, [])) == 1 and r[mine.pid][0][-2:] == ["not", "started"],
          "the user's own process not listed: %r %r" % (out, err))
