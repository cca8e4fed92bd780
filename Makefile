# SPDX-License-Identifier: MIT
# poolalloc - see README.md. One variant knob at a time:
#   make DEBUG=1             assertions on, -O0
#   make SANITIZE=address    (or undefined, thread) unit tests under a sanitizer
#   make CALIBRATE=0         fixed cache capacities (for benchmarking calibration)
CC      ?= gcc
SHELL   := /bin/bash
DEBUG   ?= 0
SANITIZE ?=
CALIBRATE ?= 1

VARIANT := $(if $(SANITIZE),-$(SANITIZE),)$(if $(filter 1,$(DEBUG)),-debug,)$(if $(filter 0,$(CALIBRATE)),-nocal,)
B       := build$(VARIANT)

OPT     := $(if $(filter 1,$(DEBUG)),-O0 -DPOOLALLOC_DEBUG,-O2)
SAN     := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer,)$(if $(filter 0,$(CALIBRATE)), -DPOOLALLOC_NO_CALIBRATE,)
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -fvisibility=hidden -fPIC -pthread \
           -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-free -fno-builtin-realloc \
           -MMD -MP $(SAN)
LDLIBS_SO := -ldl -pthread

# The one version number: include/poolalloc.h (POOLALLOC_VERSION).
VERSION       := $(shell sed -n 's/^\#define POOLALLOC_VERSION "\(.*\)"/\1/p' include/poolalloc.h)
VERSION_MAJOR := $(firstword $(subst ., ,$(VERSION)))

CORE_SRC  := $(wildcard core/*.c)
STATS_SRC := $(wildcard stats/*.c)
# The wire format (wire/) in two halves: CLIENT_SRC (reply parser, renderers),
# which poolstat and the fuzzer link and the library never does
# (tools/check_exports.sh checks); WIRE_SRC (request parser, reply writer,
# sink), which the library, poolstat and the fuzzer all link.
CLIENT_SRC := wire/proto_read.c wire/render.c
WIRE_SRC  := $(filter-out $(CLIENT_SRC),$(wildcard wire/*.c))
SAMPLER_SRC := $(wildcard sampler/*.c)
SERVER_SRC := $(wildcard server/*.c)
PRE_SRC   := $(wildcard preload/*.c)
LIB_SRC   := $(CORE_SRC) $(STATS_SRC) $(WIRE_SRC) $(SAMPLER_SRC) $(SERVER_SRC) $(PRE_SRC)
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/obj/%.o)
# What a unit test links: the library without its preload layer.
CORE_OBJ  := $(filter-out $(PRE_SRC:%.c=$(B)/obj/%.o),$(LIB_OBJ))
UNIT_SRC  := $(wildcard tests/unit/*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)

TEST_PKGS := gcc clang make libc6-dev libcriterion-dev python3 sqlite3 binutils libjemalloc2 \
             cppcheck clang-tidy libunwind-dev google-perftools universal-ctags
DEMO_PKGS := gcc make libc6-dev python3

.PHONY: all lib test clang-build check-exports lint unit unit-sanitizers test-debug preload-tests readme readme-check demo deps-test \
        deps-demo clean
all: lib $(B)/poolstat
lib: $(B)/libpoolalloc.so $(B)/optdoc

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The SONAME carries the major version (include/poolalloc.h). The file stays
# $(B)/libpoolalloc.so, the path every test preloads; the link named after the
# SONAME beside it lets a program built with -L$(B) -lpoolalloc run from there.
# Bound lazily (no -z now): a process binds only the C library calls it makes,
# not all 83 the stats server and sampler import; that is a fifth of what a
# preloaded /bin/true runs (docs/performance.md, short-lived processes). The
# resolver neither allocates nor takes a lock our paths hold.
$(B)/libpoolalloc.so: $(LIB_OBJ) core/forkpage.ld
	$(CC) $(CFLAGS) -shared -Wl,--no-undefined -Wl,-T,core/forkpage.ld \
	    -Wl,-soname,libpoolalloc.so.$(VERSION_MAJOR) -o $@ $(LIB_OBJ) $(LDLIBS_SO)
	ln -sf libpoolalloc.so $(@D)/libpoolalloc.so.$(VERSION_MAJOR)

$(B)/optdoc: tools/optdoc.c $(B)/obj/core/options.o $(B)/obj/core/log.o
	$(CC) $(CFLAGS) -o $@ $^

# Under TSan criterion cannot start (its issue #274): a small stand-in runs the
# same test sources.
ifeq ($(SANITIZE),thread)
UNIT_FLAGS := -Itests/unit/shim
UNIT_LIBS  :=
UNIT_ARGS  :=
else
UNIT_FLAGS :=
UNIT_LIBS  := -lcriterion
UNIT_ARGS  := --jobs 2 --timeout 120
endif

$(B)/unit/%: tests/unit/%.c $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(UNIT_FLAGS) -fvisibility=default -o $@ $^ $(UNIT_LIBS) -pthread

deps-test:
	@sh tools/deps.sh $(TEST_PKGS)
deps-demo:
	@sh tools/deps.sh $(DEMO_PKGS)

# Unit tests (criterion) on core/ linked into each test binary, in both modes:
# rseq, and the locked fallback (glibc not registering rseq). TSan cannot see
# inside the rseq assembly or reason about membarrier, so under TSan only the
# locked mode runs, where every access is visible to it.
UNIT_MODES := $(if $(filter thread,$(SANITIZE)),locked,rseq locked)
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do for m in $(UNIT_MODES); do \
	  echo "== $$t ($$m)"; \
	  if [ $$m = locked ]; then GLIBC_TUNABLES=glibc.pthread.rseq=0 $$t $(UNIT_ARGS); \
	  else $$t $(UNIT_ARGS); fi; done; done

# The same unit tests under AddressSanitizer+UBSan and ThreadSanitizer.
unit-sanitizers:
	$(MAKE) --no-print-directory SANITIZE=address,undefined unit
	$(MAKE) --no-print-directory SANITIZE=thread unit

# poolstat too: start_waits_until_a_process_lives asks it which processes it finds.
preload-tests: $(B)/libpoolalloc.so $(B)/poolstat
	bash tests/preload/run.sh $(CURDIR)/$(B)/libpoolalloc.so $(B)

readme: $(B)/optdoc
	python3 tools/readme_options.py $(B)/optdoc docs/tuning.md --write

readme-check: $(B)/optdoc
	python3 tools/readme_options.py $(B)/optdoc docs/tuning.md --check

check-exports: $(B)/libpoolalloc.so
	sh tools/check_exports.sh $<

# Static analysis: cppcheck and clang-tidy (checks in .clang-tidy) on every
# C file of the library and of poolstat; any finding fails. Every source
# file names its licence (tools/check_spdx.sh); every include goes down a
# floor and no modules call each other in a circle (tools/check_layers.py).
LINT_SRC := $(LIB_SRC) $(CLIENT_SRC) $(wildcard tools/poolstat/*.c)
lint:
	cppcheck --quiet --enable=warning,performance,portability --inline-suppr --std=c11 \
	    --error-exitcode=1 -I. $(LINT_SRC)
	@set -o pipefail; clang-tidy --quiet $(LINT_SRC) -- -std=gnu11 -I. -D_GNU_SOURCE -pthread \
	    2>&1 | { grep -v 'warnings generated' || true; }
	@sh tools/check_spdx.sh
	@python3 tools/check_layers.py .
	@echo "lint: cppcheck and clang-tidy clean"; echo "4 passed, 0 failed"

# Every PA_ASSERT on (DEBUG=1, -O0, its own build folder): the unit tests and
# the preload tier's C tests under the library.
test-debug:
	$(MAKE) --no-print-directory DEBUG=1 B=build-debug unit
	$(MAKE) --no-print-directory DEBUG=1 B=build-debug build-debug/libpoolalloc.so build-debug/poolstat
	PRELOAD_C_ONLY=1 bash tests/preload/run.sh $(CURDIR)/build-debug/libpoolalloc.so build-debug

# The library must also build warning-free with clang.
clang-build:
	$(MAKE) --no-print-directory CC=clang B=build-clang lib check-exports

# Every tier make test runs, in order, declared here alone; each tier's rule lives
# beside its tests (tools/poolstat.mk: socket-tests; tests/sample/sample.mk:
# sample-tests; tests/stress/stress.mk: stress-short; tools/install.mk:
# install-test; man/man.mk: man-check).
TEST_TIERS := lib check-exports clang-build readme-check lint unit unit-sanitizers test-debug preload-tests \
              socket-tests install-test man-check sample-tests stress-short
test: deps-test
	@mkdir -p $(B)
	@set -o pipefail; $(MAKE) --no-print-directory $(TEST_TIERS) 2>&1 | tee $(B)/test.log
	@sh tools/test_total.sh $(B)/test.log

demo: deps-demo
	$(MAKE) --no-print-directory lib
	sh tools/demo.sh $(CURDIR)/$(B)/libpoolalloc.so

clean:
	rm -rf build build-*

-include $(LIB_OBJ:.o=.d) $(CLIENT_SRC:%.c=$(B)/obj/%.d)

# Benchmarks (not part of make test): tools/bench/bench.mk
-include tools/bench/bench.mk

# Stats socket server tests and the poolstat CLI: tools/poolstat.mk
-include tools/poolstat.mk
-include tests/sample/sample.mk
-include tests/stress/stress.mk
-include tests/fuzz/fuzz.mk
# make install / uninstall and their test: tools/install.mk
-include tools/install.mk
# The man pages, their option list and their lint: man/man.mk
-include man/man.mk
