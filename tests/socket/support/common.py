"""Helpers shared by the socket tests: start a preloaded program, ask its
socket, run poolstat. Each test is `python3 tests/socket/NAME.py LIB BUILDDIR`;
a failure prints `reason: ...` and exits 1 (run.sh shows the reason)."""
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
BIN = os.path.join(BUILD, "tests", "socket")
POOLSTAT = os.path.join(BUILD, "poolstat")
HOLDER = os.path.join(BIN, "holder")
DAEMON = os.path.join(BIN, "daemon")
NOSHARE = os.path.join(BIN, "noshare")
SPY = os.path.join(BIN, "malloc_spy.so")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def fail(msg):
    print("reason: " + msg)
    sys.stdout.flush()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def tmpdir():
    """A fresh folder of ours, mode 0700 (removed at exit)."""
    d = tempfile.mkdtemp(prefix="pa-sock-")
    os.chmod(d, 0o700)
    import atexit
    atexit.register(shutil.rmtree, d, True)
    return d


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POOLALLOC_") and k != "LD_PRELOAD"}
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
    return env


class Proc:
    """A preloaded program driven by lines on stdin (holder.c, daemon.c)."""

    def __init__(self, argv, env=None, preload=None, wrap=None):
        e = clean_env(**(env or {}))
        e["LD_PRELOAD"] = preload or LIB
        self.p = subprocess.Popen((wrap or []) + argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        self.pid = self.p.pid
        first = self.line(10)
        check(first is not None and first.startswith("ready"),
              "%s did not start: %r; stderr: %s" % (argv[0], first, self.err_now()))

    def line(self, timeout=5):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return None
        s = self.p.stdout.readline().decode()
        return s.rstrip("\n") if s else None

    def cmd(self, text, timeout=10):
        self.p.stdin.write((text + "\n").encode())
        self.p.stdin.flush()
        return self.line(timeout)

    def alive(self):
        return self.p.poll() is None

    def err_now(self):
        if self.p.poll() is None:
            return "(running)"
        return self.p.stderr.read().decode(errors="replace")

    def finish(self, timeout=10):
        """Closes stdin; returns (exit status, stderr)."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("process %d did not exit after its input closed" % self.pid)
        return rc, self.p.stderr.read().decode(errors="replace")


def ask(path, request, timeout=5.0):
    """One request on the socket at path: (reply text, seconds taken)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)   # blocking: a full backlog makes it wait, not fail
    s.settimeout(timeout)
    s.sendall(request.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode(), time.monotonic() - t0


def ask_retry(path, request, within=3.0):
    """ask(), retried until it works or `within` seconds pass."""
    end = time.monotonic() + within
    while True:
        try:
            return ask(path, request)
        except OSError as e:
            if time.monotonic() > end:
                fail("no answer on %s within %.1f s: %s" % (path, within, e))
            time.sleep(0.05)


def wait_for(pred, within=3.0, what="condition"):
    end = time.monotonic() + within
    while not pred():
        if time.monotonic() > end:
            fail("timed out after %.1f s waiting for %s" % (within, what))
        time.sleep(0.02)


def kv(reply):
    """The `key value` lines of a reply as a dict (first word -> rest)."""
    out = {}
    for line in reply.splitlines()[1:]:
        k, _, v = line.partition(" ")
        out.setdefault(k, v)
    return out


def table(reply, key):
    """Rows of a `KEY.columns` table as dicts of ints."""
    cols, rows = None, []
    for line in reply.splitlines():
        w = line.split(" ")
        if w[0] == key + ".columns":
            cols = w[1:]
        elif w[0] == key and cols:
            rows.append(dict(zip(cols, map(int, w[1:]))))
    return rows


def poolstat(*args, user=None, timeout=20, env=None):
    cmd = (NOBODY if user == "nobody" else []) + [POOLSTAT] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=clean_env(**(env or {})))


def sock_in(d, pid):
    return os.path.join(d, "%d.sock" % pid)


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid
