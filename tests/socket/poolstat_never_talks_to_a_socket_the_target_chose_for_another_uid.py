# SPDX-License-Identifier: MIT
"""A process may name any socket in POOLALLOC_SOCKET. When root asks it,
poolstat checks who serves that socket before it sends a byte: a root-only
service named by another user's process (wrong uid), or by another root
process (wrong pid), gets no request, and poolstat prints one line saying
why it refused, never the service's answer."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

need_root()
d = tmpdir()   # root's, 0700: the service's folder
service = Fake(d + "/service.sock", b"SECRET-ROOT-ANSWER\n")
check(service.where == d + "/service.sock", "service at %s" % service.where)
user("pa-attacker")

# The attacker's process: the library refuses the root folder (a warning),
# the environment still names the service.
attacker = Proc([HOLDER], env={"POOLALLOC_SOCKET": service.where}, preload=" ",
                wrap=as_user("pa-attacker") + ["env", "LD_PRELOAD=" + LIB])
# A root process of its own naming the same service: right uid, wrong pid.
rooted = Proc([HOLDER], env={"POOLALLOC_SOCKET": service.where})

for target in (attacker, rooted):
    for args in ((target.pid,), ("config", target.pid), ("--json", target.pid)):
        p = poolstat(*args)
        check(p.returncode == 1 and p.stderr.startswith("poolstat: ") and p.stderr.count("\n") == 1,
              "poolstat %s: rc %d %r" % (args, p.returncode, p.stderr))
        check("refusing" in p.stderr, "poolstat %s does not say why: %r" % (args, p.stderr))
        check("SECRET" not in p.stdout + p.stderr, "the service's answer was printed: %r" % p.stderr)
        got = service.requests()
        check(not got, "poolstat %s sent %r to a socket of another uid/process" % (args, got))
for target in (attacker, rooted):
    rc, err = target.finish()
    check(rc == 0, "holder exit %d: %s" % (rc, err))
