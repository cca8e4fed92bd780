# SPDX-License-Identifier: MIT
# The man pages: poolstat(1), poolalloc(1), poolalloc(3), poolalloc(7).
#   make man        writes poolalloc.7's variable list from core/options.h
#                   (the same table README.md's comes from: $(B)/optdoc), and
#                   the version of include/poolalloc.h into every page's .TH
#   make man-check  that list is current, every page is there with the version
#                   of include/poolalloc.h, formats without a warning under
#                   groff -ww, mandoc -T lint and man -l, and poolstat.1 and
#                   poolalloc.1 have an item for every option and subcommand
#                   their command's --help lists (man/check.sh)
MAN_PKGS := groff-base mandoc man-db python3

.PHONY: man man-check deps-man

deps-man:
	@sh tools/deps.sh $(MAN_PKGS)

man: $(B)/optdoc
	python3 tools/readme_options.py $(B)/optdoc man/poolalloc.7 --write
	sed -i 's/^\(\.TH .*"poolalloc \)[^"]*"/\1$(VERSION)"/' $(wildcard man/*.[1-8])

man-check: deps-man $(B)/optdoc $(B)/poolstat
	@sh man/check.sh $(B)/optdoc $(VERSION) $(B)/poolstat
