# SPDX-License-Identifier: MIT
"""At exit the socket file is removed, and the server thread, which may still
run for a moment (it checks its file every second and makes it again if
someone removed it), must not make it again: the process would end leaving
a socket behind. The window is widened on purpose: a shim preloaded before
poolalloc holds the exiting main thread, right after the library removed its
socket, until the file comes back or 2.5 s (two of the thread's checks) pass."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
int unlink(const char *path)
{
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    int rc = real(path);
    struct stat st;
    if (rc == 0 && strstr(path, ".sock") && gettid() == getpid())
        for (int i = 0; i < 250 && lstat(path, &st) != 0; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    return rc;
}
"""

d = tmpdir()
socks = os.path.join(d, "socks")
os.mkdir(socks, 0o700)
with open(os.path.join(d, "shim.c"), "w") as f:
    f.write(SHIM)
shim = os.path.join(d, "shim.so")
cc = subprocess.run([os.environ.get("CC", "gcc"), "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(d, "shim.c"), "-ldl"],
                    capture_output=True, text=True)
check(cc.returncode == 0, "the unlink shim does not build: %s" % cc.stderr[-300:])

h = Proc([HOLDER], env={"POOLALLOC_SOCKET": socks + "/%p.sock"}, preload=shim + ":" + LIB)
path = sock_in(socks, h.pid)
ask_retry(path, "help")
rc, err = h.finish(timeout=20)
check(rc == 0, "holder exit %d: %s" % (rc, err))
check(os.listdir(socks) == [], "the process ended leaving %r" % os.listdir(socks))
