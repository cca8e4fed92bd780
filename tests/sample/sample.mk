# SPDX-License-Identifier: MIT
# The sampling tier: allocation sites (`poolstat sites`) and heap profiles
# (`poolstat heap`, read by google-pprof) of real preloaded programs.
# Included by the top-level Makefile; part of `make test`.
#   make sample-tests    library + poolstat, then tests/sample/run.sh
# libunwind8 is what the library loads to capture stacks (sampler/stack.c);
# libunwind-dev builds the stress program, which unwinds by itself too.
SAMPLE_PKGS := libunwind-dev google-perftools binutils python3 gcc

.PHONY: sample-tests deps-sample

deps-sample:
	@sh tools/deps.sh $(SAMPLE_PKGS)

sample-tests: deps-sample
	@$(MAKE) --no-print-directory lib $(B)/poolstat
	bash tests/sample/run.sh $(CURDIR)/$(B)/libpoolalloc.so $(B)

