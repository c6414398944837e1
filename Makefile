# Makefile — a thin wrapper around CMake. The two commands the README gives:
#   make demo   set up, build, run kiln on a bundled sample
#   make test   set up, build, run every test (ctest)
#   make install  build, then install kiln, the runtime (headers, sources,
#               libkiln-runtime.a) and kiln-runtime.pc under $(DESTDIR)$(PREFIX)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all setup configure build test demo asan fuzz install clean

all: build

setup:
	scripts/setup

configure:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test:
	$(MAKE) setup
	$(MAKE) build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

demo:
	$(MAKE) setup
	$(MAKE) build
	scripts/demo $(BUILD)

# ASan + UBSan build running every test (unit, IR, error, ONNX import and
# conformance over all 1072 backend models, end to end).
asan:
	$(MAKE) build BUILD=build-asan CMAKE_FLAGS="-DKILN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)"
	ctest --test-dir build-asan --output-on-failure -j$(JOBS)

# libFuzzer targets (tests/fuzz), clang-19 + ASan + UBSan, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 600
fuzz:
	sh tests/fuzz/run.sh . build-fuzz $(FUZZ_SECONDS)

# Installs the RelWithDebInfo build of $(BUILD) (cmake --install honours DESTDIR).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

clean:
	rm -rf $(BUILD) build-asan build-fuzz
