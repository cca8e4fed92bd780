# SPDX-License-Identifier: MIT
# The stress tier (tests/stress/run.sh), included by the top-level Makefile.
#   make stress-short   a few seconds of every part (~1.5 min on 2 cores); a tier of make test
#   make stress         the full tier (~15 min on 2 cores): 10-minute soak, minutes of
#                       torture per mode, the long Python subset, redis-benchmark -n 100000
# Both tiers end with the line "N passed, M failed" and fail if anything failed.
# One part: STRESS_ONLY=torture make stress-short. One seed: STRESS_SEED=123.
# The fuzz-env part runs $(ENV_FUZZ), which tests/fuzz/fuzz.mk builds (make fuzz-env).
STRESS_PKGS      := gcc make libc6-dev binutils clang libclang-rt-14-dev python3 \
                    libpython3.11-testsuite redis-server redis-tools gdb

.PHONY: stress stress-short deps-stress

deps-stress:
	@sh tools/deps.sh $(STRESS_PKGS)

stress-short: deps-stress
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(ENV_FUZZ)
	@bash tests/stress/run.sh short $(B)/libpoolalloc.so $(B) $(ENV_FUZZ)

stress: deps-stress
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(ENV_FUZZ)
	@bash tests/stress/run.sh full $(B)/libpoolalloc.so $(B) $(ENV_FUZZ)
