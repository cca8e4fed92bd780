# SPDX-License-Identifier: MIT
"""Allocation-heavy Python workload for `make bench` (run with PYTHONMALLOC=malloc
so every object goes through malloc): dicts, tuples, small strings, lists that
grow and shrink, instances, JSON round trips, sorting, and a big dict torn down.

    python3 py_workload.py [SCALE]     SCALE 1.0 = full size (~1.5 s with glibc)

Deterministic: prints the same lines under any allocator (hash randomisation only
changes set/dict order, and only order-independent results are printed)."""
import hashlib
import json
import sys


class Node:
    __slots__ = ("key", "kids", "payload")

    def __init__(self, key, payload):
        self.key = key
        self.kids = []
        self.payload = payload


def tree(n):
    """Builds a tree of n nodes with string payloads, returns a digest of a walk."""
    nodes = [Node(i, "p%d" % (i * 31 % 997)) for i in range(n)]
    for i in range(1, n):
        nodes[(i * 7919) % i].kids.append(nodes[i])
    total, stack = 0, [nodes[0]]
    while stack:
        nd = stack.pop()
        total += nd.key * len(nd.payload)
        stack.extend(nd.kids)
    return total


def records(n):
    rows = [{"id": i, "name": "user-%d" % (i * 7919 % 100003),
             "tags": [str(i % 13), str(i % 7)], "score": (i * 37) % 1000 / 10.0}
            for i in range(n)]
    blob = json.dumps(rows)
    back = json.loads(blob)
    back.sort(key=lambda r: (r["name"], r["id"]))
    groups = {}
    for r in back:
        for t in r["tags"]:
            groups.setdefault(t, []).append(r["score"])
    return len(blob), sorted((k, len(v), round(sum(v), 1)) for k, v in groups.items())


def strings(n):
    words = ["w%x" % (i * 2654435761 % (1 << 32)) for i in range(n)]
    text = " ".join(words)
    parts = text.split(" ")
    counts = {}
    for w in parts:
        k = w[:3]
        counts[k] = counts.get(k, 0) + 1
    joined = "".join(w.upper() for w in parts[::3])
    return len(text), len(joined), sorted(counts.items())[:5]


def churn(n):
    """A queue-like list of tuples: append at one end, drop from the other."""
    live, acc = [], 0
    for i in range(n):
        live.append((i, "x" * (i % 40), [i] * (i % 5)))
        if len(live) > 5000:
            t = live.pop(0) if i % 2 else live.pop()
            acc += t[0] + len(t[1]) + len(t[2])
    return acc + len(live)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    h = hashlib.sha256()
    for rnd in range(3):
        n = int(60000 * scale)
        h.update(repr(tree(n)).encode())
        h.update(repr(records(n)).encode())
        h.update(repr(strings(2 * n)).encode())
        h.update(repr(churn(2 * n)).encode())
        big = {("k", i): [i, str(i)] for i in range(n)}
        h.update(repr(sum(len(v[1]) for v in big.values())).encode())
        del big
    print("digest", h.hexdigest())


if __name__ == "__main__":
    main()
