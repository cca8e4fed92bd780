# SPDX-License-Identifier: MIT
"""poolstat reads its command line like a Unix tool: options before or after
the subcommand and the target, `--` ends them, --help, `help SUBCOMMAND` and
`SUBCOMMAND --help`, --version. Every usage mistake gets one line on stderr
(`poolstat: what is wrong; what to do`, printable, no usage dump) and exit
status 2. `poolstat sites` without addr2line on PATH says so once and names
frames by address."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

d = tmpdir()
here = tmpdir()   # poolstat's working folder: no file named like a word below
problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)
        print("problem: " + msg)


def run(*args, env=None):
    return subprocess.run([POOLSTAT] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=30, cwd=here, env=clean_env(**(env or {})))


h = Proc([HOLDER], env={"POOLALLOC_SOCKET": d + "/%p.sock", "POOLALLOC_SAMPLE": 1})
ask_retry(sock_in(d, h.pid), "help")
check(h.cmd("alloc 100 64") == "ok", "holder did not allocate")
pid = str(h.pid)

# Each mistake: (argv, what its one line starts with).
mistakes = [
    (["-w"], "poolstat: -w needs a TARGET (a pid or a socket path); run poolstat alone to list them"),
    (["-w", "-d"], "poolstat: -d needs a value in seconds (e.g. -d 2)"),
    ([pid, "-w", "--delay"], "poolstat: --delay needs a value in seconds (e.g. --delay 2)"),
    (["-n", "5", "sites", pid], "poolstat: -n applies to -w"),
    (["-n", "5", pid], "poolstat: -n applies to -w"),
    ([pid, "-s", "c"], "poolstat: -s applies to -w"),
    (["config", pid, "--json"], "poolstat: --json applies to show and sites, not to config"),
    (["flush", pid, "-w"], "poolstat: -w applies to show, not to flush"),
    (["--foo"], "poolstat: unknown option --foo; see poolstat --help"),
    ([pid, "--foo=1"], "poolstat: unknown option --foo; see poolstat --help"),
    ([pid, "-x"], "poolstat: unknown option -x; see poolstat --help"),
    ([pid, "--json=yes"], "poolstat: --json takes no value"),
    ([pid, "x"], "poolstat: too many arguments: 'x'"),
    (["flush", pid, pid], "poolstat: too many arguments: '%s'" % pid),
    (["x"], "poolstat: unknown subcommand 'x'"),
    (["help", "frobnicate"], "poolstat: unknown subcommand 'frobnicate'"),
    (["12ab"], "poolstat: '12ab' is neither a process id nor a socket path"),
    (["--json", "--prom", pid], "poolstat: --json and --prom do not go together"),
    (["-w", pid, "--prom"], "poolstat: -w and --prom do not go together"),
    (["--all"], "poolstat: --all applies to --prom"),
    (["--prom", "--all", pid], "poolstat: --prom --all takes no TARGET"),
    (["--prom"], "poolstat: --prom needs a TARGET"),
    (["flush"], "poolstat: flush needs a TARGET"),
    (["sites", "--json"], "poolstat: sites needs a TARGET"),
    (["export"], "poolstat: export needs --textfile DIR"),
    (["export", "--textfile", d, pid], "poolstat: export takes no TARGET"),
    ([pid, "--textfile", d], "poolstat: --textfile applies to export"),
    (["-d", "0", "-w", pid], "poolstat: -d wants seconds between 0.05 and 3600, not '0'"),
    (["-w", pid, "-n", "0"], "poolstat: -n wants a count >= 1, not '0'"),
    (["-w", pid, "-s", "z"], "poolstat: -s wants one of u n c a f d h s, not 'z'"),
    # What the user typed comes back printable: no escape reaches the terminal.
    (["\x1b[2Jx"], "poolstat: unknown subcommand '?[2Jx'"),
    (["--\x1b]0;t\x07"], "poolstat: unknown option --?]0;t?"),
]
for argv, first in mistakes:
    p = run(*argv)
    shown = " ".join(argv)
    lines = p.stderr.split("\n")
    expect(p.returncode == 2, "poolstat %r: exit %d, not 2: %r" % (shown, p.returncode, p.stderr))
    expect(len(lines) == 2 and lines[1] == "", "poolstat %r: not one line on stderr: %r" %
           (shown, p.stderr))
    expect(lines[0].startswith(first), "poolstat %r: %r, not %r..." % (shown, lines[0], first))
    expect("usage" not in p.stderr and p.stdout == "", "poolstat %r: a usage dump: %r %r" %
           (shown, p.stdout, p.stderr))
    expect(not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", p.stderr), "poolstat %r: raw control "
           "characters on stderr: %r" % (shown, p.stderr))

# Options after the target and the subcommand, `--`, and the old order.
for argv in ([pid, "--json"], ["--json", pid], ["--json", "--", pid]):
    p = run(*argv)
    try:
        j = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        j = None
    expect(j is not None and j.get("pid") == h.pid, "poolstat %s: rc %d, not the target's JSON: "
           "%r %r" % (" ".join(argv), p.returncode, p.stdout[:200], p.stderr))
p = run(pid, "--json", env={"POSIXLY_CORRECT": 1})
expect(p.returncode == 0 and p.stdout.startswith("{"), "POSIXLY_CORRECT: poolstat PID --json: "
       "rc %d %r" % (p.returncode, p.stderr))
for argv in (["sites", pid, "--json"], ["--json", "sites", pid], ["sites", "--json", pid]):
    p = run(*argv)
    try:
        j = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        j = None
    expect(j is not None and "site_list" in j, "poolstat %s: rc %d, not the sites JSON: %r %r" %
           (" ".join(argv), p.returncode, p.stdout[:200], p.stderr))
p = run("--", pid)
expect(p.returncode == 0 and p.stdout.startswith("pid %s " % pid), "poolstat -- PID: rc %d %r %r" %
       (p.returncode, p.stdout[:100], p.stderr))
p = run("show", pid, "-w", "-n", "2", "-d", "0.05")
frames = [l for l in p.stdout.splitlines() if l.startswith("poolstat %s " % pid)]
expect(p.returncode == 0 and len(frames) == 2, "poolstat show PID -w -n 2 -d 0.05: rc %d, %d "
       "frames: %r" % (p.returncode, len(frames), p.stderr))
p = run("flush", pid)
expect(p.returncode == 0 and p.stdout.startswith("flushed pid %s:" % pid), "poolstat flush PID: "
       "rc %d %r" % (p.returncode, p.stderr))

# Help: the whole usage on stdout, or one subcommand's.
p = run("--help")
expect(p.returncode == 0 and p.stdout.startswith("usage: poolstat") and p.stderr == "" and
       all(w in p.stdout for w in ("flush", "config", "sites", "heap", "export", "--version",
                                    "Exit status: 0 ok; 1 the target failed")),
       "poolstat --help: rc %d %r" % (p.returncode, p.stdout[:300]))
for argv in (["help", "flush"], ["flush", "--help"], ["flush", "-h"]):
    p = run(*argv)
    out = p.stdout
    expect(p.returncode == 0 and "poolstat flush TARGET" in out and "heap" not in out and
           "export" not in out and len(out.splitlines()) < 12 and p.stderr == "",
           "poolstat %s: rc %d, not flush's usage alone: %r" % (" ".join(argv), p.returncode, out))

# --version: the version of include/poolalloc.h and the protocol of wire/proto.h.
version = re.search(r'^#define POOLALLOC_VERSION "([^"]+)"',
                    open(os.path.join(REPO, "include", "poolalloc.h")).read(), re.M).group(1)
proto = re.search(r"^#define PROTO_VERSION (\d+)",
                  open(os.path.join(REPO, "wire", "proto.h")).read(), re.M).group(1)
for flag in ("--version", "-V"):
    p = run(flag)
    expect(p.returncode == 0 and p.stdout == "poolstat %s (protocol %s)\n" % (version, proto),
           "poolstat %s: rc %d %r (want poolstat %s (protocol %s))" %
           (flag, p.returncode, p.stdout + p.stderr, version, proto))

# sites with no addr2line on PATH: one line saying so, frames by address.
empty = tmpdir()
p = run("sites", pid, env={"PATH": empty})
frame_lines = [l for l in p.stdout.splitlines()
               if l.startswith("        ") and "(the stack" not in l]   # not "(the stack of site N above)"
expect(p.returncode == 0 and p.stderr == "poolstat: addr2line not found (Debian package binutils): "
       "frames are shown by address\n", "sites without addr2line: rc %d, stderr %r" %
       (p.returncode, p.stderr))
expect(frame_lines and all(l.strip().startswith("0x") for l in frame_lines),
       "sites without addr2line: frames not by address: %r" % frame_lines[:5])
p = run("sites", pid)
expect(p.returncode == 0 and "addr2line" not in p.stderr, "sites with addr2line: rc %d %r" %
       (p.returncode, p.stderr))

rc, err = h.finish()
check(rc == 0, "holder exit %d: %s" % (rc, err))
check(not problems, "%d problem(s), the first: %s" % (len(problems), problems[0] if problems else ""))
