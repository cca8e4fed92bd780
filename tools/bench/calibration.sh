#!/bin/sh
# SPDX-License-Identifier: MIT
# calibration.sh BUILD - does calibration pay? The same micro cases under the
# calibrated library ($BUILD/libpoolalloc.so) and one built with fixed
# capacities (build-nocal/, `make CALIBRATE=0`), interleaved, 5 repetitions,
# medians. Both with POOLALLOC_FLUSH_MS=100 so that a run of a few seconds
# sees tens of generations (calibration happens at each flush).
set -eu
build=${1:-build}
micro=$build/bench/micro
cal=$build/libpoolalloc.so
fixed=build-nocal/libpoolalloc.so
reps=${REPS:-5}
printf '| case | calibrated ns/op | fixed caps ns/op | calibrated / fixed |\n|---|---|---|---|\n'
for c in skewed uniform rand-small; do
    a=""; b=""
    for i in $(seq "$reps"); do
        a="$a $(POOLALLOC_FLUSH_MS=100 LD_PRELOAD=$PWD/$cal "$micro" "$c" | sed 's/.*value=\([0-9.]*\).*/\1/')"
        b="$b $(POOLALLOC_FLUSH_MS=100 LD_PRELOAD=$PWD/$fixed "$micro" "$c" | sed 's/.*value=\([0-9.]*\).*/\1/')"
    done
    ma=$(echo $a | tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    mb=$(echo $b | tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    printf '| %s | %s | %s | %.2f |\n' "$c" "$ma" "$mb" "$(echo "$ma $mb" | awk '{print $1/$2}')"
done
