# SPDX-License-Identifier: MIT
"""Root's `poolstat` (list) removes stale sockets only in root's own folders.
Another user's stale socket stays, whether it lies in that user's own
/tmp/poolalloc-<uid>, behind a symlink /tmp/poolalloc-evil... that the
attacker points at a victim's private folder, or behind a symlink squatting
/tmp/poolalloc-<victim uid>; the symlinks are not followed (one line on
stderr for the squatted name). Root's own stale socket is still removed."""
import atexit
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

need_root()
a_uid, _ = user("pa-attacker")
v_uid, _ = user("pa-victim")
dead = dead_pid()

# The victim's private folder with a socket of theirs (stale: its pid is gone).
vdir = tmpdir()
os.chown(vdir, v_uid, v_uid)
victim_sock = sock_in(vdir, dead)
stale_socket(victim_sock, v_uid)

# The attacker's links to it, one under a name root used to glob.
evil = "/tmp/poolalloc-evil%d" % os.getpid()
os.symlink(vdir, evil)
atexit.register(os.unlink, evil)
os.lchown(evil, a_uid, a_uid)
squat = "/tmp/poolalloc-%d" % v_uid
made_squat = not os.path.lexists(squat)
if made_squat:
    os.symlink(vdir, squat)
    os.lchown(squat, a_uid, a_uid)
    atexit.register(os.unlink, squat)

# The attacker's own folder and a stale socket in it.
adir = "/tmp/poolalloc-%d" % a_uid
own_folder(adir, a_uid)
attacker_sock = sock_in(adir, dead)
stale_socket(attacker_sock, a_uid)
atexit.register(lambda: os.path.lexists(attacker_sock) and os.unlink(attacker_sock))

# Root's own stale socket, in root's XDG folder.
x = tmpdir()
own_folder(x + "/poolalloc", 0)
root_sock = sock_in(x + "/poolalloc", dead)
stale_socket(root_sock, 0)

p = poolstat(env={"XDG_RUNTIME_DIR": x})
check(p.returncode == 0, "poolstat list: rc %d %r" % (p.returncode, p.stderr))
check(os.path.exists(victim_sock), "root's poolstat removed the victim's socket through a symlink: %r" % p.stdout)
check(os.path.exists(attacker_sock), "root's poolstat removed another user's socket: %r" % p.stdout)
check(not os.path.exists(root_sock), "root's own stale socket was not removed: %r %r" % (p.stdout, p.stderr))
check("stale" in p.stdout, "no word about the stale socket removed: %r" % p.stdout)
if made_squat:
    check(("ignoring %s: %s is a symbolic link" % (squat, squat)) in p.stderr,
          "no line about the squatted folder: %r" % p.stderr)
