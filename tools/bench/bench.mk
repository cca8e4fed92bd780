# SPDX-License-Identifier: MIT
# Benchmarks (not part of `make test`), included by the top-level Makefile.
#   make bench               every case under glibc, poolalloc, poolalloc with sampling on
#                            (POOLALLOC_SAMPLE=2m and 512k), tcmalloc, jemalloc and mimalloc,
#                            interleaved; markdown tables (the second: sampled / plain
#                            poolalloc per case), also in $(B)/bench/results.md
#   make bench BENCH_QUICK=1 the same, shorter loops and fewer repetitions (~3 minutes)
#   make bench-fastpath      malloc(32)+free: ns per pair and callgrind instructions per pair
#                            (loop removed, and loop included), with the rseq floors
#                            (floor.c: a per-CPU pop+push and nothing else, inlined, and as
#                            two calls through the GOT as malloc/free are) timed alongside
#   make bench-sample        what sampling costs in callgrind instructions, per case (no
#                            timing, so other load does not move it); $(B)/bench/sample-cost.md
#   make bench-machinery     what poolalloc's own machinery costs ($(B)/bench/machinery.md):
#                            flush-thread CPU per GiB given back against one madvise (release.py),
#                            short-lived processes and the forks of a warm program under all
#                            five allocators as CPU ratios to glibc, with minor faults
#                            (startup.py), default sampling on python3/sqlite3/gcc, sampled /
#                            unsampled in CPU time (sampling.py), in callgrind
#                            instructions (bench.py --sample-cost) and in the kernel's
#                            system calls and faults (samplekernel.py); part of `make bench`
# One case: python3 tools/bench/bench.py --case pingpong --reps 3   (see --help)
BENCH_PKGS   := libtcmalloc-minimal4 libjemalloc2 libmimalloc2.0 redis-server valgrind \
                python3 sqlite3 gcc libunwind8 linux-perf
BENCH_PY     := /usr/bin/python3
# Our own flags, not the library's: no -fvisibility/-fPIC/sanitizers, and the malloc
# family is not a builtin so GCC cannot delete allocations it sees paired.
# -fno-plt: calls go through the GOT directly, so no PLT jump is counted per call.
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread -fno-plt \
                -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-free -fno-builtin-realloc
BENCH_ARGS   := --build $(B) $(if $(filter 1,$(BENCH_QUICK)),--quick,)

.PHONY: bench bench-fastpath bench-sample bench-machinery bench-deps

bench-deps:
	@sh tools/deps.sh $(BENCH_PKGS)

MICRO_SRCS := tools/bench/micro.c tools/bench/micro_threads.c tools/bench/micro_memory.c
$(B)/bench/micro: $(MICRO_SRCS) tools/bench/micro.h tools/bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $(MICRO_SRCS) -ldl

# The lower bound of a per-CPU rseq fast path, timed like micro's pingpong (same flags):
# floor with pop and push inlined, floor-called with the two as calls through the GOT
# into libfloorcall.so (hidden data as in libpoolalloc.so; found next to the program).
FLOOR_DEPS := tools/bench/floor_rseq.h tools/bench/bench.mk
$(B)/bench/floor: tools/bench/floor.c $(FLOOR_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

$(B)/bench/libfloorcall.so: tools/bench/floor_calls.c $(FLOOR_DEPS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -fPIC -fvisibility=hidden -shared -Wl,-z,now -o $@ $<

$(B)/bench/floor-called: tools/bench/floor.c $(B)/bench/libfloorcall.so $(FLOOR_DEPS)
	$(CC) $(BENCH_CFLAGS) -DFLOOR_CALLED -o $@ $< -L$(@D) -lfloorcall -Wl,-rpath,'$$ORIGIN'

bench: bench-deps
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(B)/bench/micro
	$(BENCH_PY) tools/bench/bench.py $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-machinery

# Quick: fewer rounds, smaller inputs (a few minutes instead of about fifteen).
MACH_QUICK := $(filter 1,$(BENCH_QUICK))
bench-machinery: bench-deps
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(B)/bench/micro
	@mkdir -p $(B)/bench
	@set -o pipefail; { \
	  $(BENCH_PY) tools/bench/machine.py "What poolalloc's own machinery costs" $(B) && \
	  echo "## Giving memory back" && echo && \
	  $(BENCH_PY) tools/bench/release.py --build $(B) $(if $(MACH_QUICK),--rounds 3,) && \
	  echo && echo "## Short-lived processes" && echo && \
	  $(BENCH_PY) tools/bench/startup.py --build $(B) $(if $(MACH_QUICK),--rounds 5,) && \
	  echo && echo "## Sampling on by default" && echo && \
	  $(BENCH_PY) tools/bench/sampling.py --build $(B) \
	      $(if $(MACH_QUICK),--rounds 5 --quick,--rounds 15) && \
	  echo && echo "The same three in callgrind instructions (repeatable, user space only):" && \
	  echo && $(BENCH_PY) tools/bench/bench.py --sample-cost --case python3,sqlite3,gcc \
	      --build $(B) --quick | sed -n '/^|/,$$p' && \
	  echo && echo "And in the kernel, by counts (system calls and page faults):" && \
	  echo && $(BENCH_PY) tools/bench/samplekernel.py --build $(B) $(if $(MACH_QUICK),--quick,); \
	} | tee $(B)/bench/machinery.md

bench-fastpath: bench-deps
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(B)/bench/micro $(B)/bench/floor \
	    $(B)/bench/floor-called
	$(BENCH_PY) tools/bench/bench.py --fastpath $(BENCH_ARGS)

bench-sample: bench-deps
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(B)/bench/micro
	$(BENCH_PY) tools/bench/bench.py --sample-cost $(BENCH_ARGS)

# Calibrated against fixed cache capacities (make CALIBRATE=0), same run.
.PHONY: bench-calibration
bench-calibration:
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(B)/bench/micro
	@$(MAKE) --no-print-directory CALIBRATE=0 lib
	sh tools/bench/calibration.sh $(B) | tee $(B)/bench/calibration.md
