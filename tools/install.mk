# SPDX-License-Identifier: MIT
# make install / make uninstall and install-test. Included by the top-level Makefile.
#   make install   [PREFIX=/usr/local] [DESTDIR=] [BINDIR= LIBDIR= INCLUDEDIR= MANDIR= PKGCONFIGDIR=]
#   make uninstall (the same variables: it removes the files and symlinks install puts
#                  there, and leaves every folder)
#   make install-test  tests/install/install_and_uninstall.sh
# The GNU layout; a Debian-like one is LIBDIR=/usr/lib/x86_64-linux-gnu. install builds
# nothing itself beyond `all` (build as the user first, then install as root if need be)
# and writes nothing into the build folder: the wrapper and poolalloc.pc are written
# straight into DESTDIR.
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

INSTALL_MAN  := $(wildcard man/*.1 man/*.3 man/*.7)
SO_REAL      := libpoolalloc.so.$(VERSION)
SO_NAME      := libpoolalloc.so.$(VERSION_MAJOR)

# The folders are written into the wrapper and poolalloc.pc (by sed, read by the shell
# and pkg-config): absolute, and only characters none of them reads as syntax. That
# leaves out a space and a colon, which LD_PRELOAD could not hold either.
define install_check_dirs
	@for d in '$(PREFIX)' '$(BINDIR)' '$(LIBDIR)' '$(INCLUDEDIR)' '$(MANDIR)' '$(PKGCONFIGDIR)'; do \
	    case $$d in \
	    /*[!A-Za-z0-9/._+-]* | [!/]* | '') \
	        echo "poolalloc: install folder '$$d': want an absolute path of letters, digits and / . _ + -" >&2; \
	        exit 2 ;; \
	    esac; \
	done
endef

.PHONY: install uninstall install-test

install: all
	$(install_check_dirs)
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' \
	    '$(DESTDIR)$(PKGCONFIGDIR)'
	install -m 644 $(B)/libpoolalloc.so '$(DESTDIR)$(LIBDIR)/$(SO_REAL)'
	ln -sf $(SO_REAL) '$(DESTDIR)$(LIBDIR)/$(SO_NAME)'
	ln -sf $(SO_NAME) '$(DESTDIR)$(LIBDIR)/libpoolalloc.so'
	install -m 755 $(B)/poolstat '$(DESTDIR)$(BINDIR)/poolstat'
	sed -e 's|@POOLALLOC_INSTALLED_LIB@|$(LIBDIR)/$(SO_NAME)|' \
	    -e 's|@POOLALLOC_INSTALLED_VERSION@|$(VERSION)|' tools/poolalloc \
	    >'$(DESTDIR)$(BINDIR)/poolalloc'
	chmod 755 '$(DESTDIR)$(BINDIR)/poolalloc'
	install -m 644 include/poolalloc.h '$(DESTDIR)$(INCLUDEDIR)/poolalloc.h'
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' tools/poolalloc.pc.in \
	    >'$(DESTDIR)$(PKGCONFIGDIR)/poolalloc.pc'
	chmod 644 '$(DESTDIR)$(PKGCONFIGDIR)/poolalloc.pc'
	@set -e; for m in $(INSTALL_MAN); do \
	    s=$${m##*.}; \
	    echo "install -m 644 $$m '$(DESTDIR)$(MANDIR)/man$$s/'"; \
	    install -d '$(DESTDIR)$(MANDIR)/man'$$s; \
	    install -m 644 $$m '$(DESTDIR)$(MANDIR)/man'$$s/; \
	done
	@# Installed for real (no DESTDIR), as root: the loader's cache learns of it, so
	@# that a program linked with -lpoolalloc finds it in /usr/local/lib at once.
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	    echo ldconfig; ldconfig; fi

uninstall:
	$(install_check_dirs)
	rm -f '$(DESTDIR)$(LIBDIR)/$(SO_REAL)' '$(DESTDIR)$(LIBDIR)/$(SO_NAME)' \
	    '$(DESTDIR)$(LIBDIR)/libpoolalloc.so' '$(DESTDIR)$(BINDIR)/poolstat' \
	    '$(DESTDIR)$(BINDIR)/poolalloc' '$(DESTDIR)$(INCLUDEDIR)/poolalloc.h' \
	    '$(DESTDIR)$(PKGCONFIGDIR)/poolalloc.pc'
	@set -e; for m in $(INSTALL_MAN); do \
	    f='$(DESTDIR)$(MANDIR)/man'$${m##*.}/$${m##*/}; \
	    echo "rm -f '$$f'"; rm -f "$$f"; \
	done
	@# Installed for real (no DESTDIR), as root: the loader's cache forgets it.
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	    echo ldconfig; ldconfig; fi

# Installs into temporary trees (a DESTDIR package layout, a Debian layout in place, a
# /usr/local layout) and uninstalls; see the script.
install-test: all
	@sh tools/deps.sh pkg-config
	bash tests/install/install_and_uninstall.sh $(B)
