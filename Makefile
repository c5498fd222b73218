# asset_gate: the nginx module, its unit tests, sanitizer builds, fuzzers, and the test suites.
SHELL     := /bin/bash
REPO      := $(abspath .)
BUILD     := $(REPO)/build
NGX_SRC   ?= /usr/share/nginx/src
NGX_BUILD := $(BUILD)/nginx
MODULE    := $(BUILD)/ngx_http_asset_gate_module.so
PYTEST    ?= /usr/bin/python3 -m pytest
FUZZ_SECONDS ?= 30
CHAOS_SECONDS ?= 120
CHAOS_SEED ?= 7

CORE_SRCS := $(wildcard src/core/*.cpp)
CORE_HDRS := $(wildcard src/core/*.hpp)
NGX_SRCS  := $(wildcard src/ngx/*.cpp)
NGX_HDRS  := $(wildcard src/ngx/*.hpp)
UNIT_SRCS := $(wildcard t/unit/*.cpp)
FUZZERS   := $(patsubst t/fuzz/%.cpp,$(BUILD)/fuzz/%,$(wildcard t/fuzz/fuzz_*.cpp))

CXX       ?= g++
CXXSTD    := -std=c++17 -Wall -Wextra -Werror -Isrc
CORE_LIBS := -ljansson -lcrypto
GTEST     := -lgtest -lgtest_main -pthread
UNIT_LIBS := $(CORE_LIBS) -lhiredis  # hiredis: the reply builders against its own
SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: deb all module unit unit-san test integration conformance fuzz fuzz-model bench bench-core chaos run check clean format lint

all: module

# --- the nginx module, with Debian's own recipe against the distro's headers -------------
$(NGX_BUILD)/Makefile: config config.make $(NGX_SRC)/conf_flags
	@mkdir -p $(NGX_BUILD)
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(REPO) --builddir=$(NGX_BUILD) \
	    > $(NGX_BUILD)/configure.log 2>&1 || { tail -30 $(NGX_BUILD)/configure.log; exit 1; }

$(MODULE): $(NGX_BUILD)/Makefile $(CORE_SRCS) $(CORE_HDRS) $(NGX_SRCS) $(NGX_HDRS) src/ngx/exports.map
	$(MAKE) -f $(NGX_BUILD)/Makefile -C $(NGX_SRC) modules
	cp $(NGX_BUILD)/ngx_http_asset_gate_module.so $@

module: $(MODULE)

# --- unit tests: plain, then under AddressSanitizer + UndefinedBehaviorSanitizer ----------
UNIT_DEPS := $(CORE_SRCS) $(CORE_HDRS) $(UNIT_SRCS) $(wildcard t/unit/*.hpp) src/ngx/hiredis_replies.hpp

$(BUILD)/unit_tests: $(UNIT_DEPS)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXSTD) -O2 -g -o $@ $(CORE_SRCS) $(UNIT_SRCS) $(UNIT_LIBS) $(GTEST)

$(BUILD)/unit_tests_san: $(UNIT_DEPS)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXSTD) -O1 -g $(SAN) -o $@ $(CORE_SRCS) $(UNIT_SRCS) $(UNIT_LIBS) $(GTEST)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

unit-san: $(BUILD)/unit_tests_san
	UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/unit_tests_san

# --- integration: real nginx loading the module, real redis-server ----------------------
integration: $(MODULE)
	$(PYTEST) t/integration -q

conformance: $(MODULE)
	@if [ -d ../shared/conformance ]; then $(PYTEST) ../shared/conformance -q; \
	 else echo "conformance: ../shared/conformance absent, skipped"; fi

test: unit unit-san integration

# --- the model-based differential test with fresh seeds, for SECONDS (default 600) --------
# Stops at the first seed with a mismatch; replay it with ASSET_GATE_MODEL_SEED=<seed>.
fuzz-model: $(MODULE)
	@end=$$(( $$(date +%s) + $(or $(SECONDS),600) )); runs=0; \
	while [ $$(date +%s) -lt $$end ]; do \
	    seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); runs=$$((runs + 1)); \
	    log=$(BUILD)/fuzz-model-$$seed.log; echo "fuzz-model: seed $$seed ..."; \
	    if ASSET_GATE_MODEL_SEED=$$seed $(PYTEST) t/integration/test_model.py -q -s -k 'not examples' >$$log 2>&1; \
	    then echo "fuzz-model: seed $$seed ok ($$(grep -c '^model: .* cases in' $$log) configurations)"; rm -f $$log; \
	    else grep -E '^(model:|---|  |seed )' $$log | head -200; \
	        echo "fuzz-model: seed $$seed FAILED after $$runs runs (log $$log);" \
	             "replay: ASSET_GATE_MODEL_SEED=$$seed $(PYTEST) t/integration/test_model.py -q -s"; exit 1; fi; \
	done; echo "fuzz-model: $$runs seeds, no mismatch"

# --- libFuzzer targets (clang), each run for FUZZ_SECONDS --------------------------------
$(BUILD)/fuzz/%: t/fuzz/%.cpp $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)/fuzz
	clang++ $(CXXSTD) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ $< $(CORE_SRCS) $(CORE_LIBS)

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/corpus/$$(basename $$f); \
	    echo "fuzz: $$(basename $$f) for $(FUZZ_SECONDS)s"; \
	    seeds=t/fuzz/seeds/$$(basename $$f); [ -d $$seeds ] || seeds=; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/corpus/$$(basename $$f) \
	        $$seeds 2>$(BUILD)/fuzz/$$(basename $$f).log \
	        || { tail -50 $(BUILD)/fuzz/$$(basename $$f).log; exit 1; }; \
	    grep -E 'stat::number_of_executed_units' $(BUILD)/fuzz/$$(basename $$f).log; \
	done

# --- benchmarks: Google Benchmark for the core, wrk against real nginx for the whole gate --
$(BUILD)/bench_core: t/bench/bench_core.cpp $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXSTD) -O2 -g -DNDEBUG -o $@ $< $(CORE_SRCS) $(CORE_LIBS) -lbenchmark -pthread

bench-core: $(BUILD)/bench_core
	$(BUILD)/bench_core --benchmark_min_time=0.5

bench: $(MODULE) $(BUILD)/bench_core
	$(BUILD)/bench_core --benchmark_min_time=0.5
	scripts/bench.py
	scripts/bench_instructions.py

# A consistency run under faults (Redis kills, failovers, pauses, reloads, record changes):
# prints figures, and fails only on answers the records did not allow (never on time).
chaos: $(MODULE)
	/usr/bin/python3 scripts/chaos.py --seconds $(CHAOS_SECONDS) --seed $(CHAOS_SEED)

# --- tools: the operator's token tool, built from the core so it speaks the gate's reasons ---
.PHONY: tools
# CPPFLAGS, CXXFLAGS and LDFLAGS come from the environment or the command line (debian/rules
# passes dpkg-buildflags' hardened set, which dh_strip then strips into the -dbgsym package).
$(BUILD)/asset-gate-token: src/tools/asset_gate_token.cpp $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXSTD) -O2 $(CPPFLAGS) $(CXXFLAGS) -o $@ $< $(CORE_SRCS) $(LDFLAGS) $(CORE_LIBS)

# `make build/asset-gate-token` names the same file relative to the repository.
build/asset-gate-token: $(BUILD)/asset-gate-token ;

tools: $(BUILD)/asset-gate-token

# --- operating -----------------------------------------------------------------------------
run: $(MODULE)
	scripts/demo.sh

check:
	scripts/check.sh

deb:
	scripts/build-deb.sh

format:
	clang-format -i $(CORE_SRCS) $(CORE_HDRS) $(NGX_SRCS) $(NGX_HDRS) $(UNIT_SRCS) t/unit/*.hpp \
	    t/fuzz/*.cpp t/bench/*.cpp src/tools/*.cpp

# --- lint: cppcheck and clang-tidy (.clang-tidy) over src/core, src/ngx and src/tools --------
# Any finding fails. clang-tidy runs one file per job, LINT_JOBS at a time, and keeps going
# (-k) so that one run lists every file's findings; a file that passed leaves a stamp and is
# not linted again until it, a header of its room or .clang-tidy changes.
TOOL_SRCS := $(wildcard src/tools/*.cpp)
LINT_JOBS ?= $(shell nproc)
NGX_INCS  := -I$(NGX_SRC)/src/core -I$(NGX_SRC)/src/event -I$(NGX_SRC)/src/event/modules \
             -I$(NGX_SRC)/src/os/unix -I$(NGX_SRC)/src/http -I$(NGX_SRC)/src/http/modules \
             -I$(NGX_SRC)/src/http/v2 -I$(NGX_BUILD)
# The warnings the module is compiled with (nginx's CFLAGS plus config's C++ flags).
NGX_CXXFLAGS := -std=c++17 -W -Wall -Wpointer-arith -Wno-unused-parameter \
                -Wno-missing-field-initializers -Wno-deprecated-declarations -Isrc $(NGX_INCS)
LINT_DIR  := $(BUILD)/lint
TIDY      := clang-tidy --quiet --warnings-as-errors='*'
CPPCHECK  := cppcheck --quiet --error-exitcode=1 --std=c++17 \
             --enable=warning,performance,portability --inline-suppr \
             --suppress=missingIncludeSystem -Isrc

$(LINT_DIR)/src/core/%.ok: src/core/%.cpp $(CORE_HDRS) .clang-tidy
	@mkdir -p $(@D)
	$(TIDY) $< -- $(CXXSTD)
	@touch $@

$(LINT_DIR)/src/tools/%.ok: src/tools/%.cpp $(CORE_HDRS) .clang-tidy
	@mkdir -p $(@D)
	$(TIDY) $< -- $(CXXSTD)
	@touch $@

# ngx_auto_config.h and ngx_auto_headers.h exist once configure has run.
$(LINT_DIR)/src/ngx/%.ok: src/ngx/%.cpp $(CORE_HDRS) $(NGX_HDRS) .clang-tidy $(NGX_BUILD)/Makefile
	@mkdir -p $(@D)
	$(TIDY) $< -- $(NGX_CXXFLAGS)
	@touch $@

LINT_STAMPS := $(patsubst %.cpp,$(LINT_DIR)/%.ok,$(CORE_SRCS) $(TOOL_SRCS) $(NGX_SRCS))

.PHONY: cppcheck tidy
cppcheck:
	$(CPPCHECK) src/core src/ngx src/tools

tidy: $(LINT_STAMPS)

lint: $(NGX_BUILD)/Makefile
	@status=0; \
	$(MAKE) --no-print-directory cppcheck || status=1; \
	$(MAKE) --no-print-directory -k -j$(LINT_JOBS) tidy || status=1; \
	if [ $$status -ne 0 ]; then echo "lint: FAILED (findings above)"; exit 1; fi; \
	echo "lint: cppcheck and clang-tidy found nothing in src/core, src/ngx, src/tools"

# A dist leg bind-mounts /dev and the work tree into its root under build/dist: removing
# build/ through those mounts would delete the host's device nodes and this checkout. Refuse
# while any mount is left under build/ (a leg still running, or one that was killed).
clean:
	@if awk -v b="$(BUILD)/" 'index($$2, b) == 1 { print "  " $$2; n++ } END { exit !n }' /proc/self/mounts; then \
	    echo "clean: the mounts above are still under $(BUILD); unmount them first (umount -R PATH)" >&2; exit 1; fi
	rm -rf --one-file-system $(BUILD)
