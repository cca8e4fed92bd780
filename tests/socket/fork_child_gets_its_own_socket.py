"""After fork a child that lives on starts its own server (once it has lived a
flush period, from its flush thread), on a socket named with its own pid,
answering with its own pid; when the child exits, its socket goes and the parent's stays and answers. Run with the
server's private descriptor table (the normal case), with a shared one (unshare
refused by seccomp, as in many containers), and with a POOLALLOC_SOCKET
without %p (the child then takes PATH.<pid>)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))
from common import *  # noqa: E402,F401,F403


def run(label, template, wrap=None, table_mode="private"):
    d = tmpdir()
    t = template.replace("DIR", d)
    h = Proc([HOLDER], env={"POOLALLOC_SOCKET": t}, wrap=wrap)
    ppath = t.replace("%p", str(h.pid))
    out, _ = ask_retry(ppath, "config")
    check("config descriptor_table %s\n" % table_mode in out, "%s: parent table: %r" % (label, out))
    before = kv(ask(ppath, "stats")[0])
    check(before["pid"] == str(h.pid), "%s: parent socket says pid %s" % (label, before["pid"]))

    line = h.cmd("fork")
    check(line and line.startswith("child "), "%s: no child: %r" % (label, line))
    cpid = int(line.split()[1])
    cpath = t.replace("%p", str(cpid)) if "%p" in t else "%s.%d" % (t, cpid)
    wait_for(lambda: os.path.exists(cpath), 3, "%s: the child's socket %s" % (label, cpath))
    c = kv(ask_retry(cpath, "stats")[0])
    check(c["pid"] == str(cpid), "%s: child socket says pid %s, want %d" % (label, c["pid"], cpid))
    cfg = ask(cpath, "config")[0]
    check("config socket_path %s\n" % cpath in cfg, "%s: child config %r" % (label, cfg))
    p = kv(ask(ppath, "stats")[0])
    check(p["pid"] == str(h.pid), "%s: parent socket now says pid %s" % (label, p["pid"]))

    check(h.cmd("endchild") == "ok", "%s: child did not exit cleanly" % label)
    check(not os.path.exists(cpath), "%s: the child's socket outlived it" % label)
    check(os.path.exists(ppath), "%s: the child's exit removed the parent's socket" % label)
    p = kv(ask(ppath, "stats")[0])
    check(p["pid"] == str(h.pid), "%s: parent after child exit: %r" % (label, p))
    # A second child works the same way.
    line = h.cmd("fork")
    cpid = int(line.split()[1])
    cpath = t.replace("%p", str(cpid)) if "%p" in t else "%s.%d" % (t, cpid)
    wait_for(lambda: os.path.exists(cpath), 3, "%s: second child's socket" % label)
    check(kv(ask_retry(cpath, "stats")[0])["pid"] == str(cpid), "%s: second child pid" % label)
    check(h.cmd("endchild") == "ok", "%s: second child" % label)
    rc, err = h.finish()
    check(rc == 0 and "poolalloc:" not in err, "%s: holder exit %d: %s" % (label, rc, err))
    check(not os.path.exists(ppath), "%s: parent's socket left after exit" % label)


run("private table", "DIR/%p.sock")
run("shared table", "DIR/%p.sock", wrap=[NOSHARE], table_mode="shared")
run("fixed path", "DIR/fixed.sock")
