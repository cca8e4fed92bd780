# SPDX-License-Identifier: MIT
"""Helpers shared by the sampling tests: start a preloaded program driven by
lines on stdin, ask its socket, run poolstat. Each test is
`python3 tests/sample/NAME.py LIB BUILDDIR`; a failure prints `reason: ...`
and exits 1 (run.sh shows the reason)."""
import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
import strangers  # noqa: E402  (tests/support/strangers.py)

LIB = os.path.abspath(sys.argv[1])
BUILD = os.path.abspath(sys.argv[2])
BIN = os.path.join(BUILD, "tests", "sample")
POOLSTAT = os.path.join(BUILD, "poolstat")
SITES = os.path.join(BIN, "sites")
STRESS = os.path.join(BIN, "stress")
SCOPE = os.path.join(BIN, "scope")
SPY = os.path.join(BIN, "malloc_spy.so")
EARLY = os.path.join(BIN, "early")
EARLY_LIB = os.path.join(BIN, "libearly.so")


def fail(msg):
    print("reason: " + msg)
    sys.stdout.flush()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def tmpdir():
    """A fresh folder of ours, mode 0700 (removed at exit)."""
    d = tempfile.mkdtemp(prefix="pa-sample-")
    os.chmod(d, 0o700)
    atexit.register(shutil.rmtree, d, True)
    return d


def clean_env(**extra):
    """The environment without any POOLALLOC_ variable or preload, then extra.
    POOLALLOC_START_MS=0 unless extra sets it: these programs are short, and
    sampling starts with the process (the default start waits 100 ms; a test
    that wants it sets POOLALLOC_START_MS itself)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POOLALLOC_") and k != "LD_PRELOAD"}
    env["POOLALLOC_START_MS"] = "0"
    env.update({k: str(v) for k, v in extra.items()})
    return env


NOBODY = 65534


def as_user(uid, argv):
    """argv run as uid (and gid uid), with no supplementary group."""
    return strangers.run_as(uid) + argv


def require_root(why):
    """Ends the test as a skip unless it runs as root."""
    strangers.need_root(why)


def user_dir(uid, name=None):
    """A fresh folder owned by uid, mode 0700, in a folder of ours that uid may
    only cross (both removed at exit); name picks its last component."""
    outer = tempfile.mkdtemp(prefix="pa-sample-")
    os.chmod(outer, 0o711)
    atexit.register(shutil.rmtree, outer, True)
    d = os.path.join(outer, name or "u")
    os.mkdir(d, 0o700)
    os.chown(d, uid, uid)
    return d


class Proc:
    """A preloaded program that prints `ready PID` first and then answers
    one line per command (sites.c), or runs on its own (stress.c). With
    user, it runs as that uid (LD_PRELOAD set past setpriv, XDG_RUNTIME_DIR
    dropped: its socket is in the default place for its uid)."""

    def __init__(self, argv, env=None, preload=None, ready_timeout=10, user=None):
        e = clean_env(**(env or {}))
        if user is not None:
            e.pop("XDG_RUNTIME_DIR", None)
            argv = as_user(user, ["env", "LD_PRELOAD=" + (preload or LIB)] + argv)
        else:
            e["LD_PRELOAD"] = preload or LIB
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)
        self.pid = self.p.pid
        first = self.line(ready_timeout)
        check(first is not None and first.startswith("ready"),
              "%s did not start: %r; stderr: %s" % (argv[0], first, self.err_now()))
        atexit.register(self.kill)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def line(self, timeout=10):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return None
        s = self.p.stdout.readline().decode()
        return s.rstrip("\n") if s else None

    def cmd(self, text, timeout=30):
        self.p.stdin.write((text + "\n").encode())
        self.p.stdin.flush()
        return self.line(timeout)

    def err_now(self):
        if self.p.poll() is None:
            return "(running)"
        return self.p.stderr.read().decode(errors="replace")

    def finish(self, timeout=20):
        """Closes stdin; returns (exit status, stderr)."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("process %d did not exit within %d s after its input closed" % (self.pid, timeout))
        return rc, self.p.stderr.read().decode(errors="replace")


def ask(path, request, timeout=10.0):
    """One request on the socket at path: the whole reply as text."""
    end = time.monotonic() + 3
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError as e:
            s.close()
            if time.monotonic() > end:
                fail("no socket at %s: %s" % (path, e))
            time.sleep(0.05)
    s.settimeout(timeout)
    s.sendall(request.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        out += d
    s.close()
    return out.decode(errors="replace")


def poolstat(*args, timeout=60):
    return subprocess.run([POOLSTAT] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


def poolstat_bytes(*args, timeout=60, user=None, env=None):
    """poolstat's output as bytes, as a terminal would get them (run as uid
    user if given, with env added to a clean environment); None if it had not
    finished after timeout seconds (it is killed)."""
    argv = [POOLSTAT] + [str(a) for a in args]
    try:
        return subprocess.run(argv if user is None else as_user(user, argv), capture_output=True,
                              timeout=timeout, env=clean_env(**(env or {})))
    except subprocess.TimeoutExpired:
        return None


control_bytes = strangers.control_bytes


def sites_json(target):
    p = poolstat("--json", "sites", target)
    check(p.returncode == 0, "poolstat --json sites failed: %s" % p.stderr.strip())
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        fail("poolstat --json sites is not JSON (%s): %r" % (e, p.stdout[:300]))


def site_by_function(j, name):
    """The listed site whose innermost frame is the function `name`, or None."""
    for s in j["site_list"]:
        if s["frames"] and s["frames"][0]["function"] == name:
            return s
    return None


def hostile_sites(d, user=None, patch=None):
    """The sites program copied into folder d (a user's: see user_dir) with
    every occurrence of each key of patch replaced by its value (same length),
    started as uid user (None: as us) with one sample every 4 KiB, holding
    4 MiB from its three sites. Returns (Proc, path of the copy)."""
    prog = os.path.join(d, "sites")
    with open(SITES, "rb") as f:
        data = f.read()
    for old, new in (patch or {}).items():
        check(len(old) == len(new) and old in data, "cannot patch %r into the sites program" % old)
        data = data.replace(old, new)
    with open(prog, "wb") as f:
        f.write(data)
    os.chmod(prog, 0o755)
    if user is not None:
        os.chown(prog, user, user)
    h = Proc([prog], env={"POOLALLOC_SAMPLE": 4096, "POOLALLOC_FLUSH_MS": 0}, user=user)
    check(h.cmd("alloc 4") == "ok", "the sites program did not allocate: " + h.err_now())
    return h, prog


def mapped_paths(pid):
    """The paths /proc/PID/maps names, as bytes."""
    with open("/proc/%d/maps" % pid, "rb") as f:
        return {l.split(None, 5)[5].rstrip(b"\n") for l in f if len(l.split(None, 5)) == 6}
