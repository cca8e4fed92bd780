# SPDX-License-Identifier: MIT
"""After fork a child that lives on starts its own server (once it has lived a
flush period, from its flush thread), on a socket named with its own pid,
answering with its own pid; when the child exits, its socket goes and the parent's stays and answers. Run with the
server's private descriptor table (the normal case), with a shared one (unshare
refused by seccomp, as in many containers), and with a POOLALLOC_SOCKET
without %p (the child then takes PATH.<pid>). With the default socket (the
abstract name @poolalloc-<uid>-<pid>), in both tables, the child has a name
of its own, no thread of the child holds the parent's listener, and the
child's name goes with it."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from common import *  # noqa: E402,F401,F403


def exists(place):
    return place in abstract_listening() if place.startswith("@") else os.path.exists(place)


def run(label, template, wrap=None, table_mode="private"):
    d = tmpdir()
    t = template.replace("DIR", d) if template else None
    h = Proc([HOLDER], env={"POOLALLOC_SOCKET": t, "XDG_RUNTIME_DIR": d}, wrap=wrap)

    def place(pid):
        """A child's place."""
        if not t:
            return sock_name(pid)
        return t.replace("%p", str(pid)) if "%p" in t else "%s.%d" % (t, pid)

    ppath = t.replace("%p", str(h.pid)) if t else sock_name(h.pid)
    out, _ = ask_retry(ppath, "config")
    check("config descriptor_table %s\n" % table_mode in out, "%s: parent table: %r" % (label, out))
    check("config socket_path %s\n" % ppath in out, "%s: parent config %r" % (label, out))
    before = kv(ask(ppath, "stats")[0])
    check(before["pid"] == str(h.pid), "%s: parent socket says pid %s" % (label, before["pid"]))

    line = h.cmd("fork")
    check(line and line.startswith("child "), "%s: no child: %r" % (label, line))
    cpid = int(line.split()[1])
    cpath = place(cpid)
    wait_for(lambda: exists(cpath), 3, "%s: the child's socket %s" % (label, cpath))
    c = kv(ask_retry(cpath, "stats")[0])
    check(c["pid"] == str(cpid), "%s: child socket says pid %s, want %d" % (label, c["pid"], cpid))
    cfg = ask(cpath, "config")[0]
    check("config socket_path %s\n" % cpath in cfg, "%s: child config %r" % (label, cfg))
    p = kv(ask(ppath, "stats")[0])
    check(p["pid"] == str(h.pid), "%s: parent socket now says pid %s" % (label, p["pid"]))
    if not t:
        # The parent's listener is closed in the child, whatever its table.
        inode = abstract_listening()[ppath]
        check(not holds_socket(cpid, inode), "%s: the child holds the parent's listener" % label)
        check(not os.path.exists(os.path.join(d, "poolalloc")), "%s: a folder was made" % label)

    check(h.cmd("endchild") == "ok", "%s: child did not exit cleanly" % label)
    check(not exists(cpath), "%s: the child's socket outlived it" % label)
    check(exists(ppath), "%s: the child's exit removed the parent's socket" % label)
    p = kv(ask(ppath, "stats")[0])
    check(p["pid"] == str(h.pid), "%s: parent after child exit: %r" % (label, p))
    # A second child works the same way.
    line = h.cmd("fork")
    cpid = int(line.split()[1])
    cpath = place(cpid)
    wait_for(lambda: exists(cpath), 3, "%s: second child's socket" % label)
    check(kv(ask_retry(cpath, "stats")[0])["pid"] == str(cpid), "%s: second child pid" % label)
    check(h.cmd("endchild") == "ok", "%s: second child" % label)
    rc, err = h.finish()
    check(rc == 0 and "poolalloc:" not in err, "%s: holder exit %d: %s" % (label, rc, err))
    check(not exists(ppath), "%s: parent's socket left after exit" % label)


run("private table", "DIR/%p.sock")
run("shared table", "DIR/%p.sock", wrap=[NOSHARE], table_mode="shared")
run("fixed path", "DIR/fixed.sock")
run("default name, private table", None)
run("default name, shared table", None, wrap=[NOSHARE], table_mode="shared")
