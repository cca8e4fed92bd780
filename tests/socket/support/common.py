# SPDX-License-Identifier: MIT
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
import strangers  # noqa: E402  (tests/support/strangers.py)

LIB = os.path.abspath(sys.argv[1])
BUILD = os.path.abspath(sys.argv[2])
BIN = os.path.join(BUILD, "tests", "socket")
POOLSTAT = os.path.join(BUILD, "poolstat")
HOLDER = os.path.join(BIN, "holder")
DAEMON = os.path.join(BIN, "daemon")
NOSHARE = os.path.join(BIN, "noshare")
SPY = os.path.join(BIN, "malloc_spy.so")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NOBODY = strangers.run_as(65534)


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
    """The caller's environment without POOLALLOC_* and LD_PRELOAD, plus extra (None
    removes). POOLALLOC_START_MS=0 unless extra sets it: these tests ask the server of
    programs (holder, daemon) that allocate nothing while they wait for a command, so
    under the default start they would never make a socket (docs/poolstat.md); the
    start itself is tested in tests/preload/start_waits_until_a_process_lives.sh."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POOLALLOC_") and k != "LD_PRELOAD"}
    env["POOLALLOC_START_MS"] = "0"
    # The figures these tests check are exact (1000 objects held: in_use 1000); a
    # request that sampling picks is served by the C library by design. Sampling is
    # tested in tests/sample; a test here that wants it sets POOLALLOC_SAMPLE.
    env["POOLALLOC_SAMPLE"] = "0"
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
    """One request on the socket at path ('@name': the abstract socket name):
    (reply text, seconds taken)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # blocking: a full backlog makes it wait, not fail
    s.connect("\0" + path[1:] if path.startswith("@") else path)
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


def sock_name(pid, uid=None):
    """The default socket of process pid: the abstract name @poolalloc-<uid>-<pid>."""
    return "@poolalloc-%d-%d" % (os.geteuid() if uid is None else uid, pid)


def abstract_listening():
    """{'@name': inode} of the abstract unix socket names listening now
    (/proc/net/unix: flags 00010000 is a listening socket)."""
    names = {}
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            w = line.split()
            if len(w) >= 8 and w[7].startswith("@") and w[3] == "00010000":
                names[w[7]] = int(w[6])
    return names


def holds_socket(pid, inode):
    """Does any thread of process pid hold the socket with this inode (in its
    own descriptor table too: /proc/PID/task/TID/fd)?"""
    import glob
    want = "socket:[%d]" % inode
    for fd in glob.glob("/proc/%d/task/*/fd/*" % pid):
        try:
            if os.readlink(fd) == want:
                return True
        except OSError:
            pass
    return False


def served(pid):
    """The process's stats server thread runs (its socket is bound before it starts)."""
    import glob
    for f in glob.glob("/proc/%d/task/*/comm" % pid):
        try:
            if open(f).read().strip() == "poolalloc-stats":
                return True
        except OSError:
            pass
    return False


class Gated(Proc):
    """The holder, preloaded, whose pid is known before the library loads: a
    shell without the preload waits for a line, then execs the holder (same
    pid). A test can then hold its default name first (hold_name) and see
    where the library goes instead. go() lets it run and waits for `ready`."""

    def __init__(self, env=None, user=None):
        e = clean_env(**(env or {}))
        e.pop("LD_PRELOAD", None)
        script = 'read x && exec env LD_PRELOAD="$0" "$@"'
        self.p = subprocess.Popen((as_user(user) if user else []) +
                                  ["/bin/sh", "-c", script, LIB, HOLDER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        self.pid = self.p.pid   # setpriv, sh and env exec: one pid throughout

    def go(self):
        first = self.cmd("go", 10)
        check(first == "ready %d" % self.pid,
              "the gated holder did not start as %d: %r; stderr: %s" % (self.pid, first, self.err_now()))
        return self


def hold_name(pid, uid=None):
    """Binds and listens on process pid's default name, as another process
    that took it first would; returns the socket (close it to let go)."""
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0" + sock_name(pid, uid)[1:])
    s.listen(1)
    import atexit
    atexit.register(s.close)
    return s


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


# ---- other users and fake servers (poolstat run by root against strangers) ----

def need_root():
    """Tests that play a second user: only root can make one; others skip."""
    strangers.need_root("it creates the users pa-attacker and pa-victim")


def user(name):
    """(uid, gid) of a system user made for these tests, created if missing."""
    try:
        return strangers.user(name)
    except RuntimeError as e:
        fail(str(e))


def as_user(name):
    """The command prefix that runs a program as user `name`, as NOBODY does."""
    return strangers.run_as(*user(name))


def own_folder(path, uid, mode=0o700):
    """Makes path a folder of uid (removed at exit if this test made it)."""
    import atexit
    if not os.path.lexists(path):
        os.mkdir(path)
        atexit.register(shutil.rmtree, path, True)
    os.chown(path, uid, uid, follow_symlinks=False)
    os.chmod(path, mode)


def stale_socket(path, uid=0):
    """A socket file nobody listens on, owned by uid, as a SIGKILL leaves one."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    os.chown(path, uid, uid)


FAKE_SERVER = r'''
import ctypes, os, socket, sys, threading, time
where, mode, comm, reply = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
pid = os.getpid()
if comm:
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(comm), 0, 0, 0)   # PR_SET_NAME
where = where.replace("%u", str(os.geteuid())).replace("%p", str(pid))
reply = reply.replace(b"%p", str(pid).encode())
s = socket.socket(socket.AF_UNIX)
if where.startswith("@"):
    s.bind("\0" + where[1:])
else:
    os.makedirs(os.path.dirname(where), 0o700, exist_ok=True)
    s.bind(where)
s.listen(0 if mode == "noaccept" else 16)
print("ready %d %s" % (pid, where), flush=True)
if mode == "noaccept":
    time.sleep(600)
def serve(c):
    try:
        c.settimeout(3)
        try:
            got = c.recv(300)
        except OSError:
            got = b""
        print("request %s" % got.hex(), flush=True)
        if mode == "trickle":
            c.settimeout(None)
            for b in reply + b"x" * 100000:
                c.send(bytes([b]))
                time.sleep(1)
        else:
            c.sendall(reply)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


class Fake:
    """A python stand-in for a poolalloc process: it listens at `where`
    (a path or "@abstract"; %p = its own pid, %u = its euid), names itself
    comm, answers every connection with reply (%p = its pid) or trickles it
    one byte a second ("trickle"), or never accepts ("noaccept"); requests()
    says what it was sent."""

    def __init__(self, where, reply=b"", mode="answer", comm=b"", user=None, env=None):
        import atexit
        e = clean_env(**(env or {}))
        self.p = subprocess.Popen((as_user(user) if user else []) +
                                  ["/usr/bin/python3", "-c", FAKE_SERVER, where, mode,
                                   comm.hex(), reply.hex()],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)
        atexit.register(self.stop)
        r, _, _ = select.select([self.p.stdout], [], [], 10)
        first = self.p.stdout.readline().decode() if r else ""
        check(first.startswith("ready "), "fake server did not start: %r %s" %
              (first, self.p.stderr.read().decode() if self.p.poll() is not None else ""))
        _, pid, self.where = first.split(" ", 2)
        self.pid = int(pid)
        self.where = self.where.rstrip("\n")
        self.got = []

    def requests(self):
        """Requests received so far (bytes each)."""
        while select.select([self.p.stdout], [], [], 0.2)[0]:
            line = self.p.stdout.readline().decode()
            if not line:
                break
            got = bytes.fromhex(line[8:].strip()) if line.startswith("request ") else b""
            if got:   # a connection that sent nothing (a liveness probe) asked nothing
                self.got.append(got)
        return self.got

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def poolstat_bytes(*args, user=None, timeout=25, env=None):
    """poolstat's (rc, stdout, stderr) as bytes: what reaches a terminal."""
    cmd = (as_user(user) if user else []) + [POOLSTAT] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=clean_env(**(env or {})))
    return r.returncode, r.stdout, r.stderr


raw_bytes = strangers.control_bytes