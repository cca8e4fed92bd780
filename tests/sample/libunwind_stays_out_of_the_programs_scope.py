# SPDX-License-Identifier: MIT
"""libunwind is loaded privately (dlopen RTLD_LOCAL), not as a dependency of
the library: libunwind.so.8 also defines _Unwind_RaiseException and the rest
of the C++ unwinding ABI (and a weak backtrace), and in the global scope it
would take exceptions away from libgcc_s in programs that load C++ code
later. scope.c, which does not link libunwind, finds libunwind.so.8 mapped
(sampling is on) but none of its symbols, and backtrace() still glibc's."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

env = clean_env(POOLALLOC_SAMPLE=4096, POOLALLOC_SOCKET="off", LD_PRELOAD=LIB)
p = subprocess.run([SCOPE], capture_output=True, text=True, env=env, timeout=30)
check(p.returncode == 0, "scope exit %d: %s %s" % (p.returncode, p.stdout, p.stderr))
out = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
check(out.get("libunwind_mapped") == "1", "libunwind.so.8 is not mapped: sampling did not start? %r" % out)
check(out.get("unw_backtrace") == "none", "unw_backtrace is visible to the program: %r" % out)
check(out.get("_Unwind_RaiseException") in ("none",) or "libunwind" not in out["_Unwind_RaiseException"],
      "_Unwind_RaiseException resolves to %r" % out.get("_Unwind_RaiseException"))
check("libc.so" in out.get("backtrace", ""), "backtrace resolves to %r" % out.get("backtrace"))
