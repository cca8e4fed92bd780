#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.sh LIB - runs a real program (Debian's python3 on an allocation-heavy
# script) with and without poolalloc preloaded, checks the output is the same,
# and shows the per-class summary poolalloc prints at exit.
set -eu
lib=$1
here=$(dirname "$0")
py=/usr/bin/python3
# Every Python object through malloc, not only the big ones: the allocator
# is what this run exercises.
export PYTHONMALLOC=malloc
echo "== plain glibc:  PYTHONMALLOC=malloc $py tools/demo_workload.py"
start=$(date +%s%N)
plain=$($py "$here/demo_workload.py")
t_plain=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$plain   (${t_plain} ms)"
echo "== poolalloc:    PYTHONMALLOC=malloc POOLALLOC_STATS=1 LD_PRELOAD=$lib $py tools/demo_workload.py"
start=$(date +%s%N)
pooled=$(POOLALLOC_STATS=1 LD_PRELOAD=$lib $py "$here/demo_workload.py")
t_pool=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$pooled   (${t_pool} ms)"
if [ "$plain" != "$pooled" ]; then
    echo "demo: FAILED: output differs under poolalloc" >&2
    exit 1
fi
echo "== same output under both; the summary above is poolalloc's view of the run."
echo "   (one timing each, for orientation only; make bench compares allocators properly)"
