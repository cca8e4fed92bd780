#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""machine.py TITLE BUILD - the header every benchmark page starts with: machine, date,
load, the library's git revision and the peers' package versions (report.py's, as on
bench.py's pages)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: machine.py TITLE BUILD")
    print("\n".join(report.machine_header(sys.argv[1], sys.argv[2],
                                          os.path.join(sys.argv[2], "libpoolalloc.so"),
                                          when="at the start")))
