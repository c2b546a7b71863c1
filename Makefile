# recsvc: two commands matter. `make run` installs, builds the demo, trains, serves and shows
# candidates; `make test` installs what it needs, lints, type-checks and runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_SRC := $(wildcard protos/recsvc/v1/*.proto)
PROTO_OUT := recsvc/v1/recsvc_pb2.py
DATA_DIR ?= var/demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install llama-wheel protos demo train retrain serve run test lint typecheck unit bench bench-full clean postgres chromium

install: $(STAMP) $(PROTO_OUT)

# llama-cpp-python compiles llama.cpp from source. pip's default build is GGML_NATIVE: tuned to the
# building CPU (AVX-512, AMX kernels) and crashing or faulting on others, and pip's wheel cache then
# carries that build to every later install. So it is built portable (AVX2 baseline on x86_64), with
# pip's cache off, into a wheel directory keyed by version, flags and architecture, and installed
# from there before anything else can ask pip for it. Each build has a temporary directory of its
# own, so two installs building at once (two checkouts sharing a home) leave one whole wheel.
LLAMA_CPP_VERSION := 0.3.36
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF
else
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF
endif
LLAMA_KEY := $(shell printf '%s|%s|%s' '$(LLAMA_CPP_VERSION)' '$(ARCH)' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
WHEEL_DIR ?= $(HOME)/.cache/recsvc/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(ARCH)-$(LLAMA_KEY)

# torch is pinned first so that no resolver ever pulls a CUDA build of several GB.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(MAKE) llama-wheel
	$(BIN)/python -m pip install -q --no-cache-dir "$$(ls $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl)[server]"
	$(BIN)/python -m pip install -q -e '.[llm,eval,mcp,dev]'
	touch $(STAMP)

# The portable llama-cpp-python wheel; built once per version, flags and architecture (about 7 min).
llama-wheel:
	@if ls $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "portable llama-cpp-python wheel: $(WHEEL_DIR)"; \
	else \
		echo "building llama-cpp-python $(LLAMA_CPP_VERSION) portable (GGML_NATIVE=OFF; about 7 min) into $(WHEEL_DIR)"; \
		mkdir -p $$(dirname $(WHEEL_DIR)) && tmp=$$(mktemp -d $(WHEEL_DIR).tmp.XXXXXX) && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/python -m pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python \
			-w $$tmp llama-cpp-python==$(LLAMA_CPP_VERSION) && \
		{ ls $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		  { rm -rf $(WHEEL_DIR) && mv -T $$tmp $(WHEEL_DIR); }; }; \
		rm -rf $$tmp; ls $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null; \
	fi

protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTO_SRC)

$(PROTO_OUT): $(PROTO_SRC) $(STAMP)
	$(MAKE) protos

demo: install
	test -f $(DATA_DIR)/events.csv.gz || $(BIN)/recsvc demo-data --out $(DATA_DIR)

# Trains once; `make retrain` trains new versions (a running server swaps them in).
train: demo
	test -d models/lifecycle -a -d models/recs -a -d models/sendtime || $(MAKE) retrain

retrain: demo
	$(BIN)/recsvc train --events $(DATA_DIR)/events.csv.gz --items $(DATA_DIR)/items.csv \
		--users $(DATA_DIR)/users.csv --import-store

serve: install
	$(BIN)/recsvc serve --local-llm --show-sample

run: train serve

lint: install
	$(BIN)/ruff check recsvc tests bench training

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

# PostgreSQL 15's initdb and pg_ctl: the tests start a throwaway cluster with them (Debian's package).
PG_BIN ?= /usr/lib/postgresql/15/bin
postgres:
	@test -x $(PG_BIN)/initdb -a -x $(PG_BIN)/pg_ctl || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql)

# Debian's headless-capable chromium: the report's browser test opens the HTML file in it.
chromium:
	@command -v chromium >/dev/null || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: install lint typecheck postgres chromium
	$(BIN)/pytest -q -m "" tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest ran no tests" >&2; exit 1; fi; exit $$rc

bench: install
	$(BIN)/python bench/bench_lifecycle.py --users 100000
	$(BIN)/python bench/bench_retrieval.py --sizes 10000 100000
	$(BIN)/python bench/bench_caps.py
	$(BIN)/python bench/bench_experiments.py
	$(BIN)/python bench/bench_bandit.py
	$(BIN)/python bench/bench_report.py --sends 1000000

bench-full: install demo
	$(BIN)/python bench/bench_lifecycle.py --users 1000000
	$(BIN)/python bench/bench_retrieval.py --sizes 10000 100000 1000000
	$(BIN)/python bench/bench_copy.py --n 200 --llm-n 200 --demo-dir var/demo

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache recsvc/v1/*_pb2*.py recsvc/v1/*_pb2*.pyi
