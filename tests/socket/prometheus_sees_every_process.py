# SPDX-License-Identifier: MIT
"""Prometheus reads every poolalloc process at once. Two live preloaded
programs (one on the default socket, one on its own POOLALLOC_SOCKET; one
named with a quote and a backslash): `poolstat --prom --all` is one valid
exposition (our own parser below: one HELP and one TYPE per family, its
samples together under it, every sample labelled pid and comm, no series
twice; and `promtool check metrics`) holding both processes in every family,
with the escaped name and the version of include/poolalloc.h; a third one
with POOLALLOC_SOCKET=off is left out with one line on stderr (once per
run, also over three rounds of export). `poolstat export --textfile DIR`
writes DIR/poolalloc.prom (by a rename: nothing else is left in DIR),
which node_exporter's textfile collector serves with no error and with both
processes' figures: before every series carried
pid and comm, node_exporter logged "was collected before with the same name
and label values" and kept one process's figures. The export loop rewrites
the file until SIGTERM, then exits 0; a DIR that is not a folder is one line
and exit 1. promtool (Debian `prometheus`) and node_exporter (Debian
`prometheus-node-exporter`) are installed when missing; where they cannot
be, their part prints `skip: ...` with the reason."""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403
import promcheck  # noqa: E402

T0 = time.monotonic()
NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def parse_sample(line):
    """(name, {label: unescaped value}, value text) of a sample line; raises
    ValueError where it breaks the exposition format."""
    m = NAME_RE.match(line)
    if not m:
        raise ValueError("no metric name")
    name, i, labels = m.group(), m.end(), {}
    try:
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                m = LABEL_RE.match(line, i)
                if not m or line[m.end():m.end() + 2] != '="':
                    raise ValueError("bad label at column %d" % i)
                key, i, val = m.group(), m.end() + 2, []
                while line[i] != '"':
                    if line[i] == "\\":
                        if line[i + 1] not in UNESCAPE:
                            raise ValueError("bad escape \\%s" % line[i + 1])
                        val.append(UNESCAPE[line[i + 1]])
                        i += 2
                    else:
                        val.append(line[i])
                        i += 1
                i += 1
                if key in labels:
                    raise ValueError("label %s twice" % key)
                labels[key] = "".join(val)
                if line[i] == ",":
                    i += 1
                elif line[i] != "}":
                    raise ValueError("no , or } after label %s" % key)
            i += 1
    except IndexError:
        raise ValueError("cut short")
    rest = line[i:]
    if not rest.startswith(" ") or not FLOAT_RE.match(rest[1:]):
        raise ValueError("value %r is not one number (and no timestamp)" % rest)
    return name, labels, rest[1:]


def parse(text):
    """Our own reading of an exposition: (families, problems). families maps a
    name to {"help": [...], "type": [...], "samples": [(labels, value)]}."""
    errs, fams, current = [], {}, None
    if not text.endswith("\n"):
        errs.append("does not end with a newline")
    if any(not (32 <= ord(c) < 127) for c in text.replace("\n", "")):
        errs.append("a byte outside printable ASCII")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name, _, arg = line[7:].partition(" ")
            if name != current:
                if name in fams:
                    errs.append("%d: family %s opened a second time" % (n, name))
                current = name
                fams[name] = {"help": [], "type": [], "samples": []}
            if fams[name]["samples"]:
                errs.append("%d: %s after the samples of %s" % (n, line[2:6], name))
            fams[name]["help" if line[2] == "H" else "type"].append(arg)
            continue
        try:
            name, labels, value = parse_sample(line)
        except ValueError as e:
            errs.append("%d: %s: %r" % (n, e, line))
            continue
        if name != current:
            errs.append("%d: sample of %s under family %s" % (n, name, current))
            continue
        fams[name]["samples"].append((labels, value))
    for name, f in fams.items():
        if len(f["help"]) != 1 or len(f["type"]) != 1:
            errs.append("%s: %d HELP and %d TYPE" % (name, len(f["help"]), len(f["type"])))
        if f["type"][:1] not in (["gauge"], ["counter"]):
            errs.append("%s: type %r" % (name, f["type"]))
        if set(map(lambda s: tuple(sorted(s[0])), f["samples"])).__len__() > 1:
            errs.append("%s: samples with different label names" % name)
        series = set()
        for labels, _ in f["samples"]:
            if not labels.get("pid", "").isdigit() or "comm" not in labels:
                errs.append("%s%r: no pid and comm" % (name, labels))
            key = frozenset(labels.items())
            if key in series:
                errs.append("%s%r: the same series twice" % (name, labels))
            series.add(key)
    return fams, errs


def check_both(text, pids, comms, what):
    """text is valid and every family holds a sample of each pid with its comm."""
    fams, errs = parse(text)
    check(not errs, "%s: %s" % (what, "; ".join(errs[:5])))
    errs = promcheck.check(text)
    check(not errs, "%s (promcheck): %s" % (what, "; ".join(errs[:5])))
    check(len(fams) > 40, "%s: only %d families" % (what, len(fams)))
    for name, f in fams.items():
        for pid, comm in zip(pids, comms):
            mine = [s for s in f["samples"] if s[0]["pid"] == str(pid)]
            check(mine, "%s: family %s has no sample of pid %d" % (what, name, pid))
            check(all(s[0]["comm"] == comm for s in mine),
                  "%s: %s of pid %d has comm %r, not %r" % (what, name, pid, mine[0][0]["comm"], comm))
    return fams


def version():
    with open(os.path.join(REPO, "include", "poolalloc.h")) as f:
        return re.search(r'#define POOLALLOC_VERSION "([^"]+)"', f.read()).group(1)


def have(tool, pkg):
    """None if `tool` is on PATH (installed from Debian package pkg if it was
    not), else why not."""
    if shutil.which(tool):
        return None
    if os.geteuid() != 0:
        return "%s is missing and only root can apt-get install %s" % (tool, pkg)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    why = ""
    for first in ([], ["apt-get", "update", "-qq"]):
        left = 70 - (time.monotonic() - T0)
        if left < 10:
            return why or "no time left to install %s" % pkg
        try:
            if first:
                subprocess.run(first, capture_output=True, timeout=left, env=env)
            r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg],
                               capture_output=True, text=True, env=env,
                               timeout=70 - (time.monotonic() - T0))
        except subprocess.TimeoutExpired:
            return "apt-get install %s did not finish in time" % pkg
        except OSError as e:
            return "cannot run apt-get: %s" % e
        if r.returncode == 0 and shutil.which(tool):
            return None
        why = "apt-get install %s: %s" % (pkg, (r.stderr.strip().splitlines() or ["failed"])[-1])
    return why


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def node_exporter(folder, log):
    """(process, port) of node_exporter serving only the textfile collector on
    folder, once it accepts connections."""
    for _ in range(3):   # the free port may be taken meanwhile
        port = free_port()
        p = subprocess.Popen([shutil.which("prometheus-node-exporter"),
                              "--collector.disable-defaults", "--collector.textfile",
                              "--collector.textfile.directory=" + folder,
                              "--web.listen-address=127.0.0.1:%d" % port],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        import atexit
        atexit.register(lambda p=p: p.poll() is None and (p.kill(), p.wait()))
        end = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return p, port
            except OSError:
                time.sleep(0.05)
        if p.poll() is None:
            fail("node_exporter does not listen on port %d after 10 s" % port)
    fail("node_exporter exited at start 3 times; its log is %s" % log.name)


d = tmpdir()
odd = 'hold"er\\x'          # a quote and a backslash: both escaped in label values
shutil.copy(HOLDER, os.path.join(d, odd))
a = Proc([os.path.join(d, odd)])                                  # the default socket
b = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock"})      # its own socket
off = Proc([HOLDER], env={"POOLALLOC_SOCKET": "off"})            # runs poolalloc, no socket
pids, comms = (a.pid, b.pid), (odd, "holder")
check(off.cmd("alloc 10 64") == "ok", "holder %d did not allocate" % off.pid)
for h in (a, b):
    check(h.cmd("alloc 1000 64") == "ok", "holder %d did not allocate" % h.pid)
    wait_for(lambda: poolstat("--prom", h.pid).returncode == 0, within=10,
             what="the socket of process %d" % h.pid)

# --prom --all: one exposition, both processes in every family.
p = poolstat("--prom", "--all", timeout=60)
check(p.returncode == 0, "poolstat --prom --all: exit %d: %s" % (p.returncode, p.stderr))
fams = check_both(p.stdout, pids, comms, "--prom --all")
for pid in pids:
    info = [s[0] for s in fams["poolalloc_info"]["samples"] if s[0]["pid"] == str(pid)]
    check(info[0].get("version") == version() and info[0].get("protocol") == "1",
          "poolalloc_info of %d: %r (version %s)" % (pid, info[0], version()))
    held = [float(v) for l, v in fams["poolalloc_class_in_use_objects"]["samples"]
            if l["pid"] == str(pid) and l["size"] == "64"]
    check(held and held[0] >= 1000, "pid %d holds %r objects of 64 bytes, not 1000" % (pid, held))
check('comm="hold\\"er\\\\x"' in p.stdout, "the name is not escaped as the format says")
told = [l for l in p.stderr.splitlines() if "pid %d " % off.pid in l]
check(len(told) == 1 and "POOLALLOC_SOCKET=off" in told[0] and 'pid="%d"' % off.pid not in p.stdout,
      "the process without a socket: %r" % told)

why = have("promtool", "prometheus")
if why:
    print("skip: promtool part: " + why)
else:
    r = subprocess.run(["promtool", "check", "metrics"], input=p.stdout, capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0, "promtool check metrics: " + (r.stdout + r.stderr)[:500])

# export -n 1: the file, written by a rename, read by node_exporter.
tf = os.path.join(d, "textfile")
os.mkdir(tf)
r = poolstat("export", "--textfile", tf, "-n", "3", "--interval", "0.05", timeout=60)
check(r.returncode == 0, "poolstat export -n 3: exit %d: %s" % (r.returncode, r.stderr))
told = [l for l in r.stderr.splitlines() if "pid %d " % off.pid in l]
check(len(told) == 1, "export said %d times that it left out pid %d: %r" % (len(told), off.pid, told))
check(os.listdir(tf) == ["poolalloc.prom"], "the folder holds %r" % os.listdir(tf))
st = os.stat(os.path.join(tf, "poolalloc.prom"))
check(stat.S_IMODE(st.st_mode) == 0o644, "poolalloc.prom mode %o, not 644" % st.st_mode)
with open(os.path.join(tf, "poolalloc.prom")) as f:
    check_both(f.read(), pids, comms, "poolalloc.prom")

why = have("prometheus-node-exporter", "prometheus-node-exporter")
if why:
    print("skip: node_exporter part: " + why)
else:
    with open(os.path.join(d, "node_exporter.log"), "w+") as log:
        ne, port = node_exporter(tf, log)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as u:
            scraped = u.read().decode()
        ne.kill()
        ne.wait()
        log.seek(0)
        said = log.read()
    check("\nnode_textfile_scrape_error 0\n" in scraped,
          "node_exporter: %r" % [l for l in scraped.splitlines() if "textfile" in l])
    bad = [l for l in said.splitlines()
           if "level=error" in l.lower() or "collected before" in l]
    check(not bad, "node_exporter logged an error: " + (bad or [""])[0][:500])
    for pid, comm in zip(pids, comms):
        for name in ("poolalloc_info", "poolalloc_in_use_bytes", "poolalloc_class_in_use_objects",
                     "poolalloc_cpu_allocs_total"):
            check(re.search(r'^%s\{.*pid="%d"' % (name, pid), scraped, re.M),
                  "node_exporter serves no %s of pid %d" % (name, pid))

# The loop: rewrites the file every interval until SIGTERM, then exit 0.
loop = os.path.join(d, "loop")
os.mkdir(loop)
target = os.path.join(loop, "poolalloc.prom")
e = subprocess.Popen([POOLSTAT, "export", "--textfile", loop, "--interval", "0.1"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
wait_for(lambda: os.path.exists(target), within=20, what="the first poolalloc.prom")
first = open(target).read()
wait_for(lambda: open(target).read() != first, within=20, what="poolalloc.prom rewritten")
e.send_signal(signal.SIGTERM)
try:
    rc = e.wait(20)
except subprocess.TimeoutExpired:
    e.kill()
    fail("export did not end within 20 s of SIGTERM")
check(rc == 0, "export after SIGTERM: exit %d: %s" % (rc, e.stderr.read().decode()))
check(os.listdir(loop) == ["poolalloc.prom"], "after the loop the folder holds %r" % os.listdir(loop))
check_both(open(target).read(), pids, comms, "poolalloc.prom of the loop")

# Not a folder: one line, exit 1, nothing written.
r = poolstat("export", "--textfile", os.path.join(loop, "poolalloc.prom"), "-n", "1")
check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "not a directory" in r.stderr,
      "export into a file: exit %d, %r" % (r.returncode, r.stderr))

for h in (a, b, off):
    rc, err = h.finish()
    check(rc == 0, "holder exit %d: %s" % (rc, err))
