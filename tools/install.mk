# make install / make uninstall (PREFIX, DESTDIR) and install-test. (Being written.)
.PHONY: install uninstall install-test
install-test:
	@echo "install-test: not written yet"; echo "0 passed, 0 failed"
