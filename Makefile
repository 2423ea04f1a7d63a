# kxfer — one binary, build/kxfer.  `make help` lists the targets.
PKGS     := libssl libcrypto liburing
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)
PREFIX   ?= /usr/local
BUILD    ?= build

CC       ?= cc
CFLAGS   ?= -O2 -g
# Project flags stay in their own variable so that CFLAGS=... on the command line (make asan)
# changes optimisation and instrumentation only.
KXFLAGS  := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation -D_GNU_SOURCE -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

SRC      := $(wildcard src/*.c)
OBJ      := $(SRC:src/%.c=$(BUILD)/obj/%.o)
# Pure modules the unit tests link against (no sockets, no OpenSSL).
PURE     := filemap http listing metrics path url util
PURE_OBJ := $(PURE:%=$(BUILD)/obj/%.o)
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: FORCE all check-deps deps demo test test-unit test-integration test-ktls asan fuzz fuzz-targets bench bench-ktls bench-tree install uninstall clean help

all: $(BUILD)/kxfer $(UNIT)

# Without pkg-config or the -dev packages, say which are missing and how to get them,
# rather than fail with a compiler error about a missing header.
NO_PKGCONFIG := $(if $(shell command -v pkg-config),,pkg-config)
MISSING_PC   := $(if $(NO_PKGCONFIG),$(PKGS),$(shell for p in $(PKGS); do pkg-config --exists $$p || echo $$p; done))
MISSING_DEB  := $(sort $(NO_PKGCONFIG) $(if $(filter libssl libcrypto,$(MISSING_PC)),libssl-dev) \
                $(if $(filter liburing,$(MISSING_PC)),liburing-dev))
check-deps:
ifneq ($(MISSING_DEB),)
	@echo "make: cannot build kxfer: missing $(if $(NO_PKGCONFIG),pkg-config,)$(if $(NO_PKGCONFIG),$(if $(MISSING_PC), and ),)$(if $(MISSING_PC),the development files of $(MISSING_PC))" >&2
	@echo "make: install the Debian packages $(MISSING_DEB): run 'make deps' (as root), or" >&2
	@echo "make:     apt-get install $(MISSING_DEB)" >&2
	@exit 1
endif
$(OBJ) $(BUILD)/kxfer $(UNIT): | check-deps

$(BUILD)/kxfer: $(OBJ)
	$(CC) $(CFLAGS) $(KXFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) $(KXFLAGS) -c -o $@ $<

# The version (git describe) reaches main.o only, and rebuilds it only when it changes.
$(BUILD)/version: FORCE | $(BUILD)/obj
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(BUILD)/obj/main.o: $(BUILD)/version
$(BUILD)/obj/main.o: KXFLAGS += -DKXFER_VERSION='"$(VERSION)"'
FORCE:

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(PURE_OBJ) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(KXFLAGS) -Itests/unit -o $@ $< $(filter %.o,$^) $(LDLIBS)

# The record layer's tests record real OpenSSL sessions: they link the tls module too.
$(BUILD)/tests/test_record: $(patsubst %,$(BUILD)/obj/%.o,record tls crypto)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

deps:
	scripts/install-deps.sh

demo: deps
	$(MAKE) all
	scripts/demo.sh

test: deps
	$(MAKE) all
	tests/run.sh all

test-unit: all
	tests/run.sh unit

test-integration: all
	tests/run.sh integration

test-ktls: deps
	$(MAKE) all
	tests/run.sh ktls

# ASan + UBSan build in build-asan/, then the whole suite against it.
asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" all
	KXFER=build-asan/kxfer KXFER_BUILD=build-asan ASAN_OPTIONS=detect_leaks=1 tests/run.sh unit integration

# libFuzzer targets (tests/fuzz/): built by tests/fuzz/run.sh into build-fuzz/ with clang-14,
# ASan and UBSan, then each run for FUZZ_SECONDS, FUZZ_JOBS at a time; fails on any crash.
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ         := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz:
	FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-targets: $(FUZZ)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(PURE_OBJ) $(patsubst %,$(BUILD)/obj/%.o,record tls crypto) | $(BUILD)/fuzz
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(KXFLAGS) -Itests/fuzz -o $@ $< $(filter %.o,$^) $(LDLIBS)

$(BUILD)/fuzz:
	mkdir -p $@

bench: deps
	$(MAKE) all
	bench/run.sh

# Trees: kxfer get -r / put -r / get --parallel against rsync over ssh, rclone, aria2 and curl
# (bench/tree.sh; TREE_FILES, TREE_MB, RUNS to size it).
bench-tree: deps
	$(MAKE) all
	bench/tree.sh

# kxfer bench inside the kTLS test guest (user-mode Linux or QEMU), so that the kTLS rows
# exist on hosts without kTLS.  The guest's kernel crypto is emulated: function, not speed.
BENCH_KTLS_ARGS ?= --size 64M --runs 3
bench-ktls: deps
	$(MAKE) all
	scripts/ktls-guest.sh setup
	scripts/ktls-guest.sh run --timeout 900 -- $(CURDIR)/$(BUILD)/kxfer bench \
		--label "guest, emulated: function only" $(BENCH_KTLS_ARGS)

# The systemd units go to $(PREFIX)/lib/systemd/system (in systemd's search path for
# /usr/local and /usr alike); /etc/default/kxfer and /etc/logrotate.d/kxfer are written only
# when missing, so that an operator's edits survive reinstalls (dist/ has the reference copies); the
# modules-load.d file loads tls.ko at boot, which the unit, without CAP_NET_ADMIN, cannot.
UNITDIR  = $(DESTDIR)$(PREFIX)/lib/systemd/system

install: $(BUILD)/kxfer
	install -D -m 0755 $(BUILD)/kxfer $(DESTDIR)$(PREFIX)/bin/kxfer
	install -D -m 0644 docs/kxfer.1 $(DESTDIR)$(PREFIX)/share/man/man1/kxfer.1
	install -d -m 0755 $(UNITDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/kxfer.service.in >$(UNITDIR)/kxfer.service.tmp
	chmod 0644 $(UNITDIR)/kxfer.service.tmp
	mv -f $(UNITDIR)/kxfer.service.tmp $(UNITDIR)/kxfer.service
	install -m 0644 dist/kxfer.socket dist/kxfer-metrics.socket $(UNITDIR)/
	install -D -m 0644 dist/modules-load-tls.conf $(DESTDIR)$(PREFIX)/lib/modules-load.d/kxfer-tls.conf
	install -D -m 0644 dist/kxfer-alerts.yml $(DESTDIR)$(PREFIX)/share/kxfer/kxfer-alerts.yml
	@if [ -e $(DESTDIR)/etc/default/kxfer ]; then \
		echo "kept $(DESTDIR)/etc/default/kxfer (the new defaults are in dist/kxfer.env)"; \
	else \
		install -D -m 0644 dist/kxfer.env $(DESTDIR)/etc/default/kxfer; \
	fi
	@if [ -e $(DESTDIR)/etc/logrotate.d/kxfer ]; then \
		echo "kept $(DESTDIR)/etc/logrotate.d/kxfer (the new one is dist/kxfer.logrotate)"; \
	else \
		install -D -m 0644 dist/kxfer.logrotate $(DESTDIR)/etc/logrotate.d/kxfer; \
	fi
	@echo "then: systemctl daemon-reload; modprobe tls; systemctl enable --now kxfer.socket (or kxfer.service)"

# Leaves /etc/default/kxfer, /etc/logrotate.d/kxfer (the operator's) and /var/lib/kxfer (the
# certificate) alone.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kxfer $(DESTDIR)$(PREFIX)/share/man/man1/kxfer.1
	rm -f $(UNITDIR)/kxfer.service $(UNITDIR)/kxfer.socket $(UNITDIR)/kxfer-metrics.socket
	rm -f $(DESTDIR)$(PREFIX)/lib/modules-load.d/kxfer-tls.conf $(DESTDIR)$(PREFIX)/share/kxfer/kxfer-alerts.yml

clean:
	rm -rf build build-asan

help:
	@echo "make            build build/kxfer and the unit tests"
	@echo "make demo       install deps, serve a 1 GiB file, fetch it, verify it, kxfer bench --quick"
	@echo "make test       install deps, build, run every test suite"
	@echo "make test-unit | test-integration | test-ktls    one suite"
	@echo "make asan       ASan+UBSan build, unit and integration suites"
	@echo "make fuzz       libFuzzer targets (tests/fuzz/), each FUZZ_SECONDS=60, FUZZ_JOBS=1 at a time"
	@echo "make bench      kxfer vs nginx, curl and wget under hyperfine (bench/run.sh)"
	@echo "make bench-ktls kxfer bench inside the kTLS test guest (emulated: function only)"
	@echo "make bench-tree trees: kxfer -r against rsync over ssh, rclone, aria2, curl (bench/tree.sh)"
	@echo "make install PREFIX=/usr/local DESTDIR=   binary, man page, systemd units, logrotate, alert rules"
