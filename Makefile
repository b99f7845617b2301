# SPDX-License-Identifier: Apache-2.0
# ferry: one non-recursive Makefile.
#
#   make            build ferryd, ferry and ferry-agent into build/
#   make test       the SPDX check (spdx-check), unit tests, then integration
#                   tests (needs nothing running
#                   for the unit part; the integration part starts its own
#                   ferryd and agents on loopback; its binaries run
#                   ITEST_JOBS=2 at a time), then bench-smoke
#   make asan       build and run every test under AddressSanitizer + UBSan
#   make fuzz       short libFuzzer run on the receive path
#   make fleet      the local demo fleet (see README)
#   make bench      ferry against the floor and Docker Swarm, side by side
#                   (tests/bench/README.md; slow: about half an hour)
#   make bench-smoke  one quick pass of the bench harness (part of `make test`)
#   make install    binaries, man pages, example configs and systemd units
#                   (PREFIX=/usr/local, DESTDIR for staging)
#   make deb        the Debian packages ferry-coordinator and ferry-agent,
#                   into build/deb/
#   make lintian    check those packages with lintian
#   make verify-units  systemd-analyze verify on the three systemd units
#   make install-test  install, enrol, ping and purge both packages in
#                   containers made from a fresh Debian 12 root

CC       ?= gcc
BUILD    ?= build
SAN      ?=
PKGS     := libprotobuf-c libsodium sqlite3 libuv libcurl libcjson inih yaml-0.1 \
            libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lnng -lpthread -lm
# What ferryd's /metrics says it is (ferry_build_info): the packages'
# version, and the commit (a tree without .git, as `make deb` builds it,
# reads the file COMMIT that `make deb` leaves there).
FERRY_VERSION := $(shell awk -F'[()]' 'NR == 1 { print $$2 }' deploy/debian/changelog)
FERRY_COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || \
                   cat COMMIT 2>/dev/null || echo unknown)
# The CLI's tables (coordinator/table.c): only ferry links libsmartcols.
SCOLS_CFLAGS := $(shell pkg-config --cflags smartcols)
SCOLS_LIBS   := $(shell pkg-config --libs smartcols)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Werror
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
            coordinator/yamltree.c coordinator/imageref.c \
            coordinator/specwire.c coordinator/secrets.c \
            coordinator/deploy.c coordinator/plan.c coordinator/views.c \
            coordinator/rollout.c coordinator/metrics.c \
            coordinator/refusals.c coordinator/traffic.c \
            coordinator/analysis.c coordinator/promq.c \
            coordinator/drain.c \
            coordinator/logs.c \
            coordinator/drift.c coordinator/driftwatch.c
FERRY    := coordinator/ferry.c coordinator/ferry_deploy.c \
            coordinator/ferry_secret.c coordinator/table.c \
            coordinator/ferry_logs.c
AGENT    := $(wildcard agent/*.c)
PROXY    := $(wildcard agent/proxy/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON)) $(BUILD)/obj/gen/ferry.pb-c.o
FERRYD_OBJ := $(call obj,$(FERRYD))
FERRY_OBJ  := $(call obj,$(FERRY))
AGENT_OBJ  := $(call obj,$(AGENT))
PROXY_OBJ  := $(call obj,$(PROXY))

BINS := $(BUILD)/ferryd $(BUILD)/ferry $(BUILD)/ferry-agent \
        $(BUILD)/ferry-proxy

all: $(BINS)

$(BUILD)/gen/ferry.pb-c.c $(BUILD)/gen/ferry.pb-c.h: proto/ferry.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/ferry.proto

# Everything that includes the generated header waits for it.
$(COMMON_OBJ) $(FERRYD_OBJ) $(FERRY_OBJ) $(AGENT_OBJ) $(PROXY_OBJ): \
    $(BUILD)/gen/ferry.pb-c.h

# Rewritten only when the version or the commit changed, so that only what
# includes it is rebuilt.
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define FERRY_VERSION "%s"\n#define FERRY_COMMIT "%s"\n' \
	    '$(FERRY_VERSION)' '$(FERRY_COMMIT)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/obj/coordinator/metrics.o: $(BUILD)/gen/version.h
.PHONY: FORCE
FORCE:

$(BUILD)/obj/gen/ferry.pb-c.o: $(BUILD)/gen/ferry.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(CPPFLAGS) $(CFLAGS) -I$(BUILD)/gen $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libferry.a: $(COMMON_OBJ)
	ar rcs $@ $^

$(BUILD)/ferryd: $(FERRYD_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/ferry: $(FERRY_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(SCOLS_LIBS)

$(BUILD)/obj/coordinator/table.o: ALL_CFLAGS += $(SCOLS_CFLAGS)

$(BUILD)/ferry-agent: $(AGENT_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# ferry-proxy: agent/proxy/ (HTTP parsed by libhttp-parser).
$(BUILD)/ferry-proxy: $(PROXY_OBJ) $(BUILD)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lhttp_parser

# ---- tests ---------------------------------------------------------------
# Unit tests: tests/unit/test_<module>.c, each linked with the module objects
# it names in its first line (its second, under the SPDX line):
# "// links: coordinator/store.c agent/records.c"
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ITEST_SRC := $(wildcard tests/integration/test_*.c)
ITEST_BINS:= $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(ITEST_SRC))
HARNESS_OBJ := $(call obj,tests/integration/harness.c)
# Both kinds build $(BUILD)/tests/<name>: one name for two would build only
# the unit test (the first rule) and run it in place of the other.
TEST_CLASH := $(filter $(notdir $(UNIT_SRC)),$(notdir $(ITEST_SRC)))
ifneq ($(TEST_CLASH),)
$(error tests/unit and tests/integration both have $(TEST_CLASH): rename one)
endif
links = $(call obj,$(shell sed -n '1,2s|^// links:||p' $(1)))

.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(call links,tests/unit/%.c) $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -Icoordinator -Iagent -o $@ $(filter-out %.h,$^) $(PKG_LIBS) -lcriterion

$(BUILD)/tests/%: tests/integration/%.c $(HARNESS_OBJ) $$(call links,tests/integration/%.c) $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/integration -Icoordinator -Iagent -o $@ $(filter-out %.h,$^) $(PKG_LIBS) -lcriterion

$(UNIT_BINS) $(ITEST_BINS) $(HARNESS_OBJ): $(BUILD)/gen/ferry.pb-c.h

# Test tools: tests/tools/<name>.c, one binary each, for the integration
# tests and the bench (ferry-load: the bounded HTTP load generator).
$(BUILD)/tests/ferry-load: tests/tools/ferry-load.c $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lhttp_parser

TOOLS := $(BUILD)/tests/ferry-load
tools: $(TOOLS)

# test_proxy's backends and clients parse HTTP with http-parser too.
$(BUILD)/tests/test_proxy: PKG_LIBS += -lhttp_parser

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2; done

# ITEST_ONLY_PLAIN: binaries the sanitized pass leaves to the plain one.
# test_nodrop's 20 rollouts under load are minutes of Docker waits; every
# code path they take (swaps through ferry-proxy, the proxy itself, the
# counts) runs sanitized in test_swap, test_proxy and test_counts.
# test_spec_keys (90 s sanitized) checks each documented key's effect; the
# code that reads, carries and applies them runs sanitized in test_spec,
# test_specwire and test_plan (unit), test_container (every container key
# on a real container), test_swap and test_livehealth (each kind of check).
ITEST_ONLY_PLAIN := $(patsubst %,$(BUILD)/tests/test_%,nodrop spec_keys)
# ITEST_SAN_FILTER: binaries the sanitized pass runs in part (run.sh -f).
# test_canary's nine tests are mostly analysis intervals waited out (180 s
# sanitized); one of them takes ferryd's whole analysis path (traffic from
# heartbeats, intervals judged, a step failed, the canary rolled back),
# whose parts run sanitized in test_analysis, test_traffic and test_promq
# (unit), test_beside (the proxy's weights) and test_prom.  The plain pass
# runs all nine.
ITEST_SAN_FILTER := test_canary=canary/a_failing_canary_is_rolled_back_by_its_figures
# The longest first (as measured), so that the last to end is a short one
# and no slot idles long at the end; then the rest, alphabetically.
ITEST_LONG := $(patsubst %,$(BUILD)/tests/test_%,deploy canary spec_keys catchup \
              lifecycle ops logs swap_faults swap beside secrets core \
              enrol sealed link)
ITEST_ORDER := $(foreach t,$(ITEST_LONG),$(filter $(t),$(ITEST_BINS))) \
               $(filter-out $(ITEST_LONG),$(ITEST_BINS))
ITEST_RUN := $(if $(SAN),$(filter-out $(ITEST_ONLY_PLAIN),$(ITEST_ORDER)),$(ITEST_ORDER))

# The integration binaries run ITEST_JOBS at a time (tests/integration/
# run.sh): they spend most of their time waiting on dockerd, health checks
# and timers, and each picks its own ports, host names, folders and
# containers, so two side by side do not meet.  Each is bounded by
# ITEST_TIMEOUT seconds; its output goes to $(BUILD)/itest/NAME.log and is
# printed whole when it ends; a summary names each one's result and time.
ITEST_JOBS    ?= 2
ITEST_TIMEOUT ?= 600
# ITEST_ALONE: binaries that run with no other beside them (first, one
# after another).  test_nodrop fails on any request that ferry-load, hitting
# every host throughout its rollouts, does not get answered in time: a
# second binary's CPU on a 2-core machine would be counted against ferry.
# test_canary and test_beside assert the same of their lighter traffic
# (canary weights, blue-green switches under ferry-load) and passed beside
# other binaries at load averages of 16 to 33, under ASan too: they share.
ITEST_ALONE := $(patsubst %,$(BUILD)/tests/test_%,nodrop)

integration: $(BINS) $(TOOLS) $(ITEST_RUN)
	FERRY_BIN=$(abspath $(BUILD)) tests/integration/run.sh -j $(ITEST_JOBS) \
	  -t $(ITEST_TIMEOUT) -o $(BUILD)/itest \
	  $(if $(SAN),$(foreach f,$(ITEST_SAN_FILTER),-f $(f))) \
	  -a "$(filter $(ITEST_ALONE),$(ITEST_RUN))" $(ITEST_RUN)

# One part after another (each a make of its own, so that `make -j2 test`
# builds in parallel but never runs two parts at once).
test:
	$(MAKE) --no-print-directory spdx-check
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory bench-smoke

asan:
	$(MAKE) --no-print-directory BUILD=build/asan SAN=1 unit
	$(MAKE) --no-print-directory BUILD=build/asan SAN=1 integration

# ---- benchmarks ----------------------------------------------------------
# Sources in tests/bench/; figures and how to read them in its README.
$(BUILD)/bench/sigrate: tests/bench/sigrate.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/linkfloor: tests/bench/linkfloor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/rssfloor: tests/bench/rssfloor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/rssfloor-nocurl: tests/bench/rssfloor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DNO_CURL $(LDFLAGS) -o $@ $< $(filter-out -lcurl,$(PKG_LIBS))

# statics: the proxy-cost section's backend, linked statically (libc
# only) so that it runs in a container built FROM scratch.
$(BUILD)/bench/statics: tests/bench/statics.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -static -pthread -o $@ $<

# proxyctl: sets a route on ferry-proxy's control socket (the bench, the
# install test); it needs only libc and libprotobuf-c.
$(BUILD)/bench/proxyctl: tests/bench/proxyctl.c $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $< $(BUILD)/libferry.a $(PKG_LIBS)

$(BUILD)/bench/connhold: tests/bench/connhold.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<

BENCH_TOOLS := $(BUILD)/bench/sigrate $(BUILD)/bench/linkfloor \
	$(BUILD)/bench/rssfloor $(BUILD)/bench/rssfloor-nocurl \
	$(BUILD)/bench/statics $(BUILD)/bench/proxyctl $(BUILD)/bench/connhold
BENCH_ARGS ?=
bench: $(BINS) $(TOOLS) $(BENCH_TOOLS)
	FERRY_BIN=$(abspath $(BUILD)) tests/bench/bench.sh $(BENCH_ARGS) \
	  --json $(BUILD)/bench/bench.json

bench-smoke: $(BINS) $(TOOLS) $(BENCH_TOOLS)
	FERRY_BIN=$(abspath $(BUILD)) timeout 900 tests/bench/bench.sh --quick \
	  --json $(BUILD)/bench/smoke.json

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

# ---- installing ----------------------------------------------------------
# Binaries, man pages, example configs (only where none exists yet: a
# config you changed stays), systemd units (ExecStart pointed at SBINDIR)
# and the sysusers.d entry for ferryd's user.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL     ?= install

MAN1 := man/ferry.1
MAN5 := man/ferry.yml.5
MAN8 := man/ferryd.8 man/ferry-agent.8 man/ferry-proxy.8
UNITS := deploy/systemd/ferryd.service deploy/systemd/ferry-agent.service \
         deploy/systemd/ferry-proxy.service

install: $(BINS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/ferry
	$(INSTALL) -m 0755 $(BUILD)/ferry $(DESTDIR)$(BINDIR)/ferry
	$(INSTALL) -m 0755 $(BUILD)/ferryd $(BUILD)/ferry-agent \
	    $(BUILD)/ferry-proxy $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	@set -e; for f in ferryd.conf ferry-agent.conf ferry-proxy.conf; do \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/ferry/$$f ]; then \
	    echo "keeping $(DESTDIR)$(SYSCONFDIR)/ferry/$$f"; \
	  else \
	    echo "$(INSTALL) -m 0644 deploy/etc/$$f $(DESTDIR)$(SYSCONFDIR)/ferry/$$f"; \
	    $(INSTALL) -m 0644 deploy/etc/$$f $(DESTDIR)$(SYSCONFDIR)/ferry/$$f; \
	  fi; done
	@set -e; for u in $(UNITS); do \
	  echo "sed $$u > $(DESTDIR)$(UNITDIR)/$${u##*/}"; \
	  sed 's|/usr/sbin/|$(SBINDIR)/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/}; \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/}; done
	$(INSTALL) -m 0644 deploy/systemd/ferry.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/ferry.conf

# uninstall removes what install put there except the config files and
# the state (/var/lib/ferry, /var/lib/ferry-agent, /var/lib/ferry-proxy).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ferry $(DESTDIR)$(SBINDIR)/ferryd \
	    $(DESTDIR)$(SBINDIR)/ferry-agent $(DESTDIR)$(SBINDIR)/ferry-proxy \
	    $(DESTDIR)$(MANDIR)/man1/ferry.1 \
	    $(DESTDIR)$(MANDIR)/man5/ferry.yml.5 \
	    $(DESTDIR)$(MANDIR)/man8/ferryd.8 \
	    $(DESTDIR)$(MANDIR)/man8/ferry-agent.8 \
	    $(DESTDIR)$(MANDIR)/man8/ferry-proxy.8 \
	    $(DESTDIR)$(UNITDIR)/ferryd.service \
	    $(DESTDIR)$(UNITDIR)/ferry-agent.service \
	    $(DESTDIR)$(UNITDIR)/ferry-proxy.service \
	    $(DESTDIR)$(SYSUSERSDIR)/ferry.conf

# verify-units: systemd-analyze verify on the three units, installed into
# build/stage with ExecStart pointed at the staged binaries (verify checks
# that they exist) and MANPATH at the staged man pages (it checks the
# Documentation= pages too).
STAGE := $(abspath $(BUILD))/stage
verify-units: $(BINS)
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install DESTDIR= PREFIX=$(STAGE)/usr \
	    SYSCONFDIR=$(STAGE)/etc >/dev/null
	@# verify exits 0 on warnings (an unknown key, say): any output fails.
	@out="$$(MANPATH=$(STAGE)/usr/share/man systemd-analyze verify \
	    $(STAGE)/usr/lib/systemd/system/ferryd.service \
	    $(STAGE)/usr/lib/systemd/system/ferry-agent.service \
	    $(STAGE)/usr/lib/systemd/system/ferry-proxy.service 2>&1)" && \
	    [ -z "$$out" ] || { printf '%s\n' "$$out"; \
	    echo "verify-units: systemd-analyze verify complained"; exit 1; }
	@echo "verify-units: the three units pass systemd-analyze verify, silently"

# ---- Debian packages -----------------------------------------------------
# A copy of the tree with deploy/debian as debian/, built by
# dpkg-buildpackage (debhelper): build/deb/ferry-{coordinator,agent}_*.deb.
DEB_DIR := $(BUILD)/deb

deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src/ferry
	tar --exclude=./build --exclude=./.git -cf - . | \
	    tar -C $(DEB_DIR)/src/ferry -xf -
	cp -r deploy/debian $(DEB_DIR)/src/ferry/debian
	echo '$(FERRY_COMMIT)' >$(DEB_DIR)/src/ferry/COMMIT
	cd $(DEB_DIR)/src/ferry && DEB_BUILD_OPTIONS="noautodbgsym $$DEB_BUILD_OPTIONS" dpkg-buildpackage -b --no-sign \
	    -j$$(nproc) >../build.log 2>&1 || \
	    { tail -n 40 ../build.log; echo "make deb: failed; the whole log is $(DEB_DIR)/src/build.log"; exit 1; }
	mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/
	@ls -l $(DEB_DIR)/*.deb

# lintian's verdict on the packages; what it still says is explained in
# deploy/debian/README.
lintian: deb
	lintian -I -E --pedantic --fail-on error,warning $(DEB_DIR)/*.deb

# The install test: tests/install/run.sh (needs dockerd; see that file).
# It copies proxyctl and statics into the agent's container.
install-test: deb $(BUILD)/bench/proxyctl $(BUILD)/bench/statics
	tests/install/run.sh $(DEB_DIR)

# ---- licence ---------------------------------------------------------------
# Every source file names its licence (SPDX-License-Identifier: Apache-2.0):
# `make spdx` adds the line where it is missing, `make spdx-check` fails
# listing the files without it.
spdx:
	tests/tools/spdx.sh

spdx-check:
	tests/tools/spdx.sh --check

# ---- the local fleet -----------------------------------------------------
fleet: $(BINS) $(TOOLS)
	deploy/local-fleet.sh

clean:
	rm -rf build

.PHONY: all tools unit integration test asan fuzz fleet clean bench bench-smoke \
	install uninstall deb lintian install-test verify-units spdx spdx-check
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
