# SPDX-License-Identifier: MIT
# The live-stats tier: the poolstat CLI, the socket tests, the protocol fuzzer.
# Included by the top-level Makefile.
#   make poolstat        $(B)/poolstat (links the wire format: stats/proto.c and sink.c as the
#                        library does, and the client half the library does not: CLIENT_SRC)
#   make socket-tests    library + poolstat, tests/socket/run.sh, then a bounded fuzz run
#   make fuzz            libFuzzer on the request and reply parsers for FUZZ_SECONDS (20)
SOCKET_PKGS  := socat python3 util-linux clang libclang-rt-14-dev prometheus prometheus-node-exporter
POOLSTAT_SRC := $(wildcard tools/poolstat/*.c)
POOLSTAT_OBJ := $(POOLSTAT_SRC:%.c=$(B)/obj/%.o) $(B)/obj/stats/proto.o $(B)/obj/stats/sink.o \
                $(B)/obj/core/log.o \
                $(CLIENT_SRC:%.c=$(B)/obj/%.o)
FUZZ_SECONDS ?= 20
FUZZ_CC      ?= clang

.PHONY: poolstat socket-tests fuzz deps-socket

poolstat: $(B)/poolstat

$(B)/poolstat: $(POOLSTAT_OBJ)
	$(CC) $(CFLAGS) -o $@ $^

deps-socket:
	@sh tools/deps.sh $(SOCKET_PKGS)

socket-tests: deps-socket
	@$(MAKE) --no-print-directory lib $(B)/poolstat
	bash tests/socket/run.sh $(CURDIR)/$(B)/libpoolalloc.so $(B)
	@$(MAKE) --no-print-directory fuzz

# The parsers built alone with libFuzzer and ASan; the corpus starts from the
# seeds in tests/fuzz/seeds and grows in $(B)/fuzz/corpus.
PROTO_FUZZ_SRC := tests/fuzz/proto_fuzz.c stats/proto.c stats/sink.c core/log.c $(CLIENT_SRC)
$(B)/fuzz/proto_fuzz: $(PROTO_FUZZ_SRC) stats/proto.h stats/proto_read.h stats/render.h stats/sink.h \
                      stats/stats.h core/log.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $(PROTO_FUZZ_SRC)

fuzz: $(B)/fuzz/proto_fuzz
	@mkdir -p $(B)/fuzz/corpus
	@t0=$$(date +%s); \
	if $(B)/fuzz/proto_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -print_final_stats=1 $(B)/fuzz/corpus tests/fuzz/seeds >$(B)/fuzz/fuzz.log 2>&1; then \
	    echo "PASS proto_fuzz ($$(( $$(date +%s) - t0 )) s, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/fuzz.log) runs)"; \
	    echo "1 passed, 0 failed"; \
	else \
	    echo "FAIL proto_fuzz: see $(B)/fuzz/fuzz.log"; tail -n 30 $(B)/fuzz/fuzz.log; \
	    echo "0 passed, 1 failed"; exit 1; \
	fi

-include $(POOLSTAT_SRC:%.c=$(B)/obj/%.d)
