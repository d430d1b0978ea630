# rexray-c: `make` builds build/rexray; `make test` runs every test;
# `make run` starts the engine in the foreground on its embedded default.

CC      ?= cc
PKGS    := libmicrohttpd jansson libfyaml sqlite3 blkid gnutls libsystemd libprotobuf-c
# gRPC: its headers only. Nothing links it; csi/grpcdl.c loads it (dlopen)
# when a CSI module starts, so that its ~50 libraries stay out of every
# other start-up.
# libpq: its header only; store/pqdl.c loads it for a postgres:// store.
# libcurl: its header only. Nothing links it; net/curldl.c loads it
# (dlopen) for the tcp:// and TLS hosts that need it, so that the ~30
# libraries behind it stay out of every rexray and dvdcli start-up. dlopen
# is in glibc >= 2.34's libc, so no -ldl.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libcurl grpc libpq 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_BRANCH := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) -Isrc -Ibuild/gen $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_SRC := $(filter-out src/main/%,$(LIB_SRC))
# CSI's messages: C from src/csi/csi.proto (and the two well-known types it
# imports) by protoc-c into build/gen, compiled into the library as pb/.
# The well-known .proto files come from libprotobuf-dev when installed,
# else from python3-grpc-tools (which the CSI tests need anyway).
PROTO_WKT ?= $(patsubst %/google/protobuf/wrappers.proto,%,$(firstword $(wildcard \
  /usr/include/google/protobuf/wrappers.proto \
  /usr/lib/python3/dist-packages/grpc_tools/_proto/google/protobuf/wrappers.proto)))
PB_SRC  := build/gen/csi/csi.pb-c.c build/gen/google/protobuf/timestamp.pb-c.c \
           build/gen/google/protobuf/wrappers.pb-c.c
PB_HDR  := $(PB_SRC:.c=.h)
LIB_OBJ := $(LIB_SRC:src/%.c=build/obj/%.o) $(PB_SRC:build/gen/%.c=build/obj/pb/%.o)
SAN_OBJ := $(LIB_SRC:src/%.c=build/san/%.o) $(PB_SRC:build/gen/%.c=build/san/pb/%.o)
MAN_PAGES := build/man/rexray.1 build/man/rexray-config.5 build/man/dvdcli.1
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/unit/%)

.PHONY: all deps run test unit system clean fuzz fuzz-build
# keep the sanitizer objects between unit-test builds
.SECONDARY:
all: build/rexray build/dvdcli $(MAN_PAGES) build/completion/rexray

deps:
	@scripts/deps

build/obj/util/version.o build/san/util/version.o: \
  ALL_CFLAGS += -DRR_COMMIT='"$(GIT_COMMIT)"' -DRR_BRANCH='"$(GIT_BRANCH)"' \
  -DRR_FORMED='"$(shell date -u +%FT%TZ)"'

build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	@$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# one protoc-c run makes all three pairs
$(PB_SRC) $(PB_HDR) &: src/csi/csi.proto
	@mkdir -p build/gen
	@echo "  PROTOC  $<"
	@test -n "$(PROTO_WKT)" || { echo "no google/protobuf/wrappers.proto: install" \
	  "libprotobuf-dev or python3-grpc-tools (make deps)" >&2; exit 1; }
	@protoc-c -Isrc -I$(PROTO_WKT) --c_out=build/gen csi/csi.proto \
	  google/protobuf/timestamp.proto google/protobuf/wrappers.proto

build/obj/pb/%.o: build/gen/%.c $(PB_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/pb/%.o: build/gen/%.c $(PB_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	@$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# csi/ includes the generated header: made before any of it compiles
$(filter build/obj/csi/%,$(LIB_OBJ)) $(filter build/san/csi/%,$(SAN_OBJ)): $(PB_HDR)

build/rexray: build/obj/main/rexray.o $(LIB_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# dvdcli needs a fraction of the engine: linking from an archive with
# --as-needed keeps SQLite, libfyaml, libmicrohttpd and friends out of it,
# and their relocations out of its start-up (it runs once per mount).
# (libcurl is linked by neither binary: src/net/curldl.h.)
build/librexray.a: $(LIB_OBJ)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

build/dvdcli: build/obj/main/dvdcli.o build/librexray.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(LDLIBS)

# the generator of docs/configuration.md's key reference (src/main/cfgdoc.c)
build/cfgdoc: build/obj/main/cfgdoc.o build/librexray.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(LDLIBS)

# rewrite the generated blocks of docs/configuration.md from the table of keys,
# then rexray-config(5)'s key reference from them
.PHONY: docs
docs: build/cfgdoc
	build/cfgdoc --write docs/configuration.md
	scripts/man-keys --write

# man pages: one scdoc source each in docs/man (rexray(1), rexray-config(5),
# dvdcli(1)); `make man` builds them into build/man.
build/man/%: docs/man/%.scd
	@mkdir -p $(dir $@)
	@echo "  SCDOC   $@"
	@scdoc < $< > $@.tmp && mv $@.tmp $@

.PHONY: man
man: $(MAN_PAGES)

# bash completion, printed by the engine itself (src/cli/completion.c)
build/completion/rexray: build/rexray
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@build/rexray completion bash > $@.tmp && mv $@.tmp $@

# the systemd unit's template as a C string, for `rexray install` (cli/install.c)
build/gen/rexray_service.h: packaging/rexray.service.in
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $< > $@.tmp && \
	  { echo '/* generated from packaging/rexray.service.in by the Makefile */'; \
	    echo 'static const char rr_service_template[] ='; cat $@.tmp; echo ';'; } > $@ && \
	  rm $@.tmp
build/obj/cli/install.o build/san/cli/install.o build/fuzz/obj/cli/install.o: \
  build/gen/rexray_service.h
build/obj/cli/install.o build/san/cli/install.o: ALL_CFLAGS += -Ibuild/gen
build/fuzz/obj/cli/install.o: FUZZ_CFLAGS += -Ibuild/gen

build/unit/%: tests/unit/%.c $(SAN_OBJ)
	@mkdir -p $(dir $@)
	@echo "  UNIT    $@"
	@$(CC) $(ALL_CFLAGS) $(SAN) -Itests/unit -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)

# ---- fuzzing: libFuzzer targets tests/fuzz/fuzz_*.c under ASan/UBSan, built
# with clang against the library compiled separately into build/fuzz/obj.
# `make fuzz` runs each for FUZZ_SECONDS (FUZZ_TARGETS="a b" picks some,
# FUZZ_JOBS how many at once) on a copy of its seed corpus under build/fuzz.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_TARGETS ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Ibuild/gen $(PKG_CFLAGS) -MMD -MP \
                -Wall -Wextra -Wno-unused-parameter
FUZZ_OBJ     := $(LIB_SRC:src/%.c=build/fuzz/obj/%.o) $(PB_SRC:build/gen/%.c=build/fuzz/obj/pb/%.o)
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%)

build/fuzz/obj/util/version.o: \
  FUZZ_CFLAGS += -DRR_COMMIT='"$(GIT_COMMIT)"' -DRR_BRANCH='"$(GIT_BRANCH)"'

build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c -o $@ $<

build/fuzz/obj/pb/%.o: build/gen/%.c $(PB_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c -o $@ $<

$(filter build/fuzz/obj/csi/%,$(FUZZ_OBJ)): $(PB_HDR)

build/fuzz/librexray.a: $(FUZZ_OBJ)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

build/fuzz/bin/%: tests/fuzz/%.c tests/fuzz/fuzz.h build/fuzz/librexray.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -Itests/fuzz -fsanitize=fuzzer $(FUZZ_SAN) \
	  -o $@ $< build/fuzz/librexray.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	$(MAKE) fuzz-build
	@tests/fuzz/run-fuzz --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)

run: deps
	$(MAKE) all
	build/rexray -c etc/run.yml service start -f

# the power-loss simulator (tests/powerloss), a FUSE filesystem for the tests
build/powerloss/plfs: tests/powerloss/plfs.c tests/powerloss/build.sh
	@echo "  PLFS    $@"
	@sh tests/powerloss/build.sh $@

test: deps
	$(MAKE) build/rexray build/dvdcli build/cfgdoc unit fuzz-build build/powerloss/plfs
	@scripts/run-tests

# the benchmark suite (bench/README.md); writes docs/performance.md. Not part of `test`.
.PHONY: bench
bench: deps
	$(MAKE) build/rexray build/dvdcli
	@bench/run

# bench/b8_snapshot.py's driver of osclone_file (bench/clonebench.c)
build/bench/clonebench: bench/clonebench.c build/librexray.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(ALL_CFLAGS) -Wl,--as-needed -o $@ $< build/librexray.a $(LDLIBS)

# the long checks of issue 8 (tests/stress/README.md): a soak of the Docker
# plugin and valgrind memcheck of the system tests. Not part of `test`;
# STRESS_SECONDS=30 for a short run.
# issue 25: the README's two commands on a minimal Debian 12 root made by
# debootstrap (cached), entered with pivot_root. Not part of `test`.
# the mutation score of the error paths (scripts/mutate; issue 24): about
# 30 minutes, sampled with a fixed seed. Not part of `test`.
.PHONY: mutate
mutate: deps
	$(MAKE) build/rexray build/dvdcli unit
	@scripts/mutate $(MUTATE_ARGS)

.PHONY: fresh-check
fresh-check:
	@scripts/fresh-check

.PHONY: stress
stress: deps
	$(MAKE) build/rexray build/dvdcli
	@tests/stress/run

# ---- install (docs/install.md). PREFIX and DESTDIR as usual; the unit's
# ExecStart names $(BINDIR)/rexray. An existing config.yml is never
# overwritten; uninstall removes it only when it is still the example.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
SYSCONFDIR     ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions
CONF           := $(DESTDIR)$(SYSCONFDIR)/rexray/config.yml

.PHONY: install uninstall deb package-test
install: all
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/rexray
	install -m 0755 build/rexray build/dvdcli $(DESTDIR)$(BINDIR)/
	install -m 0644 build/man/rexray.1 build/man/dvdcli.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 build/man/rexray-config.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 build/completion/rexray $(DESTDIR)$(BASHCOMPDIR)/rexray
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/rexray.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/rexray.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/rexray.service.tmp
	mv $(DESTDIR)$(SYSTEMDUNITDIR)/rexray.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/rexray.service
	@if [ -e $(CONF) ]; then echo "kept the existing $(CONF)"; \
	else install -m 0644 packaging/config.yml $(CONF); fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rexray $(DESTDIR)$(BINDIR)/dvdcli \
	  $(DESTDIR)$(MANDIR)/man1/rexray.1 $(DESTDIR)$(MANDIR)/man1/dvdcli.1 \
	  $(DESTDIR)$(MANDIR)/man5/rexray-config.5 $(DESTDIR)$(BASHCOMPDIR)/rexray \
	  $(DESTDIR)$(SYSTEMDUNITDIR)/rexray.service
	@if [ -e $(CONF) ] && ! cmp -s packaging/config.yml $(CONF); then \
	  echo "kept $(CONF): it differs from the example"; \
	else rm -f $(CONF); rmdir $(DESTDIR)$(SYSCONFDIR)/rexray 2>/dev/null || true; fi

# the Debian package build/deb/rexray-c_<version>_<arch>.deb (packaging/debian)
deb:
	@scripts/make-deb

# installs that package into a clean Debian 12 root and boots systemd there
# (scripts/package-test). Not part of `test`.
package-test: deb
	@scripts/package-test

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) $(FUZZ_BIN:=.d) build/obj/main/rexray.d build/obj/main/dvdcli.d build/obj/main/cfgdoc.d
