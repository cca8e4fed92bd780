#!/bin/sh
# SPDX-License-Identifier: MIT
# test_total.sh LOG - adds up what every tier of `make test` reported (criterion's
# "Synthesis" lines and the plain "N passed, M failed" lines) into one closing line.
awk '
/Synthesis: Tested:/ { for (i = 1; i <= NF; i++) { if ($i == "Passing:") p += $(i+1); if ($i == "Failing:") f += $(i+1); if ($i == "Crashing:") f += $(i+1) } }
/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3 }
END { printf "make test: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }
' "$1"
