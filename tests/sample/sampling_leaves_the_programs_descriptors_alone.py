# SPDX-License-Identifier: MIT
"""libunwind checks that an address is readable by writing a byte from it into
a pipe that it opens at its first unwind and keeps (libunwind 1.6). Opened
where it lands, that pipe takes the program's two lowest free descriptors: the
program sees two files it never opened, and a program that closes what it did
not open (os.closerange, as ssh and daemons do) and then opens its own pipe
gets those very numbers, from which libunwind then reads a byte and into
which it writes one, while sampling walks the stacks of new threads. Here:
sampling on at once, every 1 KiB; the program (1) lists its low descriptors,
(2) closes all but 0-2, puts 2048 known bytes in a pipe of its own, starts
threads that allocate, and reads the bytes back: all must be there, unchanged.
Before the pipe was moved (just under 1024), (1) saw 2 descriptors and (2)
read back changed bytes, in each of 4 runs; the program's highest descriptor
must stay below 1024, so that its descriptor table, copied at every fork,
keeps its usual size."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

PROG = r'''
import os, threading
junk = [bytes(64 + i % 200) for i in range(300000)]        # samples: libunwind has run
fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
print("low", ",".join(str(fd) for fd in fds if fd < 64))
print("highest", fds[-1])
os.closerange(3, 1 << 20)
r, w = os.pipe()
msg = bytes(range(256)) * 8
os.write(w, msg)
def deep(n):
    if n == 0:
        return [bytearray(100 + i % 300) for i in range(50000)]
    return deep(n - 1)
for i in range(4):
    ts = [threading.Thread(target=deep, args=(20,)) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
os.set_blocking(r, False)
got = b""
try:
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        got += chunk
except BlockingIOError:
    pass
print("pipe", "intact" if got == msg else "changed", len(got))
'''

env = clean_env(POOLALLOC_SAMPLE="1k", POOLALLOC_START_MS=0, POOLALLOC_SOCKET="off",
                PYTHONMALLOC="malloc", LD_PRELOAD=LIB)
for run in range(1):
    # close_fds (the default): the program starts with 0, 1 and 2 alone.
    p = subprocess.run([sys.executable, "-c", PROG], capture_output=True, text=True, env=env,
                       timeout=120)
    check(p.returncode == 0, "run %d: exit %d: %s" % (run, p.returncode, p.stderr[-2000:]))
    out = dict(l.split(" ", 1) for l in p.stdout.splitlines() if " " in l)
    # The listing's own descriptor is the lowest free: 3.
    check(out.get("low") == "0,1,2,3",
          "run %d: the program sees descriptors it did not open: %r (want 0,1,2 and the listing's 3)"
          % (run, out.get("low")))
    # Moved, but not so high that the descriptor table grows: the kernel
    # copies it at every fork (a shell forking for each command paid for a
    # pipe at 19,984 under a limit of 20,000).
    check(int(out.get("highest", "0")) < 1024,
          "run %d: highest descriptor %s: the table grew past its usual 1024 entries"
          % (run, out.get("highest")))
    check(out.get("pipe") == "intact 2048",
          "run %d: the program's own pipe came back %r: something read from or wrote into it"
          % (run, out.get("pipe")))
