# SPDX-License-Identifier: MIT
# The stress tier (tests/stress/run.sh), included by the top-level Makefile.
#   make stress-short   a few seconds of every part (~1.5 min on 2 cores); a tier of make test
#   make stress         the full tier (~15 min on 2 cores): 10-minute soak, minutes of
#                       torture per mode, the long Python subset, redis-benchmark -n 100000
#   make fuzz-env       libFuzzer on the POOLALLOC_* parser alone for FUZZ_ENV_SECONDS (20)
# Both tiers end with the line "N passed, M failed" and fail if anything failed.
# One part: STRESS_ONLY=torture make stress-short. One seed: STRESS_SEED=123.
STRESS_PKGS      := gcc make libc6-dev binutils clang libclang-rt-14-dev python3 \
                    libpython3.11-testsuite redis-server redis-tools gdb
FUZZ_ENV_SECONDS ?= 20
FUZZ_CC          ?= clang
ENV_FUZZ         := $(B)/fuzz/env_fuzz

.PHONY: stress stress-short fuzz-env deps-stress

deps-stress:
	@sh tools/deps.sh $(STRESS_PKGS)

# The parser alone (no allocator) with libFuzzer, ASan and UBSan, as make fuzz builds
# the protocol parsers.
$(ENV_FUZZ): tests/fuzz/env_fuzz.c core/options.c core/options.h core/log.c core/log.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ tests/fuzz/env_fuzz.c core/options.c core/log.c

stress-short: deps-stress
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(ENV_FUZZ)
	@bash tests/stress/run.sh short $(B)/libpoolalloc.so $(B) $(ENV_FUZZ)

stress: deps-stress
	@$(MAKE) --no-print-directory $(B)/libpoolalloc.so $(ENV_FUZZ)
	@bash tests/stress/run.sh full $(B)/libpoolalloc.so $(B) $(ENV_FUZZ)

fuzz-env: $(ENV_FUZZ)
	@mkdir -p $(B)/stress/fuzz-env-corpus $(B)/stress/fuzz-env-artifacts
	@t0=$$(date +%s); \
	if $(ENV_FUZZ) -max_total_time=$(FUZZ_ENV_SECONDS) -max_len=512 -timeout=10 \
	    -print_final_stats=1 -dict=tests/stress/env_fuzz.dict \
	    -artifact_prefix=$(B)/stress/fuzz-env-artifacts/ \
	    $(B)/stress/fuzz-env-corpus tests/stress/env_seeds >$(B)/fuzz/env_fuzz.log 2>&1; then \
	    echo "PASS fuzz-env ($$(( $$(date +%s) - t0 )) s, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/env_fuzz.log) runs)"; \
	    echo "1 passed, 0 failed"; \
	else \
	    echo "FAIL fuzz-env: see $(B)/fuzz/env_fuzz.log"; grep -a '^env_fuzz: \|^SUMMARY\|Test unit written' $(B)/fuzz/env_fuzz.log; \
	    echo "0 passed, 1 failed"; exit 1; \
	fi
