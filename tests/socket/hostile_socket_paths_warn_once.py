# SPDX-License-Identifier: MIT
"""A POOLALLOC_SOCKET that is not safe gets one warning line on stderr and no
socket, and the program runs normally: a symlink in place of the socket, a
folder that is a symlink, a folder owned by another user, a folder others can
write, a path too long for a socket address, a regular file in the way (left
untouched), a relative path, an unknown %-escape; and the program's own folder
when it cannot write there."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
from common import NOBODY_PREFIX as NOBODY  # noqa: E402  (the command prefix)

d = tmpdir()
os.mkdir(d + "/real", 0o700)
os.symlink(d + "/real", d + "/link")
os.symlink("/tmp/pa-should-not-exist", d + "/real/sym.sock")
os.mkdir(d + "/other", 0o700)
os.chown(d + "/other", 65534, 65534)
os.mkdir(d + "/ww")
os.chmod(d + "/ww", 0o777)
with open(d + "/real/file.sock", "w") as f:
    f.write("keep me\n")

cases = [
    ("symlink socket", d + "/real/sym.sock", "is a symbolic link"),
    ("symlink folder", d + "/link/%p.sock", "is a symbolic link"),
    ("other's folder", d + "/other/%p.sock", "belongs to uid 65534"),
    ("writable folder", d + "/ww/%p.sock", "can be written by other users"),
    ("too long", d + "/real/" + "x" * 120 + "%p.sock", "longer than a unix socket address"),
    ("regular file", d + "/real/file.sock", "exists and is not a socket"),
    ("relative", "rel/%p.sock", "absolute path"),
    ("bad escape", d + "/real/%x.sock", "%p"),
]
for label, tmpl, words in cases:
    h = Proc([HOLDER], env={"POOLALLOC_SOCKET": tmpl})
    check(h.cmd("alloc 100 64") == "ok", "%s: program does not run" % label)
    rc, err = h.finish()
    lines = err.splitlines()
    check(rc == 0, "%s: exit %d" % (label, rc))
    check(len(lines) == 1 and lines[0].startswith("poolalloc: no stats socket: ") and words in lines[0],
          "%s: stderr %r" % (label, err))
    check(not os.path.exists(tmpl.replace("%p", str(h.pid))) or label in ("symlink socket", "regular file"),
          "%s: a socket was made" % label)
check(not os.path.exists("/tmp/pa-should-not-exist"), "the symlink's target was created")
check(os.path.islink(d + "/real/sym.sock"), "the symlink was removed")
check(open(d + "/real/file.sock").read() == "keep me\n", "the regular file was changed")
check(os.listdir(d + "/other") == [] and os.listdir(d + "/ww") == [], "files made in refused folders")

# poolstat on such a process: the lib is loaded, the socket cannot be found.
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/ww/%p.sock"})
p = poolstat(h.pid)
check(p.returncode == 1 and p.stderr.strip() ==
      "poolstat: no process %d with a poolalloc socket (is POOLALLOC_SOCKET=off?)" % h.pid,
      "poolstat said %r" % p.stderr)
h.finish()

# A folder that is the program's own but not writable (mode 0500, the program
# running as nobody, who owns it: root would write through the mode bits):
# one warning, no socket, the program runs and its allocations work.
os.chmod(d, 0o711)   # nobody may pass through the test folder to its own
os.mkdir(d + "/ro", 0o500)
os.chown(d + "/ro", 65534, 65534)
# (setpriv itself runs without the library: see docs/limits.md.)
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/ro/%p.sock"}, preload=" ",
         wrap=NOBODY + ["env", "LD_PRELOAD=" + LIB])
check(h.cmd("alloc 100 64") == "ok", "read-only folder: program does not run")
rc, err = h.finish()
lines = err.splitlines()
check(rc == 0, "read-only folder: exit %d" % rc)
check(len(lines) == 1 and lines[0].startswith("poolalloc: no stats socket: ") and
      "cannot listen on " in lines[0] and "permission denied" in lines[0],
      "read-only folder: stderr %r" % err)
check(os.listdir(d + "/ro") == [], "read-only folder: something was made in it")
