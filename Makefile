# Sealtrail: the README's commands.
#   make run    install what is missing, build, run the main job
#   make test   install, build, run the whole suite
#   make bench  run the benchmarks, writing docs/BENCHMARKS.md figures
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= 2
DATA ?= ./sealtrail-data
LISTEN ?= 127.0.0.1:7465

.PHONY: all deps build run test test-asan test-tsan bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@bash scripts/run.sh $(BUILD)/sealtrail $(DATA) $(LISTEN)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer, built with clang.
test-asan: deps
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSEALTRAIL_SANITIZE=ON -DSEALTRAIL_WERROR=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 SEALTRAIL_SANITIZED=1 ctest --output-on-failure -j$(JOBS)

# The suite under ThreadSanitizer (the group commit, the append pipeline,
# verify's worker). The Go conformance test is left out: it exercises
# formats, not threads.
test-tsan: deps
	@CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEALTRAIL_WERROR=ON \
		-DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j$(JOBS) -E log_go

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEALTRAIL_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	@bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	@bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
