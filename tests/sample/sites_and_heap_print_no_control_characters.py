# SPDX-License-Identifier: MIT
"""Symbol names and paths are the target's to choose, and reach the terminal
of whoever runs poolstat (root too). A copy of the sites program whose
function site_alpha is renamed, in its symbol table and debug information,
to escape sequences (clear screen, set title, BEL, an 8-bit CSI), run from
a folder whose name holds escape sequences too, by another user (nobody) when
the test runs as root:
- `poolstat sites PID` prints the name with every such byte made '?', and no
  control byte at all but the newlines;
- `poolstat --json sites PID` still carries the name exactly, escaped;
- `poolstat heap PID` (its MAPPED_LIBRARIES section lists the folder) has no
  control byte but the newlines."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403

EVIL = b"\x1b[2J\x1b]0;\x07\x9b"          # as long as b"site_alpha"
SHOWN = b"?[2J?]0;??"
FOLDER = "d\x1b[2J\x1b]0;x\x07"
FOLDER_SHOWN = b"d?[2J?]0;x?"

if os.geteuid() == 0:
    user, d = NOBODY, user_dir(NOBODY, FOLDER)
else:
    user, d = None, os.path.join(tmpdir(), FOLDER)
    os.mkdir(d, 0o700)
h, prog = hostile_sites(d, user=user, patch={b"site_alpha": EVIL})
check(prog.encode() in mapped_paths(h.pid), "maps does not name %r" % prog)

p = poolstat_bytes("sites", h.pid, timeout=35)
check(p is not None, "poolstat sites did not finish within 35 s")
check(p.returncode == 0, "poolstat sites failed: %s" % p.stderr.decode(errors="replace"))
bad = control_bytes(p.stdout) + control_bytes(p.stderr)
check(not bad, "poolstat sites printed control bytes %s:\n%r" % (bad, p.stdout[:1500]))
check(SHOWN in p.stdout, "poolstat sites does not show the renamed site_alpha as %r:\n%s"
      % (SHOWN, p.stdout[:1500].decode(errors="replace")))

p = poolstat_bytes("--json", "sites", h.pid, timeout=35)
check(p is not None and p.returncode == 0, "poolstat --json sites failed")
check(not control_bytes(p.stdout), "poolstat --json sites printed control bytes %s"
      % control_bytes(p.stdout))
try:
    j = json.loads(p.stdout)
except ValueError as e:
    fail("poolstat --json sites is not JSON (%s): %r" % (e, p.stdout[:300]))
check(site_by_function(j, EVIL.decode("latin-1")) is not None,
      "no site has the renamed site_alpha %r as its innermost frame: %r" %
      (EVIL, [x["frames"][0]["function"] for x in j["site_list"] if x["frames"]]))

p = poolstat_bytes("heap", h.pid, timeout=35)
check(p is not None and p.returncode == 0, "poolstat heap failed")
bad = control_bytes(p.stdout) + control_bytes(p.stderr)
check(not bad, "poolstat heap printed control bytes %s" % bad)
check(b"MAPPED_LIBRARIES:" in p.stdout and FOLDER_SHOWN in p.stdout,
      "poolstat heap does not list the folder as %r:\n%s"
      % (FOLDER_SHOWN, p.stdout[-1500:].decode(errors="replace")))

rc, err = h.finish()
check(rc == 0, "sites exit %d: %s" % (rc, err))
