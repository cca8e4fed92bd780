# SPDX-License-Identifier: MIT
# Every fuzzer of the project, included by the top-level Makefile. Each target is
# built alone (no allocator) with libFuzzer, ASan and UBSan; its seeds live in
# tests/fuzz/seeds/NAME/, its corpus grows in the build folder.
#   make fuzz       the stats protocol's request and reply parsers (proto_fuzz.c) for
#                   FUZZ_SECONDS (20); run at the end of make socket-tests
#   make fuzz-env   the POOLALLOC_* parser (env_fuzz.c) for FUZZ_ENV_SECONDS (20); the
#                   stress tiers run $(ENV_FUZZ) themselves (tests/stress/run.sh)
# Each prints "PASS NAME (T s, N runs)" or "FAIL NAME: see LOG", then "N passed, M failed".
FUZZ_CC          ?= clang
FUZZ_SECONDS     ?= 20
FUZZ_ENV_SECONDS ?= 20
FUZZ_CFLAGS      := -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
                    -fno-sanitize-recover=undefined
ENV_FUZZ         := $(B)/fuzz/env_fuzz

.PHONY: fuzz fuzz-env

# fuzz_run NAME,BINARY,SECONDS,LOG,ARGS,SHOW: BINARY for SECONDS with ARGS (its own
# flags, then its corpus and seed folders), everything it prints in LOG. Passes when
# the fuzzer exits 0; on failure SHOW LOG prints what matters of the log.
define fuzz_run
@t0=$$(date +%s); \
if $(2) -max_total_time=$(3) -timeout=10 -print_final_stats=1 $(5) >$(4) 2>&1; then \
    echo "PASS $(1) ($$(( $$(date +%s) - t0 )) s, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(4)) runs)"; \
    echo "1 passed, 0 failed"; \
else \
    echo "FAIL $(1): see $(4)"; $(6) $(4); \
    echo "0 passed, 1 failed"; exit 1; \
fi
endef

# ---- the stats protocol: the corpus grows in $(B)/fuzz/corpus ----
PROTO_FUZZ_SRC := tests/fuzz/proto_fuzz.c $(WIRE_SRC) core/log.c $(CLIENT_SRC)
$(B)/fuzz/proto_fuzz: $(PROTO_FUZZ_SRC) $(wildcard wire/*.h) stats/stats.h core/log.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(PROTO_FUZZ_SRC)

fuzz: $(B)/fuzz/proto_fuzz
	@mkdir -p $(B)/fuzz/corpus
	$(call fuzz_run,proto_fuzz,$(B)/fuzz/proto_fuzz,$(FUZZ_SECONDS),$(B)/fuzz/fuzz.log,\
	    -max_len=4096 $(B)/fuzz/corpus tests/fuzz/seeds/proto,tail -n 30)

# ---- the environment parser: the corpus grows in $(B)/stress/fuzz-env-corpus, which
# the stress tiers share; a failing input is kept in $(B)/stress/fuzz-env-artifacts ----
ENV_FUZZ_SRC := tests/fuzz/env_fuzz.c core/options.c core/log.c
$(ENV_FUZZ): $(ENV_FUZZ_SRC) core/options.h core/log.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(ENV_FUZZ_SRC)

fuzz-env: $(ENV_FUZZ)
	@mkdir -p $(B)/stress/fuzz-env-corpus $(B)/stress/fuzz-env-artifacts
	$(call fuzz_run,fuzz-env,$(ENV_FUZZ),$(FUZZ_ENV_SECONDS),$(B)/fuzz/env_fuzz.log,\
	    -max_len=512 -dict=tests/fuzz/env_fuzz.dict -artifact_prefix=$(B)/stress/fuzz-env-artifacts/ \
	    $(B)/stress/fuzz-env-corpus tests/fuzz/seeds/env,grep -a '^env_fuzz: \|^SUMMARY\|Test unit written')
