# ngx_calls
#
#   make run [CONF=conf/standalone.conf]   build, then run nginx in the
#                                          foreground with that config
#   make test                              build and run the whole suite
#
#   make module      build/dyn/ngx_calls_module.so for Debian's nginx
#   make static      build/static/nginx with ngx_calls compiled in
#   make asan        build/asan/nginx, static, with ASan + UBSan
#   make unit        C unit tests of src/media (TAP, prove)
#   make fuzz        libFuzzer on every parser of network input, each
#                    for FUZZ_SECONDS (10)
#   make check       the Perl/aiortc/Chromium suite against the module,
#                    2 workers (TEST_NGINX_WORKERS)
#   make check-asan  the suite against the ASan build, 1 worker
#   make loadgen     build/loadgen/loadgen (simulated Calls clients, see
#                    tools/loadgen) and build/loadgen/reflector
#   make srtp-bench  build/bench/srtp_bench: our SRTP against libsrtp2,
#                    ns per packet (not part of make test)
#   make bench [WORKERS=n] [BENCH_ARGS=...]
#                    the benchmarks of bench/ (bench/README.md): ngx_calls,
#                    the bare UDP reflector and Janus under the same load

SHELL := /bin/bash

BUILD ?= build
CONF ?= conf/standalone.conf
override BUILD := $(abspath $(BUILD))
export BUILD

MEDIA_SRCS := $(sort $(wildcard src/media/*.c))
MEDIA_HDRS := $(wildcard src/media/*.h)
MEDIA_OBJS := $(patsubst src/media/%.c,$(BUILD)/unit/obj/%.o,$(MEDIA_SRCS))
UNIT_TESTS := $(patsubst t/unit/%.c,$(BUILD)/unit/%,\
                $(sort $(wildcard t/unit/test_*.c)))

PKGS := nice usrsctp libcjson msgpack zlib openssl

# libsrtp2 is only the oracle the SRTP unit test and benchmark check
# ours against; the module and the load generator do not link it
TEST_PKGS := $(PKGS) libsrtp2

# the unit tests run under the sanitizers too
UNIT_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined \
              -Wall -Wextra -Wno-unused-parameter -Werror \
              $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null) \
              -Isrc/media -It/unit
UNIT_LIBS = -fsanitize=address,undefined \
            $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

PROVE_JOBS ?= 1

# libFuzzer targets for every parser of network input (clang)
FUZZERS := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,\
             $(sort $(wildcard t/fuzz/fuzz_*.c)))
FUZZ_OBJS := $(patsubst src/media/%.c,$(BUILD)/fuzz/obj/%.o,$(MEDIA_SRCS))
FUZZ_SECONDS ?= 10
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined -Wall -Wno-unused-parameter \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Isrc/media
FUZZ_LIBS = -fsanitize=address,undefined \
            $(shell pkg-config --libs $(PKGS) 2>/dev/null)

.PHONY: all deps unit-deps test-deps bench-deps module static asan unit \
        fuzz check check-asan loadgen srtp-bench bench test run clean

all: module loadgen

deps:
	@tools/deps.sh build

unit-deps:
	@tools/deps.sh unit

test-deps:
	@tools/deps.sh test

bench-deps:
	@tools/deps.sh bench

module: deps
	@tools/build.sh dynamic

static: deps
	@tools/build.sh static

asan: deps
	@tools/build.sh asan

$(BUILD)/unit/obj/%.o: src/media/%.c $(MEDIA_HDRS)
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(UNIT_CFLAGS) -c $< -o $@

$(BUILD)/unit/libcallsmedia.a: $(MEDIA_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/unit/test_%: t/unit/test_%.c $(wildcard t/unit/*.h) \
                    $(BUILD)/unit/libcallsmedia.a
	@echo "CC $<"
	@$(CC) $(UNIT_CFLAGS) $< $(BUILD)/unit/libcallsmedia.a $(UNIT_LIBS) -o $@

unit: unit-deps
	@$(MAKE) --no-print-directory $(UNIT_TESTS)
	prove --exec '' $(UNIT_TESTS)

$(BUILD)/fuzz/obj/%.o: src/media/%.c $(MEDIA_HDRS)
	@mkdir -p $(@D)
	@echo "CC (fuzz) $<"
	@clang $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/libcallsmedia.a: $(FUZZ_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: t/fuzz/fuzz_%.c $(BUILD)/fuzz/libcallsmedia.a
	@echo "CC (fuzz) $<"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< \
	    $(BUILD)/fuzz/libcallsmedia.a $(FUZZ_LIBS) -o $@

# each fuzzer for FUZZ_SECONDS from its seeds (t/fuzz/seeds.py); the
# corpus it grows stays in build/fuzz/corpus for the next run
fuzz: test-deps
	@$(MAKE) --no-print-directory $(FUZZERS)
	@python3 t/fuzz/seeds.py $(BUILD)/fuzz/corpus
	@for f in $(FUZZERS); do \
	    n=$$(basename $$f); \
	    echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$n- \
	        $(BUILD)/fuzz/corpus/$$n 2>$(BUILD)/fuzz/$$n.log \
	    || { tail -40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	    grep -E "stat::number_of_executed_units" $(BUILD)/fuzz/$$n.log; \
	done

# the load generator and the reflector: optimised, no sanitizers, with
# their own build of src/media
LOADGEN_SRCS := $(sort $(wildcard tools/loadgen/*.c))
LOADGEN_HDRS := $(wildcard tools/loadgen/*.h)
LOADGEN_OBJS := \
    $(patsubst tools/loadgen/%.c,$(BUILD)/loadgen/obj/%.o,$(LOADGEN_SRCS)) \
    $(patsubst src/media/%.c,$(BUILD)/loadgen/obj/media/%.o,$(MEDIA_SRCS))
LOADGEN_CFLAGS = -g -O2 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
                 -Werror $(shell pkg-config --cflags $(PKGS) opus 2>/dev/null) \
                 -Isrc/media
LOADGEN_LIBS = $(shell pkg-config --libs $(PKGS) opus 2>/dev/null) -lwslay -lm

$(BUILD)/loadgen/obj/media/%.o: src/media/%.c $(MEDIA_HDRS)
	@mkdir -p $(@D)
	@echo "CC (loadgen) $<"
	@$(CC) $(LOADGEN_CFLAGS) -c $< -o $@

$(BUILD)/loadgen/obj/%.o: tools/loadgen/%.c $(LOADGEN_HDRS) $(MEDIA_HDRS)
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(LOADGEN_CFLAGS) -c $< -o $@

$(BUILD)/loadgen/loadgen: $(LOADGEN_OBJS)
	@echo "LD $@"
	@$(CC) $^ $(LOADGEN_LIBS) -o $@

$(BUILD)/loadgen/reflector: tools/reflector.c
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) -g -O2 -Wall -Wextra -Werror $< -o $@

loadgen: deps
	@$(MAKE) --no-print-directory $(BUILD)/loadgen/loadgen \
	    $(BUILD)/loadgen/reflector

# protect/unprotect timings of src/media/ngx_calls_srtp.c against
# libsrtp2 (tools/srtp_bench.c); optimised, no sanitizers
$(BUILD)/bench/srtp_bench: tools/srtp_bench.c src/media/ngx_calls_srtp.c \
                           src/media/ngx_calls_srtp.h t/unit/libsrtp_oracle.h
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) -g -O2 -Wall -Wextra -Wno-unused-parameter -Werror -Isrc/media \
	    -It/unit \
	    $(shell pkg-config --cflags libsrtp2 openssl) \
	    tools/srtp_bench.c src/media/ngx_calls_srtp.c \
	    $(shell pkg-config --libs libsrtp2 openssl) -o $@

srtp-bench: unit-deps
	@$(MAKE) --no-print-directory $(BUILD)/bench/srtp_bench
	$(BUILD)/bench/srtp_bench

WORKERS ?= 1
BENCH_ARGS ?=

bench: bench-deps module loadgen
	python3 bench/run.py --workers $(WORKERS) $(BENCH_ARGS)

check: test-deps module loadgen
	TEST_NGINX_MODE=dynamic prove -j$(PROVE_JOBS) -I t/lib t/

check-asan: test-deps asan loadgen
	TEST_NGINX_MODE=asan TEST_NGINX_WORKERS=1 prove -I t/lib t/

test: test-deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory check-asan

run: module
	@tools/run.sh $(CONF)

clean:
	rm -rf $(BUILD)
