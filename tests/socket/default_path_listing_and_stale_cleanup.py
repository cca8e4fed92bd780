# SPDX-License-Identifier: MIT
"""Without POOLALLOC_SOCKET the socket is the abstract name
@poolalloc-<uid>-<pid>: no file, no folder made, `config` says the name, gone
with the process. Where another process holds that name first, the socket is
a file instead: $XDG_RUNTIME_DIR/poolalloc/<pid>.sock, else
/tmp/poolalloc-<uid>/<pid>.sock, in a 0700 folder of ours, mode 0600,
removed at exit; `poolstat PID` finds that file and not the name's holder.
`poolstat` alone lists both kinds (pid, command, mode) and removes the stale
socket file of a dead process (as an older poolalloc left them); a live
process's file is never removed."""
import os
import socket
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

x = tmpdir()
ENV = {"XDG_RUNTIME_DIR": x}
folder = os.path.join(x, "poolalloc")


def rows_of(out):
    return {int(l.split()[0]): l.split() for l in out.splitlines() if l.split() and l.split()[0].isdigit()}


# The default: the abstract name.
a = Proc([HOLDER], env=ENV)
name = sock_name(a.pid)
out, _ = ask_retry(name, "config")
check("config socket_path %s\n" % name in out, "config of the default socket: %r" % out)
check(name in abstract_listening(), "%s is not listening" % name)
check(not os.path.lexists(folder), "a folder was made: %r" % os.listdir(x))
check(not os.path.lexists("/tmp/poolalloc-%d/%d.sock" % (os.geteuid(), a.pid)), "a file in /tmp")
p = poolstat(a.pid, env=ENV)
check(p.returncode == 0 and ("pid %d (holder)" % a.pid) in p.stdout, "poolstat PID: %r %r" % (p.stdout[:200], p.stderr))

# The name held by another process first: a file in the XDG folder.
f = Gated(env=ENV)
holder_of_name = hold_name(f.pid)
f.go()
path = sock_in(folder, f.pid)
wait_for(lambda: os.path.exists(path), 5, "the fallback socket %s" % path)
out, _ = ask_retry(path, "config")
check("config socket_path %s\n" % path in out, "config of the fallback: %r" % out)
st = os.lstat(folder)
check(stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700 and st.st_uid == os.geteuid(),
      "folder mode %o uid %d" % (st.st_mode & 0o777, st.st_uid))
check(os.lstat(path).st_mode & 0o777 == 0o600, "socket mode %o" % (os.lstat(path).st_mode & 0o777))
p = poolstat(f.pid, env=ENV)
check(p.returncode == 0 and ("pid %d (holder)" % f.pid) in p.stdout,
      "poolstat PID with its name held by another: %r %r" % (p.stdout[:200], p.stderr))

# A stale socket file of a process that is gone, as a SIGKILL left one before;
# and one named after the live `a` (an older poolalloc's, its pid reused since):
# `a` is still found by its name, alone and in the list.
dead = dead_pid()
stale = sock_in(folder, dead)
for where in (stale, sock_in(folder, a.pid)):
    s = socket.socket(socket.AF_UNIX)
    s.bind(where)
    s.close()
p = poolstat(a.pid, env=ENV)
check(p.returncode == 0 and ("pid %d (holder)" % a.pid) in p.stdout,
      "poolstat PID beside a stale file of its pid: %r %r" % (p.stdout[:200], p.stderr))
p = poolstat(env=ENV)
check(p.returncode == 0, "poolstat list: %s" % p.stderr)
rows = rows_of(p.stdout)
for pid in (a.pid, f.pid):
    check(pid in rows and rows[pid][1] == "holder" and rows[pid][-1] in ("rseq", "locked"),
          "listing of %d: %r" % (pid, p.stdout))
check(not os.path.exists(stale), "stale socket not removed")
check("removed" in p.stdout and "stale" in p.stdout, "no word about the stale socket: %r" % p.stdout)
check(os.path.exists(path), "the live process's socket was removed")
rc, err = f.finish()
check(rc == 0 and not os.path.exists(path), "socket left after exit (rc %d)" % rc)
holder_of_name.close()
rc, err = a.finish()
check(rc == 0 and name not in abstract_listening(), "%s left after exit (rc %d)" % (name, rc))

# No XDG_RUNTIME_DIR, the name held: /tmp/poolalloc-<uid>.
f = Gated(env={"XDG_RUNTIME_DIR": None})
holder_of_name = hold_name(f.pid)
f.go()
path = "/tmp/poolalloc-%d/%d.sock" % (os.geteuid(), f.pid)
wait_for(lambda: os.path.exists(path), 5, "the fallback socket %s" % path)
ask_retry(path, "stats")
st = os.lstat(os.path.dirname(path))
check(st.st_uid == os.geteuid() and not st.st_mode & 0o022 and not stat.S_ISLNK(st.st_mode),
      "/tmp folder mode %o" % (st.st_mode & 0o777))
p = poolstat(f.pid, env={"XDG_RUNTIME_DIR": None})
check(p.returncode == 0 and ("pid %d (holder)" % f.pid) in p.stdout, "poolstat PID: %r %r" % (p.stdout[:200], p.stderr))
rc, err = f.finish()
check(rc == 0 and not os.path.exists(path), "socket left after exit")
