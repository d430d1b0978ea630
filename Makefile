# rexray-c: `make` builds build/rexray; `make test` runs every test;
# `make run` starts the engine in the foreground on its embedded default.

CC      ?= cc
PKGS    := libmicrohttpd jansson libfyaml sqlite3 libcurl blkid gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_BRANCH := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Isrc $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_SRC := $(filter-out src/main/%,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:src/%.c=build/obj/%.o)
SAN_OBJ := $(LIB_SRC:src/%.c=build/san/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/unit/%)

.PHONY: all deps run test unit system clean
# keep the sanitizer objects between unit-test builds
.SECONDARY:
all: build/rexray build/dvdcli

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

build/rexray: build/obj/main/rexray.o $(LIB_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/dvdcli: build/obj/main/dvdcli.o $(LIB_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/unit/%: tests/unit/%.c $(SAN_OBJ)
	@mkdir -p $(dir $@)
	@echo "  UNIT    $@"
	@$(CC) $(ALL_CFLAGS) $(SAN) -Itests/unit -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)

run: deps
	$(MAKE) build/rexray
	build/rexray service start -f

test: deps
	$(MAKE) build/rexray build/dvdcli unit
	@scripts/run-tests

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) build/obj/main/rexray.d build/obj/main/dvdcli.d
