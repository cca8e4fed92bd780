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

LIB = os.path.abspath(sys.argv[1])
BUILD = os.path.abspath(sys.argv[2])
BIN = os.path.join(BUILD, "tests", "sample")
POOLSTAT = os.path.join(BUILD, "poolstat")
SITES = os.path.join(BIN, "sites")
STRESS = os.path.join(BIN, "stress")
SCOPE = os.path.join(BIN, "scope")
SPY = os.path.join(BIN, "malloc_spy.so")


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
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POOLALLOC_") and k != "LD_PRELOAD"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    """A preloaded program that prints `ready PID` first and then answers
    one line per command (sites.c), or runs on its own (stress.c)."""

    def __init__(self, argv, env=None, preload=None, ready_timeout=10):
        e = clean_env(**(env or {}))
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
