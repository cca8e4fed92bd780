# SPDX-License-Identifier: MIT
"""A strict checker of the Prometheus text exposition format 0.0.4, enough
for what poolstat --prom writes: every sample's family has HELP and TYPE
before it, names and labels have the allowed syntax, values are floats,
counters end in _total, no family appears twice, no sample twice."""
import re

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?Inf$|^NaN$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def check(text):
    """Returns a list of problems (empty: the text is valid)."""
    errs, help_, type_, seen, samples, done = [], {}, {}, set(), set(), set()
    current = None
    if not text.endswith("\n"):
        errs.append("does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            errs.append("%d: empty line" % n)
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.match(name):
                    errs.append("%d: bad metric name %r" % (n, name))
                if name in done:
                    errs.append("%d: family %s appears twice" % (n, name))
                if current and current != name:
                    done.add(current)
                current = name
                if parts[1] == "HELP":
                    if name in help_:
                        errs.append("%d: second HELP for %s" % (n, name))
                    help_[name] = parts[3] if len(parts) > 3 else ""
                else:
                    if name in type_:
                        errs.append("%d: second TYPE for %s" % (n, name))
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        errs.append("%d: bad type %r" % (n, t))
                    if t == "counter" and not name.endswith("_total"):
                        errs.append("%d: counter %s does not end in _total" % (n, name))
                    if name in seen:
                        errs.append("%d: TYPE after samples of %s" % (n, name))
                    type_[name] = t
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m:
            errs.append("%d: not a sample line: %r" % (n, line))
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        if name != current:
            errs.append("%d: sample of %s outside its family (current %s)" % (n, name, current))
        if name not in help_ or name not in type_:
            errs.append("%d: %s has no HELP/TYPE before its samples" % (n, name))
        if labels:
            body = labels[1:-1]
            pos, names = 0, []
            while pos < len(body):
                lm = LABEL.match(body, pos)
                if not lm:
                    errs.append("%d: bad labels %r" % (n, labels))
                    break
                names.append(lm.group(1))
                pos = lm.end()
                if pos < len(body):
                    if body[pos] != ",":
                        errs.append("%d: bad labels %r" % (n, labels))
                        break
                    pos += 1
            if len(set(names)) != len(names):
                errs.append("%d: repeated label in %r" % (n, labels))
        if not FLOAT.match(value):
            errs.append("%d: value %r is not a float" % (n, value))
        key = (name, labels)
        if key in samples:
            errs.append("%d: duplicate sample %s%s" % (n, name, labels))
        samples.add(key)
        seen.add(name)
    return errs
