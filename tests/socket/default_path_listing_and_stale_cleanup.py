"""Without POOLALLOC_SOCKET the socket is $XDG_RUNTIME_DIR/poolalloc/<pid>.sock,
else /tmp/poolalloc-<uid>/<pid>.sock, in a 0700 folder of ours, mode 0600,
removed at exit. `poolstat` alone lists the live process (pid, command, mode)
and removes the stale socket of a dead process; a live process's socket is
never removed."""
import os
import socket
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))
from common import *  # noqa: E402,F401,F403

x = tmpdir()
h = Proc([HOLDER], env={"XDG_RUNTIME_DIR": x})
folder = os.path.join(x, "poolalloc")
path = sock_in(folder, h.pid)
ask_retry(path, "stats")
st = os.lstat(folder)
check(stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700 and st.st_uid == os.geteuid(),
      "folder mode %o uid %d" % (st.st_mode & 0o777, st.st_uid))
check(os.lstat(path).st_mode & 0o777 == 0o600, "socket mode %o" % (os.lstat(path).st_mode & 0o777))

# A stale socket of a process that is gone, as a SIGKILL leaves it.
dead = dead_pid()
stale = sock_in(folder, dead)
s = socket.socket(socket.AF_UNIX)
s.bind(stale)
s.close()
p = poolstat(env={"XDG_RUNTIME_DIR": x})
check(p.returncode == 0, "poolstat list: %s" % p.stderr)
rows = [l.split() for l in p.stdout.splitlines()]
mine = [r for r in rows if r and r[0] == str(h.pid)]
check(mine and mine[0][1] == "holder" and mine[0][-1] in ("rseq", "locked"), "listing: %r" % p.stdout)
check(not os.path.exists(stale), "stale socket not removed")
check("removed" in p.stdout and "stale" in p.stdout, "no word about the stale socket: %r" % p.stdout)
check(os.path.exists(path), "the live process's socket was removed")
rc, err = h.finish()
check(rc == 0 and not os.path.exists(path), "socket left after exit (rc %d)" % rc)

# No XDG_RUNTIME_DIR: /tmp/poolalloc-<uid>.
h = Proc([HOLDER], env={"XDG_RUNTIME_DIR": None})
path = "/tmp/poolalloc-%d/%d.sock" % (os.geteuid(), h.pid)
ask_retry(path, "stats")
st = os.lstat(os.path.dirname(path))
check(st.st_uid == os.geteuid() and not st.st_mode & 0o022 and not stat.S_ISLNK(st.st_mode),
      "/tmp folder mode %o" % (st.st_mode & 0o777))
p = poolstat(h.pid, env={"XDG_RUNTIME_DIR": None})
check(p.returncode == 0 and ("pid %d (holder)" % h.pid) in p.stdout, "poolstat PID: %r %r" % (p.stdout[:200], p.stderr))
rc, err = h.finish()
check(rc == 0 and not os.path.exists(path), "socket left after exit")
