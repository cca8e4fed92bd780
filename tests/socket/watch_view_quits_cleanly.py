# SPDX-License-Identifier: MIT
"""poolstat -w: on a terminal (a pty) it draws the slabtop-like view, takes a
sort key, quits on `q` and on Ctrl-C within a second with the terminal modes
restored; without a terminal, -n COUNT prints COUNT frames and exits 0; when
the watched process exits, it says so and exits 1."""
import os
import pty
import select
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock"})
check(h.cmd("alloc 1000 64") == "ok", "holder")
ask_retry(sock_in(d, h.pid), "help")

# Without a terminal.
p = poolstat("-w", "-n", "3", "-d", "0.1", h.pid)
check(p.returncode == 0, "-w -n 3: %r" % p.stderr)
check(p.stdout.count("CLASS    SIZE") == 3 and "ALLOC/s" in p.stdout and "CACHE%" in p.stdout, "frames: %r" % p.stdout[:300])
check("from cache" in p.stdout and "sorted by bytes in use" in p.stdout, "header: %r" % p.stdout[:300])


def read_until(fd, words, within):
    buf, end = b"", time.monotonic() + within
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                x = os.read(fd, 65536)
            except OSError:
                break
            if not x:
                break
            buf += x
            if all(w in buf for w in words):
                return buf
    return buf


for key, how in ((b"q", "q"), (b"\x03", "Ctrl-C")):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([POOLSTAT, "-w", "-d", "0.2", str(h.pid)], stdin=slave, stdout=slave,
                         stderr=slave, env=clean_env(), start_new_session=True,
                         preexec_fn=lambda: __import__("fcntl").ioctl(0, termios.TIOCSCTTY, 0))
    out = read_until(master, [b"CLASS", b"keys:"], 5)
    check(b"CLASS" in out, "%s: no frame drawn: %r" % (how, out[-300:]))
    os.write(master, b"a")   # sort by allocations/s
    out = read_until(master, [b"sorted by allocations/s"], 3)
    check(b"sorted by allocations/s" in out, "%s: sort key ignored" % how)
    t0 = time.monotonic()
    os.write(master, key)
    try:
        rc = p.wait(2)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("%s did not quit poolstat -w" % how)
    took = time.monotonic() - t0
    read_until(master, [], 0.2)
    after = termios.tcgetattr(slave)
    check(rc == 0, "%s: exit status %d" % (how, rc))
    check(took < 1.0, "%s: took %.2f s to quit" % (how, took))
    check(before[3] == after[3], "%s: terminal lflag not restored (%o -> %o)" % (how, before[3], after[3]))
    os.close(master)
    os.close(slave)

# The watched process goes away.
w = subprocess.Popen([POOLSTAT, "-w", "-d", "0.1", str(h.pid)], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, env=clean_env())
time.sleep(0.4)
h.finish()
try:
    out, err = w.communicate(timeout=5)
except subprocess.TimeoutExpired:
    w.kill()
    fail("poolstat -w did not notice the process exit")
check(w.returncode == 1 and err.startswith("poolstat: "), "after exit: rc %d %r" % (w.returncode, err))
