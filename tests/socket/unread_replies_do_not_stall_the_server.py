# SPDX-License-Identifier: MIT
"""Clients that ask for a large reply (`heap` of a program with thousands of
sampled call sites, megabytes) and never read it delay nobody: with 16 of
them holding every slot of the server, an honest `stats` is answered within
1 s; each large reply is still sent whole to a client that reads it later,
and the memory the replies took is given back once their clients are gone."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

CLIENTS = 16   # SERVER_SLOTS: every slot holds a reply nobody reads

# 2^DEPTH distinct stacks: each allocation's path through a() and b() spells
# its index in binary (-O0: no inlining, no tail calls), so with every
# allocation sampled the `heap` reply lists 2^DEPTH sites.
DEPTH = 12
SOURCE = r"""
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void *keep[1 << %d];
static int nkeep;
void a(int d, unsigned bits);
void b(int d, unsigned bits);
__attribute__((noinline)) void leaf(void) { keep[nkeep++] = malloc(64); }
__attribute__((noinline)) void a(int d, unsigned bits)
{ if (!d) leaf(); else if (bits & 1) a(d - 1, bits >> 1); else b(d - 1, bits >> 1); }
__attribute__((noinline)) void b(int d, unsigned bits)
{ if (!d) leaf(); else if (bits & 1) a(d - 1, bits >> 1); else b(d - 1, bits >> 1); }
int main(void)
{
    char line[64], c;
    for (unsigned i = 0; i < (1u << %d); i++)
        a(%d, i);
    int n = 0, v = getpid(), k = 0;
    char d[16];
    do d[k++] = (char)('0' + v %% 10); while ((v /= 10));
    memcpy(line, "ready ", 6);
    n = 6;
    while (k) line[n++] = d[--k];
    line[n++] = '\n';
    if (write(1, line, (size_t)n) != n) return 3;
    while (read(0, &c, 1) > 0)
        ;
    for (int i = 0; i < nkeep; i++) free(keep[i]);
    return 0;
}
""" % (DEPTH, DEPTH, DEPTH)

d = tmpdir()
src = os.path.join(d, "sites.c")
exe = os.path.join(d, "sites")
with open(src, "w") as f:
    f.write(SOURCE)
cc = subprocess.run([os.environ.get("CC", "gcc"), "-O0", "-o", exe, src], capture_output=True, text=True)
check(cc.returncode == 0, "the sites program does not build: %s" % cc.stderr[-300:])

h = Proc([exe], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_SAMPLE": "1"})
path = sock_in(d, h.pid)
ask_retry(path, "help")

# The reply must be far larger than what the socket buffers hold, or the
# test proves nothing.
full, _ = ask(path, "heap", timeout=30)
check(full.startswith("poolalloc 1 ok heap") and full.endswith("end\n"), "heap reply %r" % full[:80])
sites = sum(1 for line in full.splitlines() if line.startswith("heap ") and " @ 0x" in line)
check(sites >= (1 << DEPTH), "only %d sampled sites in the heap reply" % sites)
check(len(full) > 1 << 20, "the heap reply is only %d bytes" % len(full))
print("heap reply: %d bytes, %d sites" % (len(full), sites))


def vm_size():
    with open("/proc/%d/status" % h.pid) as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    return 0


base = vm_size()

# Every slot holds a client that asked for `heap` and reads nothing.
silent = []
for _ in range(CLIENTS):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"heap\n")
    silent.append(s)

try:
    out, t = ask(path, "stats", timeout=30)
except OSError as e:
    fail("honest stats with %d unread heap replies: %s" % (CLIENTS, e))
print("honest stats took %.2f s" % t)
check(out.startswith("poolalloc 1 ok stats") and out.endswith("end\n"), "honest reply %r" % out[:80])
check(t < 1.0, "an honest stats took %.2f s behind %d clients that do not read" % (t, CLIENTS))
check(h.alive(), "the program died")

# Replies are written as their clients read them: read them now. The honest
# client took the oldest one's slot; every other one gets its whole reply.
whole = 0
for s in silent:
    s.settimeout(30)
    got = []
    try:
        while True:
            x = s.recv(1 << 20)
            if not x:
                break
            got.append(x)
    except OSError as e:
        fail("reading a delayed heap reply: %s" % e)
    s.close()
    reply = b"".join(got).decode(errors="replace")
    check(reply.startswith("poolalloc 1 "), "a delayed heap reply starts %r" % reply[:80])
    if reply.endswith("end\n"):
        whole += 1
        # Same sites as the first reply (the maps may differ by our own buffers).
        n = sum(1 for line in reply.splitlines() if line.startswith("heap ") and " @ 0x" in line)
        check(n == sites, "a delayed reply lists %d sites, the first %d" % (n, sites))
check(whole >= CLIENTS - 1, "only %d of %d delayed heap replies arrived whole" % (whole, CLIENTS))

# Each reply's memory is given back when its connection ends.
wait_for(lambda: vm_size() <= base, within=10, what="VmSize back to %d kB (the replies unmapped)" % base)
check(ask(path, "stats")[0].startswith("poolalloc 1 ok stats"), "no answer after the readers")
rc, err = h.finish()
check(rc == 0, "exit %d: %s" % (rc, err))
check(err == "", "stderr: %r" % err)
