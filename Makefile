# moonbar — build, run and test. `make run` and `make test` install what is missing first.
CC      ?= cc
PKGS    := libuv jansson lua5.4 sqlite3 openssl zlib libsodium libcurl
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
           -DMB_DEFAULT_WEB_ROOT='"$(abspath lua/www)"' -DMB_LUA_LIB='"$(abspath lua/lib)"'
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

CORE_SRC := $(wildcard src/core/*.c)
SRC      := $(CORE_SRC) $(wildcard src/router/*.c) $(wildcard src/transport/*.c) $(wildcard src/lua/*.c) \
            $(wildcard src/store/*.c) $(wildcard src/auth/*.c) $(wildcard src/bridge/*.c) src/config.c
OBJ      := $(SRC:%.c=build/obj/%.o)
ASAN_OBJ := $(SRC:%.c=build/asan/%.o)
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

UNIT_SRC := $(wildcard spec/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:spec/unit/%.c=build/unit/%)

.PHONY: all run test unit deps clean asan bench fuzz soak analyze
all: build/moonbar

deps:
	@scripts/install-deps

build/moonbar: $(OBJ) build/obj/src/main.o
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/moonbar-asan: $(ASAN_OBJ) build/asan/src/main.o
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: %.c $(wildcard include/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

build/asan/%.o: %.c $(wildcard include/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC    $< (asan)"
	@$(CC) $(CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

asan: build/moonbar-asan

# C unit tests: one binary per spec/unit/test_*.c, linked with the pure core and router.
build/unit/%: spec/unit/%.c spec/unit/unit.h $(OBJ)
	@mkdir -p build/unit
	@echo "  TEST  $@"
	@$(CC) $(CFLAGS) -Ispec/unit -o $@ $< $(OBJ) $(LDLIBS)

unit: $(UNIT_BIN)

# libFuzzer harnesses (M13): one binary per spec/fuzz/fuzz_*.c, linked with every object but
# main.o built by clang with ASan+UBSan and the fuzzer's coverage. `make fuzz` runs each for
# FUZZ_TIME seconds (default 60); `make test` runs each over its corpus and briefly (--ci).
FUZZ_CC    := clang
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ   := $(SRC:%.c=build/fuzz/obj/%.o)
FUZZ_SRC   := $(wildcard spec/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:spec/fuzz/%.c=build/fuzz/%)
FUZZ_TIME  ?= 60
.SECONDARY: $(FUZZ_OBJ)

build/fuzz/obj/%.o: %.c $(wildcard include/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC    $< (fuzz)"
	@$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -DMB_FUZZ -c -o $@ $<

build/fuzz/%: spec/fuzz/%.c $(wildcard spec/fuzz/*.h) $(FUZZ_OBJ)
	@mkdir -p build/fuzz
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -Ispec/fuzz -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

fuzz: deps
	$(MAKE) $(FUZZ_BIN)
	scripts/fuzz --time $(FUZZ_TIME) $(FUZZ_ARGS)

# Static analysis (M13): gcc's -fanalyzer over src/, every finding an error.
analyze:
	scripts/analyze

# make soak: 10 minutes of mixed traffic against build/moonbar (SOAK_TIME seconds), not in CI.
SOAK_TIME ?= 600
soak: deps
	$(MAKE) build/moonbar
	SOAK_TIME=$(SOAK_TIME) scripts/soak

# Benchmarks: performance targets live here, never in tests.
build/bench/%: scripts/bench/%.c scripts/bench/bench_common.h $(OBJ)
	@mkdir -p build/bench
	@echo "  BENCH $@"
	@$(CC) $(CFLAGS) -o $@ $< $(OBJ) $(LDLIBS)

# The load generator is a WAMP client: libuv and OpenSSL (--tls), none of moonbar's objects.
build/bench/loadgen: scripts/bench/loadgen.c
	@mkdir -p build/bench
	@echo "  BENCH $@"
	@$(CC) $(CFLAGS) -o $@ $< -luv -lssl -lcrypto

bench: deps
	$(MAKE) build/moonbar build/bench/route build/bench/lua build/bench/loadgen
	scripts/bench/run

run: deps
	$(MAKE) build/moonbar
	build/moonbar --config lua/config.lua

test: deps
	$(MAKE) -j$$(nproc) build/moonbar build/moonbar-asan $(UNIT_BIN) $(FUZZ_BIN)
	scripts/run-tests

clean:
	rm -rf build
