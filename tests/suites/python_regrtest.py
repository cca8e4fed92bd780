#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""python_regrtest.py - CPython's own regression tests under the allocator.

usage: python_regrtest.py LIB OUTDIR short|full

Runs a subset of `python3 -m test` (Debian's libpython3.11-testsuite; installed with
apt-get when missing) twice, at the same time: once on glibc and once under
LD_PRELOAD=LIB, both with PYTHONMALLOC=malloc so that Python's objects go through the
malloc being tested (without it pymalloc serves them and the allocator only sees arenas).
Each run has a per-module timeout (regrtest --timeout) and an overall one.

A run's failures are its bad modules (any status but passed / skipped / ran no tests,
so crashed, timed out, env changed and failed count) and its failed test cases (from
--junit-xml). The verdict compares the two runs (regressions() below): a regression is
  - a module bad under the preload and good under glibc, or one that crashed, timed out
    or was interrupted under the preload but only failed on glibc (a glibc failure does
    not excuse a crash);
  - a test case that failed under the preload and not on glibc, unless its module was
    bad on glibc and the case did not pass there (it may never have run there); a case
    that passed on glibc and failed under the preload is always one.
Each regression's module is run again, alone, under both, and judged by the same rule;
it is a FAIL if the rerun confirms it, else it is reported as FLAKY (the first run and
its log are named) and not counted. Failures shared with glibc (a test that cannot run
in this container) are listed, never counted.

Output: "PASS python-regrtest[MODE] ..." or "FAIL python-regrtest[MODE]: ..." plus details,
logs in OUTDIR. Exit 0 on PASS, 1 on FAIL, 2 on a setup error.
"""
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

PY = "/usr/bin/python3"

# Allocation-heavy, fast, not timing-sensitive: containers (dict, list, set, deque,
# OrderedDict), strings and bytes, the parsers that build many small objects (json, re,
# pickle, marshal, xml.etree, ast/compile), the cycle collector and weak references,
# threads (object hand-off between threads) and subprocess (fork+exec of preloaded
# children). About 1 minute on 2 cores for both runs at once.
SHORT = """
test_dict test_list test_set test_unicode test_bytes test_json test_pickle test_re
test_collections test_itertools test_sort test_gc test_weakref test_threading
test_subprocess test_deque test_long test_ordered_dict test_functools test_xml_etree
test_marshal test_ast test_tuple test_heapq
""".split()

# The short set and much more: numeric and text libraries, compression, the interpreter's
# own machinery, I/O, mmap, ctypes, tracemalloc, logging, asyncio, concurrent.futures and
# multiprocessing (forkserver: fork storms of preloaded processes).
FULL = SHORT + """
test_array test_struct test_memoryview test_codecs test_string test_format
test_fstring test_difflib test_textwrap test_csv test_minidom test_email test_html
test_htmlparser test_pprint test_reprlib test_base64 test_binascii test_hashlib test_hmac
test_zlib test_bz2 test_lzma test_gzip test_zipfile test_tarfile test_decimal
test_fractions test_statistics test_random test_math test_float test_int test_complex
test_enum test_dataclasses test_typing test_copy test_descr test_class test_generators
test_coroutines test_contextlib test_exceptions test_traceback test_inspect test_compile
test_grammar test_tokenize test_peepholer test_scope test_iter test_range test_userdict
test_userlist test_userstring test_weakset test_bisect test_operator test_abc
test_property test_super test_sys test_io test_mmap test_tempfile test_shutil test_os
test_ctypes test_tracemalloc test_queue test_logging test_argparse
test_configparser test_shelve test_dbm test_uuid test_ipaddress test_urlparse
test_asyncio test_concurrent_futures test_multiprocessing_forkserver
""".split()

SETTINGS = {
    # mode: (modules, -j per run, per-module timeout s, overall timeout s, extra args)
    "short": (SHORT, 2, 60, 300, []),
    "full": (FULL, 3, 300, 1500, ["-u", "cpu,subprocess"]),
}

DETAILS = {}  # module -> what regrtest said after its status ("(Exit code 1)", ...)
HUNG = {}     # module -> the test it hung in, from a --timeout stack dump
LINE = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\] (test_\w+) (passed|failed|crashed|skipped|"
                  r"interrupted|timed out|ran no tests)(.*)$")
GOOD = {"passed", "skipped", "ran no tests"}
SEVERE = {"crashed", "timed out", "interrupted"}


def say(*a):
    print(*a, flush=True)


def ensure_testsuite():
    if os.path.exists("/usr/lib/python3.11/test/test_dict.py"):
        return True
    if os.geteuid() != 0:
        say("SKIP python-regrtest: libpython3.11-testsuite is missing "
            "(run as root, or: sudo apt-get install libpython3.11-testsuite)")
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "libpython3.11-testsuite"],
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.exists("/usr/lib/python3.11/test/test_dict.py")


def run_env(lib):
    """The environment of a run: PYTHONMALLOC=malloc, and LD_PRELOAD=lib when lib is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "PYTHON"))}
    env["PYTHONMALLOC"] = "malloc"
    env["LC_ALL"] = "C.UTF-8"
    if lib:
        env["LD_PRELOAD"] = lib
    return env


def preload_takes(lib):
    """'' if a python3 started like the preloaded run maps lib, else why not.
    (The loader only warns when it cannot preload; the run would then pass on glibc.)"""
    r = subprocess.run([PY, "-c", "import sys; sys.stdout.write(open('/proc/self/maps').read())"],
                       env=run_env(lib), capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or lib not in r.stdout:
        return f"python3 under LD_PRELOAD={lib} does not map it: {r.stderr.strip()[:200]!r}"
    return ""


def start_run(tag, lib, modules, jobs, per_test, extra, outdir):
    """Starts one regrtest run; returns (Popen, out path, xml path)."""
    env = run_env(lib)
    out = os.path.join(outdir, f"{tag}.out")
    xml = os.path.join(outdir, f"{tag}.xml")
    for f in (out, xml):
        if os.path.exists(f):
            os.unlink(f)
    work = os.path.join(outdir, f"{tag}.cwd")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cmd = [PY, "-m", "test", f"-j{jobs}", f"--timeout={per_test}", "--junit-xml", xml,
           *extra, *modules]
    with open(out, "w") as f:
        f.write(("LD_PRELOAD=" + lib + " " if lib else "") + "PYTHONMALLOC=malloc " +
                " ".join(cmd) + "\n")
    p = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL,
                         stdout=open(out, "a"), stderr=subprocess.STDOUT,
                         start_new_session=True)
    return p, out, xml


def finish(p, deadline):
    try:
        return p.wait(timeout=max(1, deadline - time.time()))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        p.wait()
        return None


def module_seconds(xml):
    """Seconds each module's test cases took, from a --junit-xml file."""
    secs = {}
    try:
        for c in ET.parse(xml).getroot().iter("testcase"):
            m = module_of(c.get("name", ""))
            secs[m] = secs.get(m, 0.0) + float(c.get("time") or 0)
    except (OSError, ET.ParseError, ValueError):
        pass
    return secs


def results(out, xml):
    """(module status dict, set of failed test case ids, number of test cases, set of
    passed test case ids)."""
    mods = {}
    with open(out, errors="replace") as f:
        text = f.read()
    for line in text.splitlines():
        m = LINE.search(line)
        if m:
            mods[m.group(1)] = m.group(2)
            detail = m.group(3).split(" -- running")[0].strip()
            if detail and m.group(2) not in GOOD:
                DETAILS[m.group(1)] = detail
    # A module killed by regrtest's --timeout dumps its stacks: name the test it was in.
    for m in re.finditer(r"^Timeout \((\S+)\)!\n((?:.*\n){1,80})", text, re.M):
        where = re.search(r'File "[^"]*/(test_\w+)\.py", line (\d+) in (test\w*)', m.group(2))
        if where:
            HUNG[where.group(1)] = f"hung in {where.group(3)} (line {where.group(2)}), " \
                                   f"killed by the {m.group(1)} timeout"
    # Modules the summary lists as failed (covers any line we did not parse).
    for m in re.finditer(r"^\d+ tests? failed:\n((?:    .*\n)+)", text, re.M):
        for name in m.group(1).split():
            if mods.get(name, "passed") in GOOD:
                mods[name] = "failed"
    cases, failed, passed = 0, set(), set()
    if os.path.exists(xml):
        try:
            root = ET.parse(xml).getroot()
            for c in root.iter("testcase"):
                cases += 1
                if any(ch.tag in ("failure", "error") for ch in c):
                    failed.add(c.get("name"))
                elif not any(ch.tag == "skipped" for ch in c):
                    passed.add(c.get("name"))
        except ET.ParseError as e:
            mods["(junit xml)"] = f"failed: unreadable {e}"
    return mods, failed, cases, passed


def bad_modules(mods):
    return {m for m, s in mods.items() if s not in GOOD}


def regressions(pre, gli):
    """(modules, test cases) that are bad under the preload and not on glibc, from two
    results(); the rule is in the module's docstring."""
    p_mods, p_failed = pre[0], pre[1]
    g_mods, g_failed, g_passed = gli[0], gli[1], gli[3]
    g_bad = bad_modules(g_mods)
    mods = {m for m in bad_modules(p_mods)
            if m not in g_bad or (p_mods[m] in SEVERE and g_mods.get(m) not in SEVERE)}
    cases = {c for c in p_failed - g_failed if module_of(c) not in g_bad or c in g_passed}
    return mods, cases


def module_of(case):
    parts = case.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "test" else parts[0]


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SETTINGS:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    lib, outdir, mode = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    name = f"python-regrtest[{mode}]"
    if not os.path.exists(lib):
        say(f"FAIL {name}: {lib} does not exist")
        return 2
    os.makedirs(outdir, exist_ok=True)
    outdir = os.path.abspath(outdir)
    if not ensure_testsuite():
        return 2
    why = preload_takes(lib)
    if why:
        say(f"FAIL {name}: {why}")
        return 2
    modules, jobs, per_test, overall, extra = SETTINGS[mode]
    t0 = time.time()
    deadline = t0 + overall
    runs = {}
    for tag, l in (("glibc", None), ("preload", lib)):
        runs[tag] = start_run(f"{mode}-{tag}", l, modules, jobs, per_test, extra, outdir)
    rc = {tag: finish(r[0], deadline) for tag, r in runs.items()}
    res = {tag: results(r[1], r[2]) for tag, r in runs.items()}
    dt = time.time() - t0
    for tag in rc:
        if rc[tag] is None:
            say(f"FAIL {name}: the {tag} run did not finish in {overall} s "
                f"(log {runs[tag][1]})")
            return 1
    with open(runs["preload"][1], errors="replace") as f:
        if "cannot be preloaded" in f.read():
            say(f"FAIL {name}: the loader could not preload {lib} in some process of the "
                f"preloaded run (log {runs['preload'][1]})")
            return 1
    g_mods, g_failed, g_cases, _ = res["glibc"]
    p_mods, p_failed, p_cases, _ = res["preload"]
    if not p_mods or p_cases == 0:
        say(f"FAIL {name}: the preloaded run reported no results (log {runs['preload'][1]})")
        return 1
    if len(p_mods) < len(modules) * 0.9:
        say(f"FAIL {name}: the preloaded run reported only {len(p_mods)} of {len(modules)} "
            f"modules (log {runs['preload'][1]})")
        return 1
    # Regressions: bad under the preload, not (as badly) on glibc.
    reg_mods, reg_cases = regressions(res["preload"], res["glibc"])
    suspects = sorted(reg_mods | {module_of(c) for c in reg_cases})
    confirmed, flaky = [], []
    g_secs = module_seconds(runs["glibc"][2])
    for m in suspects:
        # Alone, one after the other, so that load from the other run plays no part; a
        # module that hangs under the preload costs 4 times its glibc time (>= 2 min),
        # not the full per-module timeout.
        re_to = int(min(per_test, max(120, 4 * g_secs.get(m, per_test))))
        re_res = {}
        for tag, l in (("glibc", None), ("preload", lib)):
            p, out, xml = start_run(f"{mode}-rerun-{m}-{tag}", l, [m], 1, re_to, extra,
                                    outdir)
            if finish(p, time.time() + re_to + 60) is None:
                re_res[tag] = ({m: "timed out"}, set(), 0, set())
            else:
                re_res[tag] = results(out, xml)
        rm, rc_ = regressions(re_res["preload"], re_res["glibc"])
        (confirmed if rm or rc_ else flaky).append(m)
    shared = sorted((bad_modules(p_mods) & bad_modules(g_mods)) - reg_mods)
    summary = (f"{len(modules)} modules, {p_cases} test cases under the preload "
               f"({g_cases} on glibc), {len(p_failed)} failed test cases under the preload, "
               f"{len(g_failed)} on glibc, {dt:.0f} s")
    for m in flaky:
        cases = sorted(c for c in reg_cases if module_of(c) == m)
        say(f"FLAKY {name}: {m} was {p_mods.get(m, 'bad in ' + str(len(cases)) + ' cases')} "
            f"under the preload only, but passed when run again alone "
            f"(first run: {runs['preload'][1]})")
    if shared:
        say(f"  also bad on glibc (not counted): {' '.join(shared)}")
    if confirmed:
        say(f"FAIL {name}: fails under the preload and passes on glibc, twice: "
            f"{' '.join(confirmed)} ({summary})")
        for m in confirmed:
            say(f"    {m}: preload {p_mods.get(m, 'test cases failed')} "
                f"{DETAILS.get(m, '')}, glibc {g_mods.get(m, '?')}")
            if m in HUNG:
                say(f"      {HUNG[m]}")
            for c in sorted(c for c in reg_cases if module_of(c) == m)[:10]:
                say(f"      {c}")
            say(f"      logs: {outdir}/{mode}-rerun-{m}-preload.out, {runs['preload'][1]}")
        return 1
    say(f"PASS {name}: no failure that glibc does not also have; {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
