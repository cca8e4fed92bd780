# SPDX-License-Identifier: MIT
"""A process run by another user (nobody) maps its program from a folder it
owns, then unlinks it and makes, where its maps now point ("PATH
(deleted)"), a symlink to a file only root may read. Root's `poolstat sites
PID` and `poolstat --json sites PID` must never open that file (an inotify
watch on it sees every open, by any process, by any path) and still list the
sites' frames."""
import ctypes
import errno
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

IN_OPEN = 0x20
IN_NONBLOCK = os.O_NONBLOCK

require_root("running a process as nobody")
secret = os.path.join(tmpdir(), "secret")
with open(secret, "w") as f:
    f.write("root's alone\n")
os.chmod(secret, 0o600)

d = user_dir(NOBODY)
h, prog = hostile_sites(d, user=NOBODY)
bait = prog + " (deleted)"
r = subprocess.run(as_user(NOBODY, ["sh", "-c", 'rm -- "$1" && ln -s -- "$2" "$1 (deleted)"',
                                    "sh", prog, secret]), capture_output=True, text=True)
check(r.returncode == 0, "nobody could not swap its program for a symlink: " + r.stderr)
check(bait.encode() in mapped_paths(h.pid),
      "maps does not name %r: %r" % (bait, sorted(mapped_paths(h.pid))))

libc = ctypes.CDLL(None, use_errno=True)
ino = libc.inotify_init1(IN_NONBLOCK)
check(ino >= 0, "inotify_init1: %s" % os.strerror(ctypes.get_errno()))
check(libc.inotify_add_watch(ino, secret.encode(), IN_OPEN) >= 0,
      "inotify_add_watch: %s" % os.strerror(ctypes.get_errno()))


def opens():
    """How many opens of the secret the watch saw since it was last asked."""
    n = 0
    while True:
        try:
            buf = os.read(ino, 4096)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return n
            raise
        at = 0
        while at < len(buf):
            _, mask, _, namelen = struct.unpack_from("iIII", buf, at)
            n += bool(mask & IN_OPEN)
            at += 16 + namelen


for args in (("sites", h.pid), ("--json", "sites", h.pid)):
    p = poolstat_bytes(*args, timeout=35)
    check(p is not None, "poolstat %s did not finish within 35 s" % " ".join(map(str, args)))
    check(p.returncode == 0, "poolstat %s failed: %s" % (" ".join(map(str, args)),
                                                       p.stderr.decode(errors="replace")))
    check(b"site_alpha" in p.stdout or b"0x" in p.stdout,
          "poolstat %s lists no frame:\n%s" % (" ".join(map(str, args)), p.stdout[:1500]))
    # Opens are queued on the watch as they happen: all of poolstat's are there now.
    n = opens()
    check(n == 0, "poolstat %s opened %s, a root-only file the target's maps linked to "
          "(%d opens)" % (" ".join(map(str, args)), secret, n))

# The watch sees opens: this one.
with open(secret):
    pass
check(opens() >= 1, "the inotify watch on %s saw no open at all: the test proves nothing" % secret)

rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
