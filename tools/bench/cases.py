# SPDX-License-Identifier: MIT
"""cases.py - the benchmark cases and how one runs: a case has a name, its table rows
(key, label, unit) and run(alloc, lib, ctx), which runs it once under one allocator and
returns a Result: the row figures (lower is better), a check that must equal glibc's,
the peak RSS, the CPU time, or why the run failed.

MicroCase runs one case of micro.c, ProgramCase a real program on a generated input,
RedisCase redis-server loaded by redis-benchmark. make_cases() lists them all;
run_case() runs one case a number of times, the allocators interleaved, and marks
every run whose output differs from glibc's.
"""
import hashlib
import os
import re
import signal
import socket
import time

from allocs import alloc_env, base_alloc, base_env, variant_env
from procs import LIVE, reap, run, spawn
from report import log
from workloads import gen_c, gen_redis_script, gen_sql

HERE = os.path.dirname(os.path.abspath(__file__))


class Ctx:
    """What every run of a case needs, set up by bench.py: quick (the --quick sizes),
    outdir (BUILD/bench), work (BUILD/bench/work: the generated inputs, the logs of
    failed runs, the real programs' current folder), micro and floors (the programs'
    paths), redis_script, lib_note (the library's name, build time and hash, for the
    page header), outputs: (case, check) -> the tail of that output, quoted when a
    run's output differs from glibc's, and line_trips: case -> the cross-CPU round
    trip (ns) before each of its repetitions (run_case)."""

    def faillog(self, case, alloc):
        """A fresh path for the whole output of a failed run."""
        for k in range(1, 1000):
            path = os.path.join(self.work, "failed-%s-%s-%d.log" % (case, alloc, k))
            if not os.path.exists(path):
                return path
        return path


class Result:
    """One run of one case under one allocator."""

    def __init__(self, metrics=None, check=None, peak_kib=None, fail=None, cpu=None, proc=None):
        self.metrics = metrics or {}  # row key -> value (lower is better)
        self.check = check            # must equal glibc's
        self.peak_kib = peak_kib
        self.fail = fail              # None or a one-line reason
        self.cpu = cpu                # CPU seconds of the process under test, or None
        # What the kernel did for the whole process under test (rusage; for gcc with
        # cc1, for redis the server): minor faults and system seconds, or None.
        self.faults = proc.ru.ru_minflt if proc else None
        self.sys = proc.ru.ru_stime if proc else None
        self.proc_cpu = proc.cpu if proc else None


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
        # on that includes loading libunwind, which is no part of the case.
        cpu = float(kv["cpu_s"]) if "cpu_s" in kv else p.cpu
        return Result(metrics, check=kv["check"], peak_kib=int(kv["peak_kib"]), cpu=cpu, proc=p)


class ProgramCase(Case):
    """A real program from a Debian package, timed (wall seconds), output compared.
    Five repetitions: with three, a 2-second program's median moved by up to 10 % on
    the shared 2-core VM (python3 1.87 and 1.68 s for the same settings, one run)."""
    kind = "real"
    reps = 5
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
        return Result({self.name: p.wall}, check=check, peak_kib=p.peak_kib, cpu=p.cpu, proc=p)


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
        return Result(metrics, check=check, peak_kib=peak, cpu=server.cpu, proc=server)



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
        MicroCase("mixed", "small objects beside 32 KiB..1 MiB blocks, live set 4 000", 4000000,
                  1000000),
        MicroCase("prodcons", "producer/consumer threads (free on other thread)", 16000000, 5000000),
        MicroCase("bulk", "2 threads: 100 000 objects of 16..224 B alive, then all freed",
                  20000000, 4000000),
        MicroCase("xbulk", "2 threads: batches of 10 000 objects freed by the other thread",
                  20000000, 4000000),
        MicroCase("threads", "short-lived threads (8 at a time, ~300 ops each)", 8000, 2500),
        # START_MS=0: the case ends before the pools' default start, and with them the
        # flush thread, which makes glibc take its lock on every realloc it is passed.
        MicroCase("realloc", "realloc growth 16 B -> 4 MiB in 128 B steps", 200, 60,
                  env={"poolalloc": {"POOLALLOC_START_MS": "0"}}),
        MicroCase("realloc-2t", "the same, with a second (idle) thread alive", 200, 60,
                  env={"poolalloc": {"POOLALLOC_START_MS": "0"}}),
        MicroCase("burst-idle", "burst 256 MiB small objects, free, idle 3 s: RSS settled",
                  256, 256, env=flush, kind="memory", reps=3, quick_reps=1,
                  extra_rows=[("burst-idle:freed_kib", "burst-idle: RSS right after the frees",
                               "MiB")]),
        MicroCase("threads-hold", "200 threads x 50 KiB small objects, all alive: RSS",
                  200, 200, kind="memory", reps=3, quick_reps=1),
        MicroCase("classes-first", "one object of each of 24 sizes 16 B..4 KiB: RSS a size "
                  "beyond the object", 24, 24, kind="memory", reps=3, quick_reps=1),
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
        # Python's default: its own arenas for objects up to 512 bytes, malloc for the rest.
        ProgramCase("python3-pymalloc", "python3 allocation-heavy script (default pymalloc)",
                    ["/usr/bin/python3", py, str(scale)],
                    env={"PYTHONMALLOC": "pymalloc", "PYTHONHASHSEED": "0"}),
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


# ---- repetitions -----------------------------------------------------------------------


def line_round_trip(ctx):
    """ns for one cache line to go to CPU 1 and back now (micro linepong, no preload),
    or None (one CPU, or it failed): on a shared VM it moves between ~100 and ~450 ns
    as the host places the two vCPUs, and every case whose threads share lines with it."""
    p = run([ctx.micro, "linepong", "100000"], alloc_env(None), timeout=60)
    if p.failure():
        return None
    kv = dict(w.split("=", 1) for w in p.out.decode().split() if "=" in w)
    return float(kv["value"]) if "value" in kv else None


def run_case(case, allocs, libs, reps, ctx, results):
    """Runs case reps times, the allocators rotated by one each repetition; before
    each repetition, the machine's cross-CPU round trip into ctx.line_trips[case]."""
    t0 = time.time()
    for rep in range(reps):
        ctx.line_trips.setdefault(case.name, []).append(line_round_trip(ctx))
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
