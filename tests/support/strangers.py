# SPDX-License-Identifier: MIT
"""Other users, for the tests in which root's poolstat meets a stranger's
process (tests/socket, tests/sample): making a test user, running a command
as a uid, and reading what would reach a terminal. Used by
tests/lib/common.py; stdlib only."""
import os
import pwd
import subprocess
import sys


def need_root(why="it plays a second user"):
    """Ends the test as a skip (exit 0, "skip: ...") unless it runs as root:
    only root can make a user or run a program as one."""
    if os.geteuid() != 0:
        print("skip: needs root (%s)" % why)
        sys.exit(0)


def user(name):
    """(uid, gid) of the system user `name` made for these tests, created if
    missing (another test may be creating it at the same moment: fine).
    Raises RuntimeError if useradd fails."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", name], capture_output=True, text=True)
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeError("useradd %s: %s" % (name, r.stderr.strip()))
    return pw.pw_uid, pw.pw_gid


def run_as(uid, gid=None):
    """The command prefix that runs a program as uid (and gid, uid's number
    if not given) with no supplementary group."""
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % (uid if gid is None else gid),
            "--clear-groups"]


def control_bytes(data):
    """The bytes of data a terminal would act on: controls but the newline,
    DEL, and bytes >= 0x80 (C1 controls on 8-bit terminals), sorted."""
    return sorted({b for b in data if (b < 32 and b != 10) or b >= 127})
