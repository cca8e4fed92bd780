# SPDX-License-Identifier: MIT
"""poolstat --json is one valid JSON object with every figure of the protocol
(json.loads), and poolstat --prom passes a strict Prometheus text-format check
(support/promcheck.py; promtool too when it is installed), every sample
labelled with the process (pid, comm) first, with the per-class metric of the
issue: poolalloc_class_in_use_bytes{pid="N",comm="holder",class="3",size="64"}.
Many processes in one exposition: prometheus_sees_every_process.py."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
import promcheck  # noqa: E402

d = tmpdir()
h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock"})
check(h.cmd("alloc 1000 64") == "ok", "holder did not allocate")
ask_retry(sock_in(d, h.pid), "help")

p = poolstat("--json", h.pid)
check(p.returncode == 0, "poolstat --json: " + p.stderr)
j = json.loads(p.stdout)
for k in ("protocol", "pid", "uptime_ms", "mode", "in_use_bytes", "resident_bytes",
          "passthrough_allocs", "classes", "per_cpu", "config"):
    check(k in j, "json has no %r" % k)
check(j["protocol"] == 1 and j["pid"] == h.pid, "json protocol/pid: %r %r" % (j["protocol"], j["pid"]))
check(j["config"].get("socket_path") == sock_in(d, h.pid), "json config socket_path %r" % j["config"])
check(all(isinstance(c["in_use"], int) for c in j["classes"]), "class figures are not integers")
check(j["per_cpu"] and all("flushes" in c for c in j["per_cpu"]), "per_cpu: %r" % j["per_cpu"])
check(j["local_bytes"] == sum(c["local_bytes"] for c in j["per_cpu"]) or j["cpus"] > len(j["per_cpu"]),
      "local_bytes is not the sum over CPUs")

p = poolstat("--prom", h.pid)
check(p.returncode == 0, "poolstat --prom: " + p.stderr)
errs = promcheck.check(p.stdout)
check(not errs, "prometheus format: " + "; ".join(errs[:5]))
me = 'pid="%d",comm="holder"' % h.pid
check('poolalloc_class_in_use_bytes{%s,class="3",size="64"} ' % me in p.stdout,
      "no class 3 in_use_bytes sample of %s" % me)
samples = [l for l in p.stdout.splitlines() if not l.startswith("#")]
check(samples and all(l.split(" ")[0].split("{")[1:2] and l.split("{")[1].startswith(me)
                      for l in samples),
      "samples without %s first: %r" % (me, [l for l in samples if me not in l][:3]))
for name in ("poolalloc_info", "poolalloc_uptime_seconds", "poolalloc_resident_bytes",
             "poolalloc_passthrough_allocs_total", "poolalloc_class_alloc_cache_total",
             "poolalloc_cpu_flushes_total"):
    check("\n# TYPE %s " % name in p.stdout, "no family %s" % name)
v = [l for l in samples if l.startswith('poolalloc_class_in_use_objects{%s,class="3"' % me)]
check(v and int(v[0].split()[-1]) >= 1000, "class 3 in_use_objects: %r" % v)

if shutil.which("promtool"):
    r = subprocess.run(["promtool", "check", "metrics"], input=p.stdout, capture_output=True, text=True)
    check(r.returncode == 0, "promtool: " + r.stdout + r.stderr)
rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
