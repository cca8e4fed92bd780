# SPDX-License-Identifier: MIT
"""procs.py - running one program for the benchmarks: in its own session (so its whole
process group can be killed), stdout and stderr to temporary files, a time-out, and
its exit status, rusage (wait4) and wall time in a Proc.

Importing this module makes sure no program it started outlives the driver: at exit,
and on SIGTERM, SIGINT or SIGHUP (then the driver exits 128 + the signal), every
process group in LIVE gets SIGKILL.
"""
import atexit
import os
import re
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

LIVE = set()  # pids of process groups we started and have not reaped yet


def kill_live():
    for pid in list(LIVE):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def on_signal(signum, _frame):
    kill_live()
    sys.exit(128 + signum)


atexit.register(kill_live)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGHUP, on_signal)


class Proc:
    """Result of one process: status, rusage, output, wall time."""

    def __init__(self, status, ru, out, err, wall, timed_out):
        self.status, self.ru, self.out, self.err = status, ru, out, err
        self.wall, self.timed_out = wall, timed_out

    @property
    def cpu(self):
        """User + system CPU seconds (for gcc including its reaped children)."""
        return self.ru.ru_utime + self.ru.ru_stime

    @property
    def peak_kib(self):
        return self.ru.ru_maxrss  # KiB on Linux; includes reaped children (cc1)

    def failure(self):
        """None, or why this run failed."""
        if self.timed_out:
            return "timed out (killed)"
        if os.WIFSIGNALED(self.status):
            sig = os.WTERMSIG(self.status)
            return "killed by signal %d (%s)" % (sig, signal.Signals(sig).name)
        if os.WEXITSTATUS(self.status) != 0:
            return "exit status %d" % os.WEXITSTATUS(self.status)
        return None

    def tail(self):
        """A few telling lines: the end of stderr, else crash lines from stdout."""
        text = self.err.decode(errors="replace").strip().splitlines()
        if not text:
            out = self.out.decode(errors="replace").splitlines()
            text = [l for l in out if re.search(r"crash|signal|EIP|error|assert|abort", l, re.I)]
            text = text[:3] + [l for l in out if re.search(r"^\S+\(\S+\+0x[0-9a-f]+\)", l)][:4]
            text = list(dict.fromkeys(l.strip() for l in text))  # without repeats
            return " | ".join(text)[:600]
        return " | ".join(text[-3:])[:400]

    def save(self, path):
        """Writes the whole output to path (for a failed run) and returns path."""
        with open(path, "wb") as f:
            f.write(b"== stdout\n" + self.out + b"\n== stderr\n" + self.err)
        return os.path.relpath(path, ROOT)


def spawn(argv, env, stdin=None, cwd=None):
    """Starts argv in its own session (so the whole group can be killed), stdout and
    stderr to temporary files. Returns (pid, out, err)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    fa = [(os.POSIX_SPAWN_OPEN, 0, stdin or "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
          (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=fa, setsid=True)
    finally:
        os.chdir(old)
    LIVE.add(pid)
    return pid, out, err


def reap(pid, out, err, t0, timeout):
    """Waits for pid (killing its group after timeout s), returns a Proc."""
    fired = []

    def kill():
        fired.append(1)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.daemon = True  # a SIGTERM to this driver must not wait for the time-out
    timer.start()
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    timer.cancel()
    LIVE.discard(pid)
    out.seek(0)
    err.seek(0)
    res = Proc(status, ru, out.read(), err.read(), wall, bool(fired))
    out.close()
    err.close()
    return res


def run(argv, env, stdin=None, timeout=300, cwd=None):
    """Runs argv to its end, or kills its group after timeout s; returns its Proc."""
    t0 = time.perf_counter()
    pid, out, err = spawn(argv, env, stdin, cwd)
    return reap(pid, out, err, t0, timeout)
