# SPDX-License-Identifier: MIT
"""An allocation-heavy Python workload for `make demo`: many small objects
(dicts, tuples, strings) built, serialised, parsed, sorted and dropped.
Deterministic: prints the same digest under any allocator."""
import hashlib
import json

h = hashlib.sha256()
for rnd in range(6):
    rows = [{"id": i, "name": f"user-{i * 7919 % 100003}", "tags": [str(i % 13), str(i % 7)]}
            for i in range(60000)]
    blob = json.dumps(rows)
    back = json.loads(blob)
    back.sort(key=lambda r: (r["name"], r["id"]))
    words = {}
    for r in back:
        for t in r["tags"]:
            words[t] = words.get(t, 0) + len(r["name"])
    h.update(repr(sorted(words.items())).encode())
    h.update(back[rnd * 1000]["name"].encode())
    del rows, back, blob
print("digest", h.hexdigest())
