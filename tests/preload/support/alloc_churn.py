# SPDX-License-Identifier: MIT
"""alloc_churn.py — an allocation-heavy, deterministic Python workload.

Run by real_python_same_output.sh with PYTHONMALLOC=malloc (so every Python object
goes through malloc, not pymalloc's arenas) and PYTHONHASHSEED=0, once plain and once
under LD_PRELOAD; the two outputs must be identical byte for byte.  Every section
prints a digest of what it computed, and checks its own round trips.
"""
import hashlib
import json
import random
import sys
import threading


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def section(name, value):
    print(f"{name}: {value}")


def dict_churn(rng):
    d = {}
    for i in range(120_000):
        k = f"key-{rng.randrange(40_000)}-{i % 7}"
        if rng.random() < 0.3 and d:
            d.pop(k, None)
        else:
            d[k] = [i, str(i) * (i % 5), {"n": i}]
        if i % 20_000 == 0:
            d = {k: v for k, v in d.items() if v[0] % 3}
    return len(d), digest(sorted((k, v[0]) for k, v in d.items())[:2000])


def list_and_string_churn(rng):
    parts = []
    total = 0
    for i in range(60_000):
        s = "".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(1, 40)))
        parts.append(s.upper() if i % 3 else s[::-1])
        if len(parts) > 5_000:
            joined = ",".join(parts)
            total += len(joined.replace("A", "aa").split(","))
            del parts[: rng.randrange(1_000, 5_000)]
    big = "-".join(parts) * 50  # a few MB: passes through to glibc
    ba = bytearray()
    for i in range(200_000):
        ba += bytes((i % 251,)) * (i % 13)  # many reallocs of one growing buffer
    return total, len(big), hashlib.sha256(big.encode()).hexdigest()[:16], len(ba), \
        hashlib.sha256(ba).hexdigest()[:16]


def make_record(rng, depth):
    if depth == 0:
        return rng.choice([rng.randrange(-10**6, 10**6), rng.random(), "s" * rng.randrange(30),
                           None, True, False])
    if rng.random() < 0.5:
        return [make_record(rng, depth - 1) for _ in range(rng.randrange(1, 6))]
    return {f"f{j}": make_record(rng, depth - 1) for j in range(rng.randrange(1, 6))}


def json_round_trip(rng):
    docs = [make_record(rng, 5) for _ in range(400)]
    text = json.dumps(docs, sort_keys=True)
    back = json.loads(text)
    assert back == docs, "json round trip changed the data"
    text2 = json.dumps(back, sort_keys=True, indent=1)
    assert json.loads(text2) == docs
    return len(text), len(text2), hashlib.sha256(text.encode()).hexdigest()[:16]


class Item:
    __slots__ = ("a", "b", "name")

    def __init__(self, a, b, name):
        self.a, self.b, self.name = a, b, name


def sort_small_objects(rng):
    items = [Item(rng.randrange(1000), rng.random(), f"n{rng.randrange(10**6)}")
             for _ in range(150_000)]
    items.sort(key=lambda it: (it.a, it.name, it.b))
    tuples = sorted(((it.b, it.a) for it in items), reverse=True)
    return digest([(it.a, it.name) for it in items[::500]]), digest(tuples[::1000])


def threaded(seed):
    results = [None] * 4

    def work(idx):
        rng = random.Random(seed + idx)
        acc = {}
        for i in range(40_000):
            k = rng.randrange(3_000)
            acc.setdefault(k, []).append(str(i) * (1 + i % 4))
            if len(acc[k]) > 8:
                acc[k] = acc[k][-3:]
        blob = json.dumps({str(k): v for k, v in sorted(acc.items())})
        results[idx] = (len(acc), hashlib.sha256(blob.encode()).hexdigest()[:16])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    rng = random.Random(20240611)
    out = []
    for name, fn in [("dicts", dict_churn), ("lists+strings", list_and_string_churn),
                     ("json", json_round_trip), ("sort", sort_small_objects)]:
        value = fn(rng)
        section(name, value)
        out.append(value)
    value = threaded(7)
    section("threads", value)
    out.append(value)
    section("final digest", digest(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
