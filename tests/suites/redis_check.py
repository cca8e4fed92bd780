#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""redis_check.py - redis-server under the allocator, driven by redis-benchmark.

usage: redis_check.py LIB OUTDIR short|full

Starts Debian's redis-server with LD_PRELOAD=LIB on 127.0.0.1 (a free port picked here,
no persistence, io-threads and lazy freeing on, so objects are allocated and freed on
different threads), and always stops it (SHUTDOWN, then SIGKILL on the way out,
whatever happened). Debian's redis links libjemalloc; under the preload poolalloc's
malloc wins, which is checked: the server maps LIB and answers on its stats socket
with allocations counted.

Then, and each is a check:
  1. N keys are SET in db 0 with values whose content and size (1 byte to 4 KiB) follow
     from the key; a list, a hash and a set are built too;
  2. redis-benchmark (-n 100000 -q in full; -n 20000 on a few commands in short) runs
     against db 9 and must report every test it ran with a request rate;
  3. every key is read back (GET, pipelined) and compared, DBSIZE of db 0 is N, the
     keyspace line of INFO agrees, LLEN/HLEN/SCARD and sampled LINDEX/HGET are right;
  4. INFO memory is consistent: used_memory >= the value bytes stored,
     used_memory_peak >= used_memory, used_memory_rss > 0;
  5. everything is deleted (UNLINK and FLUSHALL ASYNC: freed by a background thread),
     and used_memory - which redis counts itself with malloc_usable_size at every
     allocation and free - comes back to within 2 MiB of its value before loading. A
     malloc_usable_size that disagrees between allocation and free makes it drift.
  6. SHUTDOWN NOSAVE: the server exits 0 within 20 s.
Output: "PASS redis ..." or "FAIL redis: ...". Exit 0 / 1; 2 on a setup error.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

SERVER = "/usr/bin/redis-server"
BENCH = "/usr/bin/redis-benchmark"


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Client:
    """A minimal RESP client: pipelined commands, parsed replies."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, *cmds):
        out = []
        for cmd in cmds:
            out.append(b"*%d\r\n" % len(cmd))
            for a in cmd:
                a = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise Fail("the server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise Fail("the server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise Fail("server error: " + rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise Fail(f"unparsable reply {line[:80]!r}")

    def call(self, *cmd):
        self.send(cmd)
        return self.reply()

    def pipeline(self, cmds, batch=2000):
        res = []
        for i in range(0, len(cmds), batch):
            part = cmds[i:i + batch]
            self.send(*part)
            res.extend(self.reply() for _ in part)
        return res


def value_of(i):
    """The value of key i: its size (1..4096) and bytes follow from i."""
    size = 1 + (i * 2654435761) % 4096 if i % 5 else 1 + i % 64
    seed = f"v{i}:".encode()
    return (seed * (size // len(seed) + 1))[:size]


def info(c, section):
    text = c.call("INFO", section).decode()
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l and not l.startswith("#"))


def free_port():
    for port in range(21000 + os.getpid() % 4000, 29000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise Fail("no free port")


def stats_of(sock_path, timeout=10):
    """The allocator's own stats over its socket: {key: value} (also used by
    tests/stress/soak_sample.py)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(b"stats\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    return dict(l.split(" ", 1) for l in data.decode().splitlines() if " " in l)


def run(lib, outdir, mode):
    n_keys = 200000 if mode == "full" else 20000
    port = free_port()
    work = os.path.join(outdir, f"redis-{mode}")
    os.makedirs(work, exist_ok=True)
    sock = os.path.join(work, "poolalloc.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    log = open(os.path.join(work, "server.log"), "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "POOLALLOC"))}
    env.update(LD_PRELOAD=lib, POOLALLOC_SOCKET=sock)
    args = [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", work, "--daemonize", "no", "--protected-mode", "yes",
            "--io-threads", "2", "--io-threads-do-reads", "yes", "--lazyfree-lazy-user-del",
            "yes", "--lazyfree-lazy-user-flush", "yes", "--databases", "16",
            "--logfile", ""]
    server = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)

    def kill_server(*_):
        if server.poll() is None:
            server.kill()
            server.wait()

    signal.signal(signal.SIGTERM, lambda *a: (kill_server(), sys.exit(1)))
    try:
        return exercise(server, port, sock, lib, n_keys, mode, work)
    finally:
        kill_server()


def exercise(server, port, sock, lib, n_keys, mode, work):
    t0 = time.time()
    c = None
    while time.time() - t0 < 20:
        check(server.poll() is None, f"redis-server exited with {server.returncode} at start "
              f"(log {work}/server.log)")
        try:
            c = Client(port)
            if c.call("PING") == "PONG":
                break
        except (OSError, Fail):
            time.sleep(0.1)
    check(c is not None, "redis-server did not answer PING within 20 s")
    with open(f"/proc/{server.pid}/maps") as f:
        check(os.path.basename(lib) in f.read(), "the server does not map the preloaded library")
    mem_allocator = info(c, "memory").get("mem_allocator", "?")

    # 1. Known data.
    base_used = int(info(c, "memory")["used_memory"])
    c.call("SELECT", 0)
    total = 0
    cmds = []
    for i in range(n_keys):
        v = value_of(i)
        total += len(v)
        cmds.append(("SET", f"k:{i}", v))
    check(all(r == "OK" for r in c.pipeline(cmds)), "a SET did not answer OK")
    c.pipeline([("RPUSH", "list", value_of(i)) for i in range(5000)])
    c.pipeline([("HSET", "hash", f"f{i}", value_of(i)) for i in range(5000)])
    c.pipeline([("SADD", "set", f"m{i}") for i in range(5000)])

    # 2. The benchmark, on another db.
    bargs = [BENCH, "-h", "127.0.0.1", "-p", str(port), "--dbnum", "9", "-q", "-r", "10000"]
    if mode == "full":
        bargs += ["-n", "100000", "--threads", "2"]
    else:
        bargs += ["-n", "20000", "-t", "set,get,incr,lpush,rpop,sadd,hset,lrange_100,mset"]
    t_b = time.time()
    b = subprocess.run(bargs, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    bench_s = time.time() - t_b
    with open(os.path.join(work, "benchmark.out"), "wb") as f:
        f.write(b.stdout + b.stderr)
    out = b.stdout.decode(errors="replace").replace("\r", "\n")
    rates = re.findall(r"^([A-Za-z_() 0-9-]+?): ([0-9.]+) requests per second", out, re.M)
    check(b.returncode == 0, f"redis-benchmark exited with {b.returncode} (see {work}/benchmark.out)")
    check(server.poll() is None, f"redis-server died during the benchmark: status "
          f"{server.returncode} (log {work}/server.log)")
    want = 9 if mode == "short" else 15
    check(len(rates) >= want, f"redis-benchmark reported {len(rates)} tests, expected at least "
          f"{want} (see {work}/benchmark.out)")
    check("ERR" not in out and "error" not in out.lower(), "redis-benchmark printed an error")

    # 3. Everything reads back.
    c.call("SELECT", 0)
    got = c.pipeline([("GET", f"k:{i}") for i in range(n_keys)])
    bad = [i for i in range(n_keys) if got[i] != value_of(i)]
    check(not bad, f"{len(bad)} of {n_keys} keys read back wrong, first k:{bad[0] if bad else ''}")
    check(c.call("DBSIZE") == n_keys + 3, f"DBSIZE is {c.call('DBSIZE')}, expected {n_keys + 3}")
    ks = info(c, "keyspace")
    check(ks.get("db0", "").startswith(f"keys={n_keys + 3},"), f"INFO keyspace db0 is {ks.get('db0')}")
    check("db9" in ks, "INFO keyspace has no db9: the benchmark wrote nothing")
    check(c.call("LLEN", "list") == 5000 and c.call("HLEN", "hash") == 5000 and
          c.call("SCARD", "set") == 5000, "LLEN/HLEN/SCARD are not 5000")
    for i in (0, 1, 777, 4999):
        check(c.call("LINDEX", "list", i) == value_of(i), f"LINDEX list {i} is wrong")
        check(c.call("HGET", "hash", f"f{i}") == value_of(i), f"HGET hash f{i} is wrong")

    # 4. INFO memory.
    mem = info(c, "memory")
    used, peak, rss = int(mem["used_memory"]), int(mem["used_memory_peak"]), int(mem["used_memory_rss"])
    check(used >= total, f"used_memory {used} is less than the {total} value bytes stored")
    check(peak >= used, f"used_memory_peak {peak} < used_memory {used}")
    check(rss > 0, "used_memory_rss is 0")
    st = stats_of(sock)
    check(st.get("pid") == str(server.pid), f"the stats socket answers for pid {st.get('pid')}, "
          f"not the server {server.pid}")
    in_use = int(st.get("in_use_bytes", "0"))
    check(in_use > 0, "poolalloc reports no bytes in use in the server: its malloc did not win")

    # 5. Delete everything; redis's own count of usable bytes must come back.
    c.pipeline([("UNLINK", f"k:{i}") for i in range(n_keys)])
    c.call("UNLINK", "list", "hash", "set")
    c.call("FLUSHALL", "ASYNC")
    after = None
    for _ in range(100):
        time.sleep(0.1)
        m = info(c, "memory")
        if int(m.get("lazyfree_pending_objects", "0")) == 0:
            after = int(m["used_memory"])
            if abs(after - base_used) <= 2 << 20:
                break
    check(after is not None, "lazy freeing did not finish in 10 s")
    check(abs(after - base_used) <= 2 << 20,
          f"used_memory is {after} after deleting everything, {base_used} before loading: "
          f"redis's malloc_usable_size accounting drifted by {after - base_used} bytes")
    check(c.call("DBSIZE") == 0, "DBSIZE is not 0 after FLUSHALL")

    # 6. A clean exit.
    try:
        c.call("SHUTDOWN", "NOSAVE")
    except Fail:
        pass  # the connection closes
    try:
        rc = server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise Fail("redis-server did not exit within 20 s of SHUTDOWN NOSAVE")
    check(rc == 0, f"redis-server exited with status {rc} after SHUTDOWN (log {work}/server.log)")
    best = sorted(rates, key=lambda r: -float(r[1]))[:1]
    return (f"{n_keys} keys read back, DBSIZE and INFO keyspace agree, used_memory back to "
            f"{after - base_used:+d} bytes of its start after deleting {total >> 20} MiB, "
            f"{len(rates)} benchmark tests in {bench_s:.0f} s (best {best[0][0]} "
            f"{float(best[0][1]):.0f}/s), mem_allocator {mem_allocator} in name, poolalloc "
            f"held {in_use >> 20} MiB in use")


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("short", "full"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    lib, outdir, mode = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
    name = f"redis[{mode}]"
    for p in (SERVER, BENCH):
        if not os.access(p, os.X_OK):
            print(f"FAIL {name}: {p} is missing (apt-get install redis-server redis-tools)")
            return 2
    t0 = time.time()
    try:
        msg = run(lib, outdir, mode)
    except (Fail, OSError, subprocess.TimeoutExpired, KeyError, ValueError) as e:
        print(f"FAIL {name}: {e}")
        return 1
    print(f"PASS {name} ({time.time() - t0:.1f} s): {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
