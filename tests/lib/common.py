# SPDX-License-Identifier: MIT
"""Helpers shared by the live-stats tiers (tests/socket, tests/sample): start a
preloaded program driven by lines on stdin, ask its socket, run poolstat, play
another user or a fake server. Each test is `python3 tests/TIER/NAME.py LIB
BUILDDIR`; a failure prints `reason: ...` and exits 1 (tests/lib/runner.sh shows
the reason), a test that cannot run here prints `skip: ...` and exits 0.

The tier is the folder the test lives in. It decides where the tier's helper
programs are (BUILDDIR/tests/TIER: HOLDER, DAEMON, NOSHARE of the socket tier;
SITES, STRESS, SCOPE, EARLY, EARLY_LIB of the sample tier; SPY in both) and the
settings in TIERS below; everything else is the same in both tiers."""
import atexit
import collections
import glob
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import strangers  # noqa: E402  (tests/support/strangers.py)

# What differs between the tiers, and why:
#   env      added to every clean_env(). The socket tier checks exact figures (1000
#            objects held: in_use 1000) and a request that sampling picks is served by
#            the C library by design, so sampling is off there unless a test sets
#            POOLALLOC_SAMPLE; sampling is what the sample tier tests.
#   poolstat the default timeout of poolstat(), in seconds: `sites` names frames with
#            addr2line, which takes longer than the socket tier's exchanges.
TIERS = {
    "socket": {"env": {"POOLALLOC_SAMPLE": "0"}, "poolstat": 20},
    "sample": {"env": {}, "poolstat": 60},
}
TIER = os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0])))
if TIER not in TIERS:
    sys.exit("common.py: %s is in no tier folder (%s)" % (sys.argv[0], " ".join(TIERS)))
if len(sys.argv) < 3:
    sys.exit("usage: python3 %s LIB BUILDDIR" % sys.argv[0])

LIB = os.path.abspath(sys.argv[1])
BUILD = os.path.abspath(sys.argv[2])
BIN = os.path.join(BUILD, "tests", TIER)
POOLSTAT = os.path.join(BUILD, "poolstat")
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SPY = os.path.join(BIN, "malloc_spy.so")
HOLDER = os.path.join(BIN, "holder")
DAEMON = os.path.join(BIN, "daemon")
NOSHARE = os.path.join(BIN, "noshare")
SITES = os.path.join(BIN, "sites")
STRESS = os.path.join(BIN, "stress")
SCOPE = os.path.join(BIN, "scope")
EARLY = os.path.join(BIN, "early")
EARLY_LIB = os.path.join(BIN, "libearly.so")

NOBODY = 65534
# The command prefix that runs a program as nobody (as_user(NOBODY)).
NOBODY_PREFIX = strangers.run_as(NOBODY)


def fail(msg):
    print("reason: " + msg)
    sys.stdout.flush()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def tmpdir():
    """A fresh folder of ours, mode 0700 (removed at exit)."""
    d = tempfile.mkdtemp(prefix="pa-%s-" % TIER)
    os.chmod(d, 0o700)
    atexit.register(shutil.rmtree, d, True)
    return d


def clean_env(**extra):
    """The caller's environment without POOLALLOC_* and LD_PRELOAD, then the tier's
    settings (TIERS), then extra (a value of None removes the variable).
    POOLALLOC_START_MS=0 unless extra sets it: these tests ask the server of programs
    that allocate nothing while they wait for a command, and short ones whose sampling
    starts with the process, so under the default start they would make no socket
    (docs/poolstat.md); the start itself is tested in
    tests/preload/start_waits_until_a_process_lives.sh."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("POOLALLOC_") and k != "LD_PRELOAD"}
    env["POOLALLOC_START_MS"] = "0"
    env.update(TIERS[TIER]["env"])
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


# ---- other users ----

def need_root(why="it creates the users pa-attacker and pa-victim"):
    """Tests that play a second user: only root can make one; others skip."""
    strangers.need_root(why)


require_root = need_root


def user(name):
    """(uid, gid) of a system user made for these tests, created if missing."""
    try:
        return strangers.user(name)
    except RuntimeError as e:
        fail(str(e))


def as_user(who, argv=()):
    """argv run as who, with no supplementary group: who is a uid (gid the same
    number) or the name of a user (made by user() if missing). Without argv: the
    command prefix alone."""
    prefix = strangers.run_as(who) if isinstance(who, int) else strangers.run_as(*user(who))
    return prefix + list(argv)


def user_dir(uid, name=None):
    """A fresh folder owned by uid, mode 0700, in a folder of ours that uid may
    only cross (both removed at exit); name picks its last component."""
    outer = tempfile.mkdtemp(prefix="pa-%s-" % TIER)
    os.chmod(outer, 0o711)
    atexit.register(shutil.rmtree, outer, True)
    d = os.path.join(outer, name or "u")
    os.mkdir(d, 0o700)
    os.chown(d, uid, uid)
    return d


def own_folder(path, uid, mode=0o700):
    """Makes path a folder of uid (removed at exit if this test made it)."""
    if not os.path.lexists(path):
        os.mkdir(path)
        atexit.register(shutil.rmtree, path, True)
    os.chown(path, uid, uid, follow_symlinks=False)
    os.chmod(path, mode)


# ---- preloaded programs ----

class Proc:
    """A preloaded program that prints `ready PID` first and then answers one line
    per command (holder.c, daemon.c, sites.c), or runs on its own (stress.c). wrap
    goes before argv (LD_PRELOAD is then preload, " " for none: the wrapper sets
    it). With user (a uid or a name), it runs as that user (LD_PRELOAD set past
    setpriv, XDG_RUNTIME_DIR dropped: its socket is in the default place for its
    uid). Killed at exit if still running."""

    def __init__(self, argv, env=None, preload=None, wrap=None, ready_timeout=10, user=None):
        e = clean_env(**(env or {}))
        if user is not None:
            e.pop("XDG_RUNTIME_DIR", None)
            argv = as_user(user, ["env", "LD_PRELOAD=" + (preload or LIB)] + argv)
        else:
            e["LD_PRELOAD"] = preload or LIB
        self.p = subprocess.Popen((wrap or []) + argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        self.pid = self.p.pid
        atexit.register(self.kill)
        first = self.line(ready_timeout)
        check(first is not None and first.startswith("ready"),
              "%s did not start: %r; stderr: %s" % (argv[0], first, self.err_now()))

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

    def alive(self):
        return self.p.poll() is None

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
        atexit.register(self.kill)

    def go(self):
        first = self.cmd("go", 10)
        check(first == "ready %d" % self.pid,
              "the gated holder did not start as %d: %r; stderr: %s" % (self.pid, first, self.err_now()))
        return self


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def wait_for(pred, within=3.0, what="condition"):
    end = time.monotonic() + within
    while not pred():
        if time.monotonic() > end:
            fail("timed out after %.1f s waiting for %s" % (within, what))
        time.sleep(0.02)


# ---- the socket ----

def _address(path):
    """The address of the socket at path ('@name': the abstract socket name)."""
    return "\0" + path[1:] if path.startswith("@") else path


def _exchange(s, request, timeout):
    s.settimeout(timeout)
    s.sendall(request.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        out += d
    s.close()
    return out


def ask(path, request, timeout=5.0):
    """One request on the socket at path ('@name': the abstract socket name):
    (reply text, seconds taken). A reply that is not UTF-8 raises."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # blocking: a full backlog makes it wait, not fail
    s.connect(_address(path))
    return _exchange(s, request, timeout).decode(), time.monotonic() - t0


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


def ask_text(path, request, timeout=10.0):
    """One request on the socket at path, the connection tried for 3 s: the whole
    reply as text, bytes that are not UTF-8 replaced (a reply of the sample tier
    names paths and symbols that a hostile program chose)."""
    end = time.monotonic() + 3
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(_address(path))
            break
        except OSError as e:
            s.close()
            if time.monotonic() > end:
                fail("no socket at %s: %s" % (path, e))
            time.sleep(0.05)
    return _exchange(s, request, timeout).decode(errors="replace")


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
    for f in glob.glob("/proc/%d/task/*/comm" % pid):
        try:
            if open(f).read().strip() == "poolalloc-stats":
                return True
        except OSError:
            pass
    return False


def hold_name(pid, uid=None):
    """Binds and listens on process pid's default name, as another process
    that took it first would; returns the socket (close it to let go)."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(_address(sock_name(pid, uid)))
    s.listen(1)
    atexit.register(s.close)
    return s


def stale_socket(path, uid=0):
    """A socket file nobody listens on, owned by uid, as a SIGKILL leaves one."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    os.chown(path, uid, uid)


# ---- fake servers (poolstat against strangers) ----

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


# ---- poolstat ----

def poolstat(*args, user=None, timeout=None, env=None):
    """poolstat run with args (as user if given: a uid or a name), its output as
    text; timeout None is the tier's (TIERS)."""
    cmd = (as_user(user) if user is not None else []) + [POOLSTAT] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=TIERS[TIER]["poolstat"] if timeout is None else timeout,
                          env=clean_env(**(env or {})))


Ran = collections.namedtuple("Ran", "returncode stdout stderr")


def poolstat_bytes(*args, user=None, timeout=25, env=None):
    """poolstat's output as bytes, as a terminal would get them (run as user if
    given, with env added to a clean environment): Ran(returncode, stdout, stderr),
    which unpacks as (rc, out, err); None if it had not finished after timeout
    seconds (it is killed)."""
    cmd = (as_user(user) if user is not None else []) + [POOLSTAT] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=clean_env(**(env or {})))
    except subprocess.TimeoutExpired:
        return None
    return Ran(r.returncode, r.stdout, r.stderr)


control_bytes = strangers.control_bytes
raw_bytes = control_bytes


# ---- allocation sites (the sample tier) ----

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
