# SPDX-License-Identifier: MIT
# The live-stats tier: the poolstat CLI and the socket tests.
# Included by the top-level Makefile.
#   make poolstat        $(B)/poolstat (links the wire format: its writer half WIRE_SRC,
#                        wire/proto.c and sink.c, as the library does, and the client half
#                        the library does not: CLIENT_SRC)
#   make socket-tests    library + poolstat, tests/socket/run.sh, then a bounded fuzz run
#                        (make fuzz: tests/fuzz/fuzz.mk)
SOCKET_PKGS  := socat python3 util-linux clang libclang-rt-14-dev prometheus prometheus-node-exporter
POOLSTAT_SRC := $(wildcard tools/poolstat/*.c)
POOLSTAT_OBJ := $(POOLSTAT_SRC:%.c=$(B)/obj/%.o) $(WIRE_SRC:%.c=$(B)/obj/%.o) \
                $(B)/obj/core/log.o \
                $(CLIENT_SRC:%.c=$(B)/obj/%.o)

.PHONY: poolstat socket-tests deps-socket

poolstat: $(B)/poolstat

$(B)/poolstat: $(POOLSTAT_OBJ)
	$(CC) $(CFLAGS) -o $@ $^

deps-socket:
	@sh tools/deps.sh $(SOCKET_PKGS)

socket-tests: deps-socket
	@$(MAKE) --no-print-directory lib $(B)/poolstat
	bash tests/socket/run.sh $(CURDIR)/$(B)/libpoolalloc.so $(B)
	@$(MAKE) --no-print-directory fuzz

-include $(POOLSTAT_SRC:%.c=$(B)/obj/%.d)
