#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak_sample.py - samples a running process for the soak (tests/stress/run.sh).

usage: soak_sample.py PID SOCKET INTERVAL OUT

Every INTERVAL seconds until PID exits, appends one line to OUT:
    t rss_kib pool_resident_kib pool_metadata_kib pool_in_use_kib libc_free_kib held_kib
    libc_in_use_kib
t in seconds since the start; rss from /proc/PID/status (VmRSS); the pool figures,
libc_free and libc_in_use (what the C library's heaps keep free, and the blocks it
holds for the program: the requests poolalloc passes through land there) from the
allocator's own stats socket SOCKET ("stats" request, see docs/poolstat.md), "-" when
the socket does not answer; held: the memory the process holds less what the C library
keeps free for later (held_kib below). Uses nothing but the standard library.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "suites"))
from redis_check import stats_of  # noqa: E402  (the socket client, shared)


def pool_stats(path):
    """The numeric figures of the "stats" reply, or None if the socket does not answer."""
    try:
        st = stats_of(path, timeout=2)
    except (OSError, ValueError):
        return None
    return {k: int(v) for k, v in st.items() if v.strip().isdigit()}


def held_kib(rss, p):
    """What the process holds less the C library's free memory, in KiB, as
    text ("-" without the stats).

    glibc's free count (mallinfo2 fordblks) keeps the free chunks whose pages
    malloc_trim gave back: after the allocator's idle trim, rss - free falls
    to ~0 with nothing returned by the program (a short soak under load,
    2026-12-07: rss 195 -> 63 MiB, free 135 MiB before and after), and climbs
    back as glibc reuses those chunks. Both rss - free and what the stats
    account for (the pools' resident pages and metadata, and the blocks glibc
    holds in use) are at most what the process holds beyond glibc's resident
    free memory, near enough: held is the larger, and never above rss. A leak
    grows both."""
    if not p or "libc_free_bytes" not in p:
        return "-"
    less_free = rss - (p["libc_free_bytes"] >> 10)
    accounted = (p.get("resident_bytes", 0) + p.get("metadata_bytes", 0) +
                 p.get("libc_in_use_bytes", 0)) >> 10
    return str(max(0, min(rss, max(less_free, accounted))))


def main():
    pid, sock, every, out = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
    t0 = time.monotonic()
    nxt = 0.0
    with open(out, "a") as f:
        while os.path.exists(f"/proc/{pid}/status"):
            now = time.monotonic() - t0
            if now >= nxt:
                rss = None
                try:
                    with open(f"/proc/{pid}/status") as st:
                        for line in st:
                            if line.startswith("VmRSS:"):
                                rss = int(line.split()[1])
                except OSError:
                    break
                if rss is None:  # exiting
                    break
                p = pool_stats(sock)
                cols = [f"{now:.2f}", str(rss)]
                for k in ("resident_bytes", "metadata_bytes", "in_use_bytes", "libc_free_bytes"):
                    cols.append(str(p[k] >> 10) if p and k in p else "-")
                cols.append(held_kib(rss, p))
                cols.append(str(p["libc_in_use_bytes"] >> 10) if p and "libc_in_use_bytes" in p
                            else "-")
                f.write(" ".join(cols) + "\n")
                f.flush()
                nxt += every
            time.sleep(min(0.1, every / 5))


if __name__ == "__main__":
    main()
