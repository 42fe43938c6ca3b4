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
#   make check       the Perl/aiortc/Chromium suite against the module
#   make check-asan  the call tests against the ASan build

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

PKGS := libsrtp2 nice usrsctp libcjson msgpack zlib openssl

# the unit tests run under the sanitizers too
UNIT_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined \
              -Wall -Wextra -Wno-unused-parameter -Werror \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
              -Isrc/media -It/unit
UNIT_LIBS = -fsanitize=address,undefined \
            $(shell pkg-config --libs $(PKGS) 2>/dev/null)

PROVE_JOBS ?= 1

.PHONY: all deps test-deps module static asan unit check check-asan test \
        run clean

all: module

deps:
	@tools/deps.sh build

test-deps:
	@tools/deps.sh test

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

$(BUILD)/unit/test_%: t/unit/test_%.c t/unit/tap.h $(BUILD)/unit/libcallsmedia.a
	@echo "CC $<"
	@$(CC) $(UNIT_CFLAGS) $< $(BUILD)/unit/libcallsmedia.a $(UNIT_LIBS) -o $@

unit: deps
	@$(MAKE) --no-print-directory $(UNIT_TESTS)
	prove --exec '' $(UNIT_TESTS)

check: test-deps module
	TEST_NGINX_MODE=dynamic prove -j$(PROVE_JOBS) -I t/lib t/

check-asan: test-deps asan
	TEST_NGINX_MODE=asan prove -I t/lib t/

test: test-deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory check-asan

run: module
	@tools/run.sh $(CONF)

clean:
	rm -rf $(BUILD)
