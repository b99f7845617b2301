# ferry: one non-recursive Makefile.
#
#   make            build ferryd, ferry and ferry-agent into build/
#   make test       unit tests, then integration tests (needs nothing running
#                   for the unit part; the integration part starts its own
#                   ferryd and agents on loopback)
#   make asan       build and run every test under AddressSanitizer + UBSan
#   make fuzz       short libFuzzer run on the receive path
#   make fleet      the local demo fleet (see README)

CC       ?= gcc
BUILD    ?= build
SAN      ?=
PKGS     := libprotobuf-c libsodium sqlite3 libuv libcurl libcjson inih yaml-0.1 \
            libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lnng -lpthread

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral -Werror
CFLAGS   ?= -O2 -g
ifneq ($(SAN),)
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
              $(WARN) $(CFLAGS) -I$(BUILD)/gen -Icommon $(PKG_CFLAGS) -MMD -MP

GEN      := $(BUILD)/gen/ferry.pb-c.c
COMMON   := $(wildcard common/*.c)
FERRYD   := coordinator/ferryd.c coordinator/store.c coordinator/link.c \
            coordinator/control.c coordinator/repsrv.c coordinator/fleet.c \
            coordinator/http.c coordinator/swapone.c coordinator/spec.c \
            coordinator/deploy.c coordinator/rollout.c coordinator/metrics.c
FERRY    := coordinator/ferry.c coordinator/ferry_deploy.c
AGENT    := $(filter-out agent/main.c,$(wildcard agent/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON)) $(BUILD)/obj/gen/ferry.pb-c.o
FERRYD_OBJ := $(call obj,$(FERRYD))
FERRY_OBJ  := $(call obj,$(FERRY))
AGENT_OBJ  := $(call obj,$(AGENT))

BINS := $(BUILD)/ferryd $(BUILD)/ferry $(BUILD)/ferry-agent

all: $(BINS)

$(BUILD)/gen/ferry.pb-c.c $(BUILD)/gen/ferry.pb-c.h: proto/ferry.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/ferry.proto

# Everything that includes the generated header waits for it.
$(COMMON_OBJ) $(FERRYD_OBJ) $(FERRY_OBJ) $(AGENT_OBJ): $(BUILD)/gen/ferry.pb-c.h

$(BUILD)/obj/gen/ferry.pb-c.o: $(BUILD)/gen/ferry.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(CFLAGS) -I$(BUILD)/gen $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libferry.a: $(COMMON_OBJ)
	ar rcs $@ $^

$(BUILD)/ferryd: $(FERRYD_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/ferry: $(FERRY_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/ferry-agent: $(AGENT_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# ---- tests ---------------------------------------------------------------
# Unit tests: tests/unit/test_<module>.c, each linked with the module objects
# it names in its first line: "// links: coordinator/store.c agent/records.c"
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ITEST_SRC := $(wildcard tests/integration/test_*.c)
ITEST_BINS:= $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(ITEST_SRC))
HARNESS_OBJ := $(call obj,tests/integration/harness.c)
links = $(call obj,$(shell sed -n '1s|^// links:||p' $(1)))

.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(call links,tests/unit/%.c) $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -Icoordinator -Iagent -o $@ $(filter-out %.h,$^) $(PKG_LIBS) -lcriterion

$(BUILD)/tests/%: tests/integration/%.c $(HARNESS_OBJ) $$(call links,tests/integration/%.c) $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/integration -Icoordinator -Iagent -o $@ $(filter-out %.h,$^) $(PKG_LIBS) -lcriterion

$(UNIT_BINS) $(ITEST_BINS) $(HARNESS_OBJ): $(BUILD)/gen/ferry.pb-c.h

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2; done

integration: $(BINS) $(ITEST_BINS)
	@set -e; for t in $(ITEST_BINS); do echo "== $$t"; \
	  FERRY_BIN=$(abspath $(BUILD)) timeout 600 $$t --jobs 1; done

test: unit integration

asan:
	$(MAKE) BUILD=build/asan SAN=1 test

# ---- fuzzing -------------------------------------------------------------
FUZZ_TIME ?= 30
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -I$(BUILD)/gen -Icommon -Iagent $(PKG_CFLAGS)

$(BUILD)/fuzz/fuzz_receive: tests/fuzz/fuzz_receive.c tests/fuzz/fuzz_key.h \
    agent/accept.c agent/accept.h $(COMMON) $(GEN)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(PKG_LIBS)

fuzz: $(BUILD)/fuzz/fuzz_receive
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_receive -max_total_time=$(FUZZ_TIME) -max_len=4096 \
	  $(BUILD)/fuzz/corpus tests/fuzz/seeds

# ---- the local fleet -----------------------------------------------------
fleet: $(BINS)
	deploy/local-fleet.sh

clean:
	rm -rf build

.PHONY: all unit integration test asan fuzz fleet clean
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
