#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench.py - poolalloc's benchmark driver (`make bench`, `make bench-fastpath`).

Runs every case under five allocators - glibc (no preload), poolalloc, tcmalloc,
jemalloc, mimalloc (LD_PRELOAD) - and under poolalloc with allocation sampling on
(poolalloc+sample2m, poolalloc+sample512k: POOLALLOC_SAMPLE=2m, 512k), all
interleaved within each repetition (rep k runs them in the order rotated by k), and
prints one markdown table of medians with the ratios poolalloc / best peer and
poolalloc / glibc, then a table of what sampling costs: per row, sampled run /
plain poolalloc run of the same repetition (wall and CPU time), median and range. Lower is better in every
column: times, microseconds per request, MiB of RSS. The table also goes to
BUILD/bench/results.md (with a header naming the machine), every single run to
BUILD/bench/results.json.

Every run is checked: a non-zero exit, a signal, a time-out, a checksum or an
output that differs from glibc's run of the same case marks that cell FAILED, and
the reasons are listed under the table.

    bench.py [--build DIR] [--quick]               all cases (make bench [BENCH_QUICK=1])
    bench.py --case pingpong[,batch100] --reps 3   some cases only
    bench.py --alloc poolalloc,glibc ...           some allocators only
    bench.py --no-sample                           without the sampling variants
    bench.py --fastpath                            malloc(32)+free: time and callgrind,
                                                   and the rseq floors (floor.c: inline,
                                                   and as two calls like malloc/free)
    bench.py --list                                the cases
"""
import argparse
import atexit
import datetime
import hashlib
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = ["glibc", "tcmalloc", "jemalloc", "mimalloc"]
# poolalloc with allocation sampling on (POOLALLOC_SAMPLE = mean bytes between
# samples): the same library, one more environment variable. Their cost is read
# as a ratio to plain poolalloc in the same repetition (the sampling table).
SAMPLE_MEANS = ["2m", "512k"]


def sample_variant(mean):
    return "poolalloc+sample" + mean


VARIANTS = {sample_variant(m): ("poolalloc", {"POOLALLOC_SAMPLE": m}) for m in SAMPLE_MEANS}
ALLOC_NAMES = ["glibc", "poolalloc"] + [sample_variant(m) for m in SAMPLE_MEANS] + \
              ["tcmalloc", "jemalloc", "mimalloc"]
FASTPATH_ALLOCS = ["glibc", "poolalloc", "tcmalloc", "jemalloc", "mimalloc"]


def base_alloc(alloc):
    """poolalloc for a sampling variant, else the allocator itself."""
    return VARIANTS[alloc][0] if alloc in VARIANTS else alloc


def variant_env(alloc):
    """What a variant adds to the environment of the program under test."""
    return dict(VARIANTS[alloc][1]) if alloc in VARIANTS else {}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- allocators ------------------------------------------------------------------


def find_mimalloc():
    """The mimalloc shared object Debian's libmimalloc2.0 installed (its SONAME link)."""
    try:
        files = subprocess.run(["dpkg", "-L", "libmimalloc2.0"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    libs = sorted(f for f in files if re.search(r"/libmimalloc\.so\.\d+$", f))
    libs = libs or sorted(f for f in files if "/libmimalloc.so" in f)
    return libs[0] if libs else None


def snapshot_poolalloc(build, work):
    """Copies BUILD/libpoolalloc.so to WORK/lib/ and returns the copy's path: the whole
    run then measures one library, even when someone rebuilds BUILD meanwhile."""
    src = os.path.join(ROOT, build, "libpoolalloc.so")
    if not os.path.exists(src):
        return src
    dst_dir = os.path.join(work, "lib")
    os.makedirs(dst_dir, exist_ok=True)
    dst = os.path.join(dst_dir, "libpoolalloc.so")
    with open(src, "rb") as f:
        data = f.read()
    with open(dst + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(dst + ".tmp", 0o755)
    os.replace(dst + ".tmp", dst)
    stamp = datetime.datetime.fromtimestamp(os.path.getmtime(src)).strftime("%Y-%m-%d %H:%M:%S")
    return dst, "%s (built %s, sha256 %s)" % (os.path.join(build, "libpoolalloc.so"), stamp,
                                             hashlib.sha256(data).hexdigest()[:12])


def allocators(build, poolalloc_lib):
    """name -> path of the library to preload (None for glibc)."""
    libs = {
        "glibc": None,
        "poolalloc": poolalloc_lib,
        "tcmalloc": os.path.join(LIBDIR, "libtcmalloc_minimal.so.4"),
        "jemalloc": os.path.join(LIBDIR, "libjemalloc.so.2"),
        "mimalloc": find_mimalloc(),
    }
    for v in VARIANTS:
        libs[v] = libs[base_alloc(v)]
    return libs


def sampling_starts(micro, lib, mean):
    """None if POOLALLOC_SAMPLE=mean turns sampling on in `micro` under lib, else why
    not (then the sampling columns would silently measure plain poolalloc)."""
    p = run([micro, "pingpong", "1000"],
            alloc_env(lib, {"POOLALLOC_SAMPLE": mean, "POOLALLOC_VERBOSE": "1"}), timeout=60)
    err = p.err.decode(errors="replace")
    if p.failure():
        return "%s; %s" % (p.failure(), p.tail())
    if "poolalloc: sampling every" not in err:
        lines = [l for l in err.splitlines() if "sampling" in l]
        return lines[0] if lines else "no \"sampling every\" line with POOLALLOC_VERBOSE=1"
    return None


def base_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def alloc_env(lib, extra=None):
    env = base_env()
    if lib:
        env["LD_PRELOAD"] = lib
    env.update(extra or {})
    return env


# ---- processes -------------------------------------------------------------------

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
    t0 = time.perf_counter()
    pid, out, err = spawn(argv, env, stdin, cwd)
    return reap(pid, out, err, t0, timeout)


# ---- one run of a case -------------------------------------------------------------


class Result:
    """One run of one case under one allocator."""

    def __init__(self, metrics=None, check=None, peak_kib=None, fail=None, cpu=None):
        self.metrics = metrics or {}  # row key -> value (lower is better)
        self.check = check            # must equal glibc's
        self.peak_kib = peak_kib
        self.fail = fail              # None or a one-line reason
        self.cpu = cpu                # CPU seconds of the process under test, or None


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


class Case:
    """A case: a name, its rows (key, label, unit) and run(alloc, lib, ctx)."""
    kind = "micro"
    reps = 5
    quick_reps = 3

    def __init__(self, name, rows):
        self.name, self.rows = name, rows


class MicroCase(Case):
    """A case of tools/bench/micro.c."""

    def __init__(self, name, label, n, quick_n, env=None, kind="micro", reps=5, quick_reps=3,
                 extra_rows=()):
        super().__init__(name, [(name, label, None)] + list(extra_rows))
        self.n, self.quick_n, self.env, self.kind = n, quick_n, env or {}, kind
        self.reps, self.quick_reps = reps, quick_reps

    def run(self, alloc, lib, ctx):
        n = self.quick_n if ctx.quick else self.n
        env = alloc_env(lib, dict(self.env.get(base_alloc(alloc), {}), **variant_env(alloc)))
        p = run([ctx.micro, self.name, str(n)], env, timeout=300)
        fail = p.failure()
        if fail:
            return Result(fail="%s; %s (log: %s)" % (fail, p.tail(), p.save(ctx.faillog(self.name, alloc))))
        kv = dict(w.split("=", 1) for w in p.out.decode().split() if "=" in w)
        want = os.path.basename(lib) if lib else "libc.so.6"
        if kv.get("lib") != want:
            return Result(fail="malloc came from %s, not %s (preload did not take); %s"
                          % (kv.get("lib"), want, p.tail()))
        metrics = {self.name: float(kv["value"])}
        for key, _label, _unit in self.rows[1:]:
            metrics[key] = int(kv[key.split(":")[1]]) / 1024.0
        self.unit = kv["unit"]
        # The case's own CPU time: the process's would count start-up, and with sampling
        # on that includes loading libunwind (~1 ms), a few % of a short micro case.
        cpu = float(kv["cpu_s"]) if "cpu_s" in kv else p.cpu
        return Result(metrics, check=kv["check"], peak_kib=int(kv["peak_kib"]), cpu=cpu)


class ProgramCase(Case):
    """A real program from a Debian package, timed (wall seconds), output compared."""
    kind = "real"
    reps = 3
    quick_reps = 3

    def __init__(self, name, label, argv, env=None, stdin=None, outfile=None):
        super().__init__(name, [(name, label, "s")])
        self.argv, self.env = argv, env or {}
        self.stdin, self.outfile = stdin, outfile

    def run(self, alloc, lib, ctx):
        if self.outfile and os.path.exists(self.outfile):
            os.unlink(self.outfile)
        p = run(self.argv, alloc_env(lib, dict(self.env, **variant_env(alloc))), stdin=self.stdin,
                timeout=600,
                cwd=ctx.work)
        fail = p.failure()
        if fail:
            return Result(fail="%s; %s (log: %s)" % (fail, p.tail(), p.save(ctx.faillog(self.name, alloc))))
        extra = b""
        if self.outfile:
            with open(self.outfile, "rb") as f:
                extra = f.read()
        check = digest(p.out, p.err, extra)
        ctx.outputs[(self.name, check)] = p.out[-400:] + p.err[-400:]
        return Result({self.name: p.wall}, check=check, peak_kib=p.peak_kib, cpu=p.cpu)


# ---- redis ---------------------------------------------------------------------------


def free_port(start=16379):
    for port in range(start, start + 200):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free loopback port in %d..%d" % (start, start + 199))


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


REDIS_TESTS = ["SET", "GET", "LPUSH", "LPOP"]


class RedisCase(Case):
    """redis-server (preloaded) on a loopback port, loaded by redis-benchmark (not
    preloaded); then a fixed command script through redis-cli whose replies must be
    the same as under glibc. The server is always killed: try/finally here, a
    SIGKILL to every live group at exit or on a signal, and setpriv --pdeathsig in
    case this script itself is killed."""
    kind = "real"
    reps = 3
    quick_reps = 3

    def __init__(self):
        rows = [("redis-" + t.lower(), "redis-server %s (redis-benchmark)" % t, "us/req")
                for t in REDIS_TESTS]
        super().__init__("redis", rows)

    def run(self, alloc, lib, ctx):
        port = free_port()
        n = 20000 if ctx.quick else 100000
        # Only redis-server gets LD_PRELOAD: setpriv and env run without it.
        argv = ["setpriv", "--pdeathsig", "KILL", "env"] + (["LD_PRELOAD=" + lib] if lib else []) + \
               ["%s=%s" % kv for kv in sorted(variant_env(alloc).items())] + \
               ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--logfile", "",
                "--dir", ctx.work]
        t0 = time.perf_counter()
        pid, out, err = spawn(argv, base_env())
        reaped = None
        try:
            deadline = time.time() + 15
            while not redis_ping(port):
                exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if exited is not None or time.time() > deadline:
                    break
                time.sleep(0.05)
            else:
                bench = run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(n),
                             "-q", "-t", ",".join(t.lower() for t in REDIS_TESTS)],
                            base_env(), timeout=300)
                cli = run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)], base_env(),
                          stdin=ctx.redis_script, timeout=120)
                peak = vm_hwm_kib(pid)
                os.kill(pid, signal.SIGTERM)
                reaped = reap(pid, out, err, t0, 30)
                return self.judge(alloc, bench, cli, reaped, peak, ctx)
            reaped = reap(pid, out, err, t0, 1)
            return Result(fail="redis-server did not start: %s; %s (log: %s)"
                          % (reaped.failure() or "no PONG", reaped.tail(),
                             reaped.save(ctx.faillog(self.name, alloc))))
        finally:
            if reaped is None and pid in LIVE:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                reap(pid, out, err, t0, 5)

    def judge(self, alloc, bench, cli, server, peak, ctx):
        for what, p in (("redis-benchmark", bench), ("redis-cli", cli)):
            if p.failure():
                return Result(fail="%s: %s; server: %s %s (log: %s)" % (
                    what, p.failure(), server.failure(), server.tail(),
                    server.save(ctx.faillog(self.name, alloc))))
        if server.failure():
            return Result(fail="redis-server after SIGTERM: %s; %s (log: %s)" % (
                server.failure(), server.tail(), server.save(ctx.faillog(self.name, alloc))))
        text = bench.out.decode(errors="replace").replace("\r", "\n")
        metrics = {}
        for t in REDIS_TESTS:
            m = re.search(r"^%s: ([\d.]+) requests per second" % t, text, re.M)
            if not m:
                return Result(fail="redis-benchmark printed no %s result" % t)
            metrics["redis-" + t.lower()] = 1e6 / float(m.group(1))
        check = digest(cli.out, cli.err)
        ctx.outputs[("redis", check)] = cli.out[-400:]
        return Result(metrics, check=check, peak_kib=peak, cpu=server.cpu)


# ---- generated inputs --------------------------------------------------------------------


def gen_sql(path, scale):
    """A SQL workload for `sqlite3 :memory:`: bulk inserts from a recursive CTE, many
    single-row INSERTs to parse, indexes, joins, group by, window functions, updates,
    deletes. Prints only deterministic aggregates."""
    rows = int(150000 * scale)
    lines = [".bail on",
             "CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, data BLOB);",
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)" % rows,
             "INSERT INTO t SELECT x, x % 97, 'name-' || (x * 7919 % 100003) || '-' || hex(x),",
             "  (x * 31 % 1000) / 7.0, zeroblob(x % 300) FROM c;",
             "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT, n INTEGER);",
             "BEGIN;"]
    for i in range(int(30000 * scale)):
        lines.append("INSERT INTO kv VALUES('key%06d', '%s', %d);"
                     % (i * 7919 % 1000003, "v" * (i % 50) + str(i), i % 1000))
    lines += ["COMMIT;",
              "CREATE INDEX t_grp ON t(grp);",
              "CREATE INDEX t_name ON t(name);",
              "CREATE INDEX kv_n ON kv(n);",
              "SELECT count(*), sum(id), printf('%.3f', total(val)), sum(length(name)) FROM t;",
              "SELECT grp, count(*), printf('%.3f', sum(val)), min(name), max(length(data))",
              "  FROM t GROUP BY grp ORDER BY grp LIMIT 30;",
              "SELECT count(*) FROM t a JOIN t b ON b.id = a.id + 1 WHERE b.grp = a.grp + 1;",
              "SELECT n, count(*), sum(length(v)), min(k) FROM kv GROUP BY n ORDER BY 2 DESC, 1 LIMIT 10;",
              "SELECT count(*) FROM kv JOIN t ON t.id = kv.n * 100 WHERE t.grp < 50;",
              "SELECT id, printf('%.3f', sum(val) OVER (PARTITION BY grp ORDER BY id ROWS 5 PRECEDING))",
              "  FROM t WHERE grp = 13 ORDER BY id LIMIT 20;",
              "UPDATE t SET name = upper(name) || '/' || name WHERE id % 5 = 0;",
              "UPDATE kv SET v = v || v WHERE n % 3 = 0;",
              "DELETE FROM t WHERE id % 7 = 0;",
              "SELECT count(*), sum(length(name)), max(name) FROM t;",
              "SELECT grp, length(group_concat(name, ',')) FROM t WHERE grp < 10 GROUP BY grp ORDER BY grp;",
              "SELECT count(DISTINCT substr(name, 1, 9)), sum(length(v)) FROM t, kv WHERE kv.k = 'key000000';",
              "SELECT count(*), sum(length(v)) FROM kv;",
              "VACUUM;",
              "SELECT count(*) FROM t;"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def gen_c(path, nfuncs):
    """A C file of about 30 lines per function: structs, loops, switches, inline
    helpers, enough for gcc -O2 to allocate a lot. Warning-free, deterministic."""
    out = ["/* generated by tools/bench/bench.py for the gcc benchmark */",
           "#include <stddef.h>", "#include <string.h>",
           "struct rec { int a, b; double c; char name[16]; struct rec *next; };",
           "static inline int mix(int x, int y) { return (x * 31) ^ (y >> 3); }"]
    for i in range(nfuncs):
        out += ["static int table_%d[%d] = {%s};" % (i, 8 + i % 8,
                                                 ", ".join(str((i * k * 7919) % 1000) for k in range(8 + i % 8))),
                "int func_%d(struct rec *r, int n, double *acc)" % i, "{",
                "    int s = %d;" % i,
                "    for (int k = 0; k < n; k++) {",
                "        struct rec *p = r + (k %% %d);" % (3 + i % 5),
                "        switch ((p->a + k) % 6) {",
                "        case 0: s += mix(p->a, k) + table_%d[k %% %d]; break;" % (i, 8 + i % 8),
                "        case 1: s -= p->b * %d; p->c += s * 0.5; break;" % (i % 17 + 1),
                "        case 2: if (p->next) s ^= p->next->a; else s += %d; break;" % (i % 13),
                "        case 3: for (int j = 0; j < %d; j++) s += mix(s, j); break;" % (2 + i % 4),
                "        case 4: memcpy(p->name, \"f%d\", %d); s += p->name[0]; break;" % (i, len("f%d" % i) + 1),
                "        default: *acc += p->c * %d.25; break;" % (i % 9),
                "        }",
                "        if (s > %d) s = mix(s, n) %% %d;" % (100000 + i, 9973 + i),
                "    }",
                "    for (int k = 0; k < %d; k++) {" % (4 + i % 6),
                "        double t = *acc * 0.5 + k;",
                "        *acc = t > 1e9 ? t / 3.0 : t + s % 7;",
                "    }"]
        if i:
            out.append("    if (n > %d) s += func_%d(r, n / 2, acc);" % (i % 11 + 2, (i * 7) % i))
        out += ["    return s + (int)*acc;", "}", ""]
    out += ["int run_all(struct rec *r, int n, double *acc)", "{", "    int s = 0;"]
    out += ["    s += func_%d(r, n, acc);" % i for i in range(nfuncs)]
    out += ["    return s;", "}"]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def gen_redis_script(path):
    """Commands for redis-cli whose replies do not depend on hash order or timing."""
    c = ["FLUSHALL"]
    for i in range(3000):
        c.append("SET key:%d value-%d-%s" % (i, i * 7919 % 10007, "x" * (i % 97)))
    c.append("MGET " + " ".join("key:%d" % (i * 37 % 3000) for i in range(100)))
    for i in range(600):
        c.append("APPEND app %s" % (str(i) * (1 + i % 9)))
    c += ["STRLEN app", "GETRANGE app 1000 1200"]
    for i in range(0, 2000, 50):
        c.append("RPUSH list " + " ".join("item-%d" % j for j in range(i, i + 50)))
    c += ["LLEN list", "LRANGE list 100 160", "LTRIM list 500 1500", "LRANGE list 0 20", "LPOP list 5"]
    for i in range(0, 400, 20):
        c.append("HSET h " + " ".join("field:%d val:%d" % (j, j * j) for j in range(i, i + 20)))
    c += ["HLEN h", "HGET h field:17", "HGET h field:399", "HDEL h field:1 field:2", "HLEN h"]
    for i in range(0, 1500, 50):
        c.append("SADD s " + " ".join("m%d" % (j * 13 % 1700) for j in range(i, i + 50)))
    c += ["SCARD s", "SORT s ALPHA LIMIT 0 25", "SISMEMBER s m13"]
    for i in range(0, 1500, 50):
        c.append("ZADD z " + " ".join("%d z%d" % (j * 7 % 1000, j) for j in range(i, i + 50)))
    c += ["ZCARD z", "ZRANGE z 0 30 WITHSCORES", "ZRANGEBYSCORE z 100 120", "ZRANK z z77"]
    c += ["INCRBY counter %d" % i for i in range(1, 200)]
    c += ["DEL " + " ".join("key:%d" % i for i in range(0, 3000, 3)), "DBSIZE", "GET key:1",
          "GET key:2999", "FLUSHALL", "DBSIZE"]
    with open(path, "w") as f:
        f.write("\n".join(c) + "\n")


# ---- the cases ---------------------------------------------------------------------------


def make_cases(ctx):
    k = 1024
    flush = {"poolalloc": {"POOLALLOC_FLUSH_MS": "500"}}
    cases = [
        MicroCase("pingpong", "malloc(32)+free ping-pong, 1 thread", 30000000, 10000000),
        MicroCase("batch1", "batch of 1: alloc then free (32 B)", 40000000, 12000000),
        MicroCase("batch100", "batch of 100: alloc all, free all (32 B)", 40000000, 12000000),
        MicroCase("batch10000", "batch of 10 000: alloc all, free all (32 B)", 40000000, 12000000),
        MicroCase("rand-small", "random 8..1024 B, live set 10 000", 16000000, 5000000),
        MicroCase("rand-large", "random 8..32 KiB, live set 1 000", 5000000, 1500000),
        MicroCase("prodcons", "producer/consumer threads (free on other thread)", 16000000, 5000000),
        MicroCase("threads", "short-lived threads (8 at a time, ~300 ops each)", 8000, 2500),
        MicroCase("realloc", "realloc growth 16 B -> 4 MiB in 128 B steps", 200, 60),
        MicroCase("burst-idle", "burst 256 MiB small objects, free, idle 3 s: RSS settled",
                  256, 256, env=flush, kind="memory", reps=3, quick_reps=1,
                  extra_rows=[("burst-idle:freed_kib", "burst-idle: RSS right after the frees",
                               "MiB")]),
        MicroCase("threads-hold", "200 threads x 50 KiB small objects, all alive: RSS",
                  200, 200, kind="memory", reps=3, quick_reps=1),
    ]
    scale = 0.3 if ctx.quick else 1.0
    py = os.path.join(HERE, "py_workload.py")
    sql = os.path.join(ctx.work, "workload.sql")
    csrc = os.path.join(ctx.work, "gen.c")
    cobj = os.path.join(ctx.work, "gen.o")
    cases += [
        ProgramCase("python3", "python3 allocation-heavy script (PYTHONMALLOC=malloc)",
                    ["/usr/bin/python3", py, str(scale)],
                    env={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}),
        ProgramCase("sqlite3", "sqlite3 :memory: generated SQL workload",
                    ["/usr/bin/sqlite3", ":memory:"], stdin=sql),
        ProgramCase("gcc", "gcc -O2 -c generated C file",
                    ["/usr/bin/gcc", "-O2", "-c", csrc, "-o", cobj], outfile=cobj),
        RedisCase(),
    ]
    gen_sql(sql, scale)
    gen_c(csrc, 50 if ctx.quick else 150)
    gen_redis_script(ctx.redis_script)
    for c in cases:
        if isinstance(c, MicroCase):
            c.unit = None
    return cases


def row_unit(case, key, unit):
    if unit:
        return unit
    return getattr(case, "unit", None) or ""


# ---- running and reporting ------------------------------------------------------------------


class Ctx:
    def faillog(self, case, alloc):
        """A fresh path for the whole output of a failed run."""
        for k in range(1, 1000):
            path = os.path.join(self.work, "failed-%s-%s-%d.log" % (case, alloc, k))
            if not os.path.exists(path):
                return path
        return path


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def run_case(case, allocs, libs, reps, ctx, results):
    """Runs case reps times, the allocators rotated by one each repetition."""
    t0 = time.time()
    for rep in range(reps):
        order = allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]
        for a in order:
            try:
                r = case.run(a, libs[a], ctx)
            except Exception as e:  # a bug here must not lose the whole table
                r = Result(fail="harness error: %r" % e)
            r.rep = rep + 1
            results.setdefault((case.name, a), []).append(r)
    # Outputs must match glibc's (or, when glibc failed, the most common one).
    # A run with no check (the fast path's floor, which checks itself) is not compared.
    checks = [r.check for a in allocs for r in results[(case.name, a)]
              if not r.fail and r.check is not None]
    ref_runs = [r.check for r in results.get((case.name, "glibc"), []) if not r.fail]
    ref = ref_runs[0] if ref_runs else (max(set(checks), key=checks.count) if checks else None)
    for a in allocs:
        for r in results[(case.name, a)]:
            if not r.fail and r.check is not None and r.check != ref:
                what = ctx.outputs.get((case.name, r.check))
                r.fail = "output differs from glibc's (check %s, glibc %s)%s" % (
                    r.check, ref, ("; tail: %r" % what[-160:]) if what else "")
    log("  %-13s %d reps x %d allocators: %.0f s" % (case.name, reps, len(allocs), time.time() - t0))


def failure_lines(name, alloc, bad, total):
    """One markdown line per kind of failure (the reason up to its first ';'), naming
    the repetitions it happened in; the details are those of the first of them."""
    by_kind = {}
    for r in bad:
        by_kind.setdefault(r.fail.split(";")[0], []).append(r)
    lines = []
    for rs in by_kind.values():
        logs = re.findall(r"\(log: (\S+)\)", " ".join(r.fail for r in rs))
        first = re.sub(r" \(log: \S+\)", "", rs[0].fail)
        lines.append("- **%s** under **%s**, rep %s of %d: %s%s" % (
            name, alloc, ",".join(str(r.rep) for r in rs), total, first,
            " (logs: %s)" % ", ".join(logs) if logs else ""))
    return lines


def table(cases, allocs, results):
    """Markdown table lines, and the list of failures."""
    head = ["case", "unit"] + allocs
    has_pa = "poolalloc" in allocs
    peers = [a for a in allocs if a in PEERS]
    if has_pa and peers:
        head += ["poolalloc / best peer"]
    if has_pa and "glibc" in allocs:
        head += ["poolalloc / glibc"]
    head += ["peak RSS MiB: " + a for a in allocs]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    failures = []
    for case in cases:
        for key, label, unit in case.rows:
            med, peak = {}, {}
            for a in allocs:
                rs = results.get((case.name, a), [])
                bad = [r for r in rs if r.fail]
                if key == case.rows[0][0]:
                    failures += failure_lines(case.name, a, bad, len(rs))
                good = [r for r in rs if not r.fail]
                if bad or not rs:
                    med[a] = None
                else:
                    med[a] = median([r.metrics[key] for r in good])
                ps = [r.peak_kib / 1024.0 for r in good if r.peak_kib is not None]
                peak[a] = median(ps) if ps else None
            cells = [label, row_unit(case, key, unit)]
            cells += [("FAILED" if any(r.fail for r in results.get((case.name, a), [])) else fmt(med[a]))
                      for a in allocs]
            if has_pa and peers:
                ok = {a: med[a] for a in peers if med[a] is not None}
                if med["poolalloc"] is not None and ok:
                    best = min(ok, key=ok.get)
                    cells.append("%.2f (%s)" % (med["poolalloc"] / ok[best], best))
                else:
                    cells.append("—")
            if has_pa and "glibc" in allocs:
                if med["poolalloc"] is not None and med["glibc"]:
                    cells.append("%.2f" % (med["poolalloc"] / med["glibc"]))
                else:
                    cells.append("—")
            cells += [fmt(peak[a]) for a in allocs]
            lines.append("| " + " | ".join(cells) + " |")
    return lines, failures


def paired_ratios(results, case, alloc, value):
    """value(r) of alloc's run over poolalloc's run of the same repetition, for every
    repetition where both ran and neither failed."""
    base = {r.rep: r for r in results.get((case.name, "poolalloc"), []) if not r.fail}
    out = []
    for r in results.get((case.name, alloc), []):
        b = base.get(r.rep)
        if r.fail or b is None:
            continue
        num, den = value(r), value(b)
        if num is not None and den:
            out.append(num / den)
    return out


def ratio_cell(rs):
    """The median ratio, then (min-max) when there is more than one."""
    if not rs:
        return "—"
    if len(rs) == 1:
        return "%.3f" % rs[0]
    return "%.3f (%.2f–%.2f)" % (median(rs), min(rs), max(rs))


def sample_table(cases, allocs, results):
    """Markdown lines: the cost of sampling per row, as paired ratios to plain poolalloc
    (each repetition's sampled run over the same repetition's poolalloc run)."""
    variants = [a for a in allocs if a in VARIANTS]
    if not variants or "poolalloc" not in allocs:
        return []
    head = ["case", "unit", "poolalloc"]
    for v in variants:
        mean = VARIANTS[v][1]["POOLALLOC_SAMPLE"]
        head += [v, "%s / poolalloc" % mean, "%s / poolalloc, CPU time" % mean]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for case in cases:
        for i, (key, label, unit) in enumerate(case.rows):
            base = [r.metrics[key] for r in results.get((case.name, "poolalloc"), []) if not r.fail]
            cells = [label, row_unit(case, key, unit), fmt(median(base))]
            for v in variants:
                got = [r.metrics[key] for r in results.get((case.name, v), []) if not r.fail]
                bad = any(r.fail for r in results.get((case.name, v), []))
                cells.append("FAILED" if bad else fmt(median(got)))
                cells.append(ratio_cell(paired_ratios(results, case, v, lambda r: r.metrics.get(key))))
                # One process per case: its CPU time belongs to the case's first row.
                cells.append(ratio_cell(paired_ratios(results, case, v, lambda r: r.cpu))
                             if i == 0 else "″")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_header(title, build, lib_note, when="at the end"):
    """The page header; `when` says when the load average was read (bench.py builds
    the header after its runs, machine.py before)."""
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    vers = sh("dpkg-query -W -f='${Package} ${Version}, ' libc6 libtcmalloc-minimal4 libjemalloc2 "
              "libmimalloc2.0 python3 sqlite3 gcc redis-server 2>/dev/null").rstrip(", ")
    rev = sh("cd %s && git rev-parse --short HEAD 2>/dev/null" % ROOT)
    dirty = sh("cd %s && git status --porcelain -- core preload stats 2>/dev/null" % ROOT)
    return ["# %s" % title, "",
            "- machine: %s CPUs (nproc), %s, kernel %s" % (sh("nproc"), cpu,
                                                          platform.release()),
            "- date: %s; load average (1/5/15 min) %s: %s (2 CPUs shared: other work "
            "adds noise)" % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
                             when, loadavg()),
            "- poolalloc: %s, git %s%s" % (lib_note, rev or "?",
                                           " + uncommitted changes in core/preload/stats"
                                           if dirty else ""),
            "- packages: %s" % vers, ""]


def run_all(args, ctx, libs, allocs, sample_note=None):
    cases = make_cases(ctx)
    if args.case:
        want = set(args.case.split(","))
        unknown = want - {c.name for c in cases}
        if unknown:
            sys.exit("bench.py: no case %s (see --list)" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c.name in want]
    results = {}
    t0 = time.time()
    log("bench: %d cases x %s%s" % (len(cases), ", ".join(allocs), " (quick)" if ctx.quick else ""))
    for case in cases:
        reps = args.reps or (case.quick_reps if ctx.quick else case.reps)
        run_case(case, allocs, libs, reps, ctx, results)
    elapsed = time.time() - t0
    lines, failures = table(cases, allocs, results)
    slines = sample_table(cases, allocs, results)
    if slines:
        slines = ["", "## Sampling (POOLALLOC_SAMPLE) against plain poolalloc", ""] + slines + [
            "",
            "Each ratio is the median over repetitions of (sampled run / plain poolalloc run "
            "of the same repetition), with the smallest and largest in brackets: above 1 is "
            "what sampling costs (1.010 = 1 %%). The first ratio is the row's own figure (wall "
            "time, us per request, MiB of RSS for the memory rows), the second the CPU time "
            "(user + system) of the process under test, which other load on the machine "
            "disturbs less (micro cases: the case's loop only, all threads; gcc including cc1; "
            "redis the server's; one per case). "
            "A sample is served by glibc, unwound with libunwind and tracked until freed; "
            "POOLALLOC_SAMPLE is the mean number of bytes between samples. Timings on a shared "
            "machine move by more than 1 %%: `make bench-sample` gives the same ratios in "
            "instructions (callgrind), which do not depend on other load." % ()]
    if sample_note:
        slines += ["", sample_note]
    reps_note = sorted({"%s %d" % (c.kind, args.reps or (c.quick_reps if ctx.quick else c.reps))
                        for c in cases})
    notes = ["",
             "Medians over repetitions (%s), the allocators interleaved in each repetition "
             "(order rotated by one each time). **Lower is better in every column** (times, "
             "us per request, MiB). Ratios < 1 mean poolalloc is better; best peer = the best of "
             "glibc, tcmalloc, jemalloc, mimalloc for that row. Peak RSS = the process's VmHWM "
             "(for gcc including cc1; for redis the server's). burst-idle runs poolalloc with "
             "POOLALLOC_FLUSH_MS=500 (the others have no such knob; defaults). Debian's "
             "redis-server links libjemalloc.so.2 itself, so its *glibc* column (no preload) is "
             "redis's own jemalloc. Real programs: wall seconds of the whole process; output "
             "(stdout, stderr, object file, redis-cli replies) compared with glibc's run."
             % ", ".join(reps_note),
             "",
             "Whole run: %.0f s." % elapsed]
    if failures:
        notes += ["", "## FAILED", ""] + failures
    header = machine_header("poolalloc benchmarks" + (" (BENCH_QUICK=1)" if ctx.quick else ""),
                            args.build, ctx.lib_note)
    text = "\n".join(header + lines + notes + slines) + "\n"
    print("\n".join(lines + notes + slines))
    out = os.path.join(ctx.outdir, "results.md" if not args.case else "results-partial.md")
    with open(out, "w") as f:
        f.write(text)
    raw = {"%s/%s" % k: [dict(rep=r.rep, metrics=r.metrics, check=r.check, peak_kib=r.peak_kib,
                             cpu=r.cpu, fail=r.fail) for r in v] for k, v in results.items()}
    with open(out[:-3] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    log("bench: wrote %s (%.0f s)" % (out, elapsed))
    return 0


# ---- fast path ------------------------------------------------------------------------------

# The function of micro.c that runs the pingpong loop; callgrind's counts of it (its
# own instructions, and what the calls it makes cost) split the allocator from the loop.
LOOP_FN = "bench_pingpong_loop"
# tools/bench/floor.c, run in the pingpong's rotation as if it were two more allocators:
# the pop+push pair of a per-CPU rseq stack and nothing else, the floor of any such
# fast path, built twice: FLOOR with pop and push inlined into the loop, FLOOR_CALLED
# (floor-called) with the two as calls through the GOT into libfloorcall.so, as a
# program calls a preloaded malloc and free. Their pairs are cheap, so they run more
# of them (~0.3 s, like the others).
FLOOR = "rseq floor (pop+push only)"
FLOOR_CALLED = "rseq floor, called (pop and push as two calls, as malloc/free are)"
FLOORS = [FLOOR, FLOOR_CALLED]
FLOOR_N = 250000000


def callgrind_counts(micro, lib, n, work):
    """Runs `micro pingpong n` under callgrind. Returns (total instructions of the
    process, all threads; instructions of LOOP_FN itself; inclusive instructions of
    the calls LOOP_FN makes, i.e. its malloc and free with everything they call).
    Raises RuntimeError if valgrind fails or LOOP_FN is not in its output."""
    out = os.path.join(work, "callgrind.out")
    if os.path.exists(out):
        os.unlink(out)
    p = run(["valgrind", "--tool=callgrind", "--dump-instr=no",
             "--callgrind-out-file=" + out, micro, "pingpong", str(n)],
            alloc_env(lib), timeout=600)
    if p.failure():
        raise RuntimeError("valgrind: %s; %s" % (p.failure(), p.tail()))
    total, own, calls = None, 0, 0
    names, fn, found, after_call = {}, None, False, False
    with open(out) as f:
        for line in f:
            if after_call:  # "<position> <inclusive cost>" of the call above
                after_call = False
                if fn == LOOP_FN:
                    calls += int(line.split()[1])
                continue
            # fn=(id) name the first time, fn=(id) after (cfn= lines define ids too).
            m = re.match(r"(c?)fn=(?:\((\d+)\))? ?(.*)$", line.rstrip("\n"))
            if m:
                key = m.group(2) or m.group(3)
                if m.group(3):
                    names[key] = m.group(3).strip()
                if not m.group(1):
                    fn = names.get(key, key)
                    found = found or fn == LOOP_FN
                continue
            if line.startswith("calls="):
                after_call = True
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
            elif fn == LOOP_FN and line[:1] in "0123456789+-*":  # "<position> <self cost>"
                own += int(line.split()[1])
    if total is None:
        raise RuntimeError("no totals in callgrind output")
    if not found:
        raise RuntimeError("no %s in callgrind output (micro stripped?)" % LOOP_FN)
    return total, own, calls


def callgrind_per_pair(micro, lib, work):
    """Instructions per malloc(32)+free pair from two runs, N = 1e6 and 2e6, so that
    start-up and first calls cancel: (allocator only, loop included, the loop's own).
    allocator only = the calls the loop makes, exact and the same on every run; loop
    included = the whole process, as this table gave it before (two identical runs'
    totals differ by up to a few hundred instructions)."""
    t1, own1, calls1 = callgrind_counts(micro, lib, 1000000, work)
    t2, own2, calls2 = callgrind_counts(micro, lib, 2000000, work)
    return (calls2 - calls1) / 1e6, (t2 - t1) / 1e6, (own2 - own1) / 1e6


class PingpongFloorCase(MicroCase):
    """micro pingpong under each allocator, and the FLOORS (tools/bench/floor.c, the
    programs in ctx.floors) in the same rotation. A floor checks itself: its check must
    be the number of pairs asked for; it has no output to compare with glibc's (check
    None). Without rseq (valgrind, glibc.pthread.rseq=0) a floor says so and measures
    nothing: a Result with no metrics and the reason in `skipped`, not a failure."""

    def run(self, alloc, lib, ctx):
        if alloc not in FLOORS:
            return super().run(alloc, lib, ctx)
        prog = ctx.floors[alloc]
        p = run([prog, str(FLOOR_N)], base_env(), timeout=300)
        fail = p.failure()
        if fail:
            return Result(fail="%s; %s (log: %s)" % (
                fail, p.tail(), p.save(ctx.faillog("floor", os.path.basename(prog)))))
        text = p.out.decode(errors="replace").strip()
        kv = dict(w.split("=", 1) for w in text.split() if "=" in w)
        if "value" not in kv:
            r = Result()
            r.skipped = text or "no output"
            return r
        if kv.get("check") != str(FLOOR_N):
            return Result(fail="floor ran %s pairs, not %d" % (kv.get("check"), FLOOR_N))
        return Result({self.name: float(kv["value"])}, cpu=float(kv["cpu_s"]))


def best_peer(vals, allocs):
    """(name, value) of the lowest value among the peers in allocs, or (None, None)."""
    ok = {a: vals[a] for a in allocs if a in PEERS and vals.get(a)}
    if not ok:
        return None, None
    best = min(ok, key=ok.get)
    return best, ok[best]


def fastpath(args, ctx, libs, allocs):
    reps = args.reps or (5 if ctx.quick else 7)
    ping = PingpongFloorCase("pingpong", "malloc(32)+free ping-pong", 30000000, 30000000)
    batch = MicroCase("batch100", "batch of 100", 40000000, 40000000)
    results = {}
    t0 = time.time()
    ctx.quick = False  # the loops must take ~0.3 s even in quick mode
    run_case(ping, allocs + FLOORS, dict(libs, **{f: None for f in FLOORS}), reps, ctx, results)
    run_case(batch, allocs, libs, reps, ctx, results)
    instr, failures, loop = {}, [], set()
    for a in allocs:
        try:
            only, incl, own = callgrind_per_pair(ctx.micro, libs[a], ctx.work)
            instr[a] = (only, incl)
            loop.add(own)
        except RuntimeError as e:
            instr[a] = None
            failures.append("- callgrind under **%s**: %s" % (a, e))
        log("  callgrind %-10s %s instructions/pair (loop included: %s)"
            % (a, fmt(instr[a] and instr[a][0]), fmt(instr[a] and instr[a][1])))
    head = ["allocator", "ns per malloc(32)+free pair (median, min–max)",
            "ns per object, batch of 100 (median, min–max)",
            "callgrind instructions per pair, loop removed (malloc + free only)",
            "callgrind instructions per pair, loop included"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    med = {}
    for a in allocs:
        row = [a]
        for c in (ping, batch):
            rs = results[(c.name, a)]
            bad = [r for r in rs if r.fail]
            failures += failure_lines(c.name, a, bad, len(rs))
            vals = [r.metrics[c.name] for r in rs if not r.fail]
            v = None if bad else median(vals)
            med[(c.name, a)] = v
            row.append("FAILED" if bad else "%s (%s–%s)" % (fmt(v), fmt(min(vals)), fmt(max(vals))))
        row += ["FAILED"] * 2 if instr[a] is None else ["%.1f" % x for x in instr[a]]
        lines.append("| " + " | ".join(row) + " |")
    if "poolalloc" in allocs:
        row = ["**poolalloc / best peer**"]
        for key in ["pingpong", "batch100", 0, 1]:
            vals = {a: (instr[a] and instr[a][key] if key in (0, 1) else med[(key, a)])
                    for a in allocs}
            best, v = best_peer(vals, allocs)
            row.append("%.2f (%s)" % (vals["poolalloc"] / v, best) if vals["poolalloc"] and best
                       else "—")
        lines.append("| " + " | ".join(row) + " |")
    # The floors: their pairs against the best peer's, where the 0.5x target is set.
    unmeasured = []
    best, bv = best_peer({a: med[("pingpong", a)] for a in allocs}, allocs)
    for f in FLOORS:
        rs = results[("pingpong", f)]
        bad = [r for r in rs if r.fail]
        skipped = [r.skipped for r in rs if getattr(r, "skipped", None)]
        failures += failure_lines("floor", f, bad, len(rs))
        vals = [r.metrics["pingpong"] for r in rs if not r.fail and r.metrics]
        if bad:
            cell = "FAILED"
        elif skipped or not vals:
            cell = "— (no rseq, see below)"
            if not vals:
                unmeasured.append(skipped[0] if skipped else "%s: no output" % f)
        else:
            v = median(vals)
            cell = "%s (%s–%s)%s" % (fmt(v), fmt(min(vals)), fmt(max(vals)),
                                     "; %.2f × best peer (%s)" % (v / bv, best) if best else "")
        lines.append("| " + " | ".join([f, cell, "—", "—", "—"]) + " |")
    floor_n = "{:,}".format(FLOOR_N).replace(",", " ")
    loop_note = ("%g instructions" % loop.pop() if len(loop) == 1 else
                 "%s instructions (not the same under every allocator?)"
                 % "/".join("%g" % x for x in sorted(loop)) if loop else "the instructions")
    notes = ["",
             "Time: median of %d runs per allocator, interleaved (order rotated each run), each run "
             "a loop of 30 000 000 pairs or 40 000 000 objects (~0.3 s); loop included. "
             "Instructions: callgrind, at N=2e6 minus at N=1e6, over 1e6, which removes "
             "start-up and first-call costs. *Loop removed*: the inclusive instructions of the "
             "malloc and free calls made by micro's %s, i.e. the allocator alone, counted "
             "exactly (the same on every run); this is how peer figures are usually quoted. "
             "*Loop included*: the whole process's total, as this column was before; it adds "
             "the loop's own %s per pair (argument set-up, the one store into the object, "
             "counter, compare, branch and the two call instructions; micro is built with "
             "-fno-plt, so there are no PLT jumps) and whatever else the process did meanwhile. "
             "Under valgrind glibc does not register rseq, so poolalloc runs its "
             "fallback path there (expected); its rseq path is measured by the time column only. "
             "Lower is better." % (reps, LOOP_FN, loop_note),
             "",
             "*%s* is tools/bench/floor.c, run in the same rotation as the allocators (%d runs "
             "of %s pairs, ~0.3 s): one pop and one push of a pointer on this CPU's stack, each "
             "a complete restartable sequence, in micro's loop with nothing else (no call, size "
             "class, page map, check or counter), so no per-CPU rseq malloc+free can beat it and "
             "the target of a pair in ≤ 0.5 × the best peer is judged against it (no callgrind "
             "figure: valgrind does not implement rseq)." % (FLOOR, reps, floor_n),
             "",
             "*%s* is the same pop and push (the same assembly, floor_rseq.h) as two "
             "functions of libfloorcall.so that floor-called calls through the GOT exactly as "
             "micro calls malloc(32) and free, same rotation and runs: since a preloaded "
             "malloc and free are always two such calls, it is the least any preloaded per-CPU "
             "rseq malloc+free pair can cost here." % FLOOR_CALLED,
             "", "Whole run: %.0f s." % (time.time() - t0)]
    for why in unmeasured:
        notes += ["", "A floor measured nothing: %s" % why]
    if failures:
        notes += ["", "## FAILED", ""] + failures
    header = machine_header("poolalloc fast path", args.build, ctx.lib_note)
    print("\n".join(lines + notes))
    out = os.path.join(ctx.outdir, "fastpath.md")
    with open(out, "w") as f:
        f.write("\n".join(header + lines + notes) + "\n")
    log("bench: wrote %s" % out)
    return 0


# ---- sampling cost in instructions ----------------------------------------------------------


# The sampled path, entered from the allocator: deciding (sample_due), taking a sample
# (sample_alloc: glibc's malloc, unwinding, recording) and forgetting it at its free.
# Their inclusive instructions are what sampling adds, read directly, so they do not
# carry the program's own run-to-run variation (python's hashing of addresses moves
# its total by more than sampling at 2m does).
SAMPLED_PATH = {"sample_due", "sample_alloc", "sample_forget_slow"}
# ... and sample_record where the caller records a block it got itself (realloc),
# not inside sample_alloc, whose inclusive count holds it already.


def callgrind_sampled(argv, env, work, stdin=None, cwd=None, timeout=1800):
    """Runs argv under callgrind (children too). Returns (instructions of every process,
    samples = calls of sample_record, inclusive instructions of SAMPLED_PATH, Proc)."""
    outdir = tempfile.mkdtemp(prefix="cg-", dir=work)
    p = run(["valgrind", "--tool=callgrind", "--trace-children=yes",
             "--callgrind-out-file=" + os.path.join(outdir, "cg.%p")] + argv,
            env, stdin=stdin, timeout=timeout, cwd=cwd)
    total = samples = path = 0
    for name in os.listdir(outdir):
        names, caller, callee, after_calls = {}, None, None, False
        with open(os.path.join(outdir, name)) as f:
            for line in f:
                if after_calls:  # "<position> <inclusive cost>" of the call above
                    if callee in SAMPLED_PATH or (callee == "sample_record" and
                                                  caller != "sample_alloc"):
                        path += int(line.split()[1])
                    after_calls = False
                    continue
                if line.startswith(("totals:", "summary:")):
                    total += int(line.split()[1])
                    continue
                m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
                if m:
                    if m.group(3):
                        names[m.group(2)] = m.group(3).strip()
                    if m.group(1):
                        callee = names.get(m.group(2))
                    else:
                        caller, callee = names.get(m.group(2)), None
                    continue
                if line.startswith("calls=") and callee:
                    after_calls = True
                    if callee == "sample_record":
                        samples += int(line[6:].split()[0])
        os.unlink(os.path.join(outdir, name))
    os.rmdir(outdir)
    return total, samples, path, p


def sample_cost(args, ctx, libs):
    """make bench-sample: for every case that runs a program to its end, callgrind's
    instruction count under poolalloc with sampling on over the count with it off (same
    inputs as --quick), and the instructions per sample. No timing, so no noise from
    other load; what it leaves out is the kernel's share (the system calls a sample
    makes), which the notes state."""
    ctx.quick = True
    cases = [c for c in make_cases(ctx) if c.kind != "memory" and not isinstance(c, RedisCase)]
    if args.case:
        cases = [c for c in cases if c.name in set(args.case.split(","))]
    means = [VARIANTS[v][1]["POOLALLOC_SAMPLE"] for v in VARIANTS]
    lib = libs["poolalloc"]
    head = ["case", "instructions, sampling off"]
    for m in means:
        head += ["%s: samples" % m, "%s: sampled path / all" % m, "%s: all / all off" % m,
                 "%s: sampled path per sample" % m]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    failures = []
    t0 = time.time()
    for case in cases:
        if isinstance(case, MicroCase):
            argv, stdin, cwd = [ctx.micro, case.name, str(case.quick_n)], None, None
            extra = case.env.get("poolalloc", {})
        else:
            argv, stdin, cwd, extra = case.argv, case.stdin, ctx.work, case.env
        got = {}
        for m in ["0"] + means:
            env = alloc_env(lib, dict(extra, POOLALLOC_SAMPLE=m))
            total, n, path, p = callgrind_sampled(argv, env, ctx.work, stdin=stdin, cwd=cwd)
            if p.failure():
                failures.append("- **%s** with POOLALLOC_SAMPLE=%s under callgrind: %s; %s"
                                % (case.name, m, p.failure(), p.tail()))
                total = None
            got[m] = (total, n, path)
            log("  %-13s POOLALLOC_SAMPLE=%-5s %s instructions, %d samples, sampled path %d"
                % (case.name, m, total, n, path))
        off = got["0"][0]
        cells = [case.rows[0][1], "%.4g" % off if off else "FAILED"]
        for m in means:
            total, n, path = got[m]
            if not off or not total:
                cells += ["—", "—", "—", "—"]
                continue
            cells += ["%d" % n, "%.2f %%" % (100.0 * path / total), "%.4f" % (total / off),
                      "%.0f" % (path / n) if n else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["",
             "Instructions counted by callgrind (valgrind %s) in every process of the case, "
             "user space only, for the same inputs as `make bench BENCH_QUICK=1`; poolalloc runs "
             "its locked fallback under valgrind (no rseq), which the sampled path does not "
             "use. samples = calls of sample_record. *sampled path / all*: the inclusive "
             "instructions of sample_due, sample_alloc (glibc's malloc, libunwind, the "
             "tables) and sample_forget_slow over all instructions of the run: what sampling "
             "adds in user space, read directly (the pools' work for a sampled request, ~20 "
             "instructions, is not subtracted). *all / all off*: the two runs' totals, which "
             "also move with the program's own variation (python hashes addresses). Not counted: the kernel's share of a "
             "sample, 4 rt_sigprocmask system calls (glibc's allocator runs with signals "
             "blocked for a sampled block's malloc and free, preload/malloc.c) plus about 8 "
             "more per return address libunwind sees for the first time in a thread; see "
             "tools/bench/README.md for their cost in time. Sampling draws its intervals "
             "from a clock-seeded generator, so the sample counts vary from run to run "
             "(Poisson: +-2/sqrt(n))." % valgrind_version(),
             "", "Whole run: %.0f s." % (time.time() - t0)]
    if failures:
        notes += ["", "## FAILED", ""] + failures
    header = machine_header("poolalloc: what allocation sampling costs, in instructions",
                            args.build, ctx.lib_note)
    print("\n".join(lines + notes))
    out = os.path.join(ctx.outdir, "sample-cost.md" if not args.case else "sample-cost-partial.md")
    with open(out, "w") as f:
        f.write("\n".join(header + lines + notes) + "\n")
    log("bench: wrote %s" % out)
    return 0


def valgrind_version():
    try:
        return subprocess.run(["valgrind", "--version"], capture_output=True,
                              text=True).stdout.strip().replace("valgrind-", "")
    except OSError:
        return "?"


# ---- main -----------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--quick", action="store_true", help="shorter loops, fewer reps (~2 min)")
    ap.add_argument("--case", help="comma-separated case names (default: all)")
    ap.add_argument("--alloc", help="comma-separated allocators (default: all; see --list)")
    ap.add_argument("--no-sample", action="store_true",
                    help="leave out the poolalloc+sample* variants (sampling on)")
    ap.add_argument("--reps", type=int, help="repetitions per case (default: per kind)")
    ap.add_argument("--fastpath", action="store_true", help="the malloc(32)+free fast-path table")
    ap.add_argument("--sample-cost", action="store_true",
                    help="instructions with sampling on / off, per case (callgrind)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    ctx = Ctx()
    ctx.quick = args.quick
    ctx.outdir = os.path.join(ROOT, args.build, "bench")
    ctx.work = os.path.join(ctx.outdir, "work")
    ctx.micro = os.path.join(ctx.outdir, "micro")
    ctx.floors = {FLOOR: os.path.join(ctx.outdir, "floor"),
                  FLOOR_CALLED: os.path.join(ctx.outdir, "floor-called")}
    ctx.redis_script = os.path.join(ctx.work, "redis-check.txt")
    ctx.outputs = {}
    os.makedirs(ctx.work, exist_ok=True)
    for f in os.listdir(ctx.work):
        if f.startswith("failed-"):
            os.unlink(os.path.join(ctx.work, f))
    if args.list:
        for c in make_cases(ctx):
            print("%-13s %-7s %s" % (c.name, c.kind, "; ".join(r[1] for r in c.rows)))
        print("allocators: %s" % ", ".join(ALLOC_NAMES))
        return 0
    if not os.access(ctx.micro, os.X_OK):
        sys.exit("bench.py: %s missing: run `make %s` first" % (ctx.micro, os.path.relpath(ctx.micro, ROOT)))
    if args.fastpath:
        for prog in ctx.floors.values():
            if not os.access(prog, os.X_OK):
                sys.exit("bench.py: %s missing: run `make %s` first"
                         % (prog, os.path.relpath(prog, ROOT)))
    snap = snapshot_poolalloc(args.build, ctx.work)
    if isinstance(snap, str):
        sys.exit("bench.py: %s missing: run `make %s` first" % (snap, os.path.relpath(snap, ROOT)))
    ctx.lib_note = snap[1]
    libs = allocators(args.build, snap[0])
    if args.alloc:
        allocs = args.alloc.split(",")
    else:
        allocs = list(FASTPATH_ALLOCS if args.fastpath else ALLOC_NAMES)
        if args.no_sample:
            allocs = [a for a in allocs if a not in VARIANTS]
    for a in allocs:
        if a not in libs:
            sys.exit("bench.py: no allocator %s (have: %s)" % (a, ", ".join(ALLOC_NAMES)))
        if a != "glibc" and not (libs[a] and os.path.exists(libs[a])):
            sys.exit("bench.py: %s library not found (%s): run `make bench-deps`" % (a, libs[a]))
    if args.fastpath:
        return fastpath(args, ctx, libs, allocs)
    if args.sample_cost:
        return sample_cost(args, ctx, libs)
    note = None
    for v in [a for a in allocs if a in VARIANTS]:
        why = sampling_starts(ctx.micro, libs[v], VARIANTS[v][1]["POOLALLOC_SAMPLE"])
        if why:
            log("bench: %s left out: sampling does not start (%s)" % (v, why))
            note = "%s left out: sampling does not start: %s" % (v, why)
            allocs = [a for a in allocs if a not in VARIANTS]
            break
    return run_all(args, ctx, libs, allocs, note)


if __name__ == "__main__":
    sys.exit(main())
