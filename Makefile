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

.PHONY: install protos demo train retrain serve run test lint typecheck unit bench bench-full clean

install: $(STAMP) $(PROTO_OUT)

# torch is pinned first so that no resolver ever pulls a CUDA build of several GB.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[llm,eval,mcp,dev]'
	touch $(STAMP)

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

test: install lint typecheck
	$(BIN)/pytest -q -m "" tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest ran no tests" >&2; exit 1; fi; exit $$rc

bench: install
	$(BIN)/python bench/bench_lifecycle.py --users 100000
	$(BIN)/python bench/bench_retrieval.py --sizes 10000 100000
	$(BIN)/python bench/bench_caps.py

bench-full: install demo
	$(BIN)/python bench/bench_lifecycle.py --users 1000000
	$(BIN)/python bench/bench_retrieval.py --sizes 10000 100000 1000000
	$(BIN)/python bench/bench_copy.py --n 200 --llm-n 200 --demo-dir var/demo

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache recsvc/v1/*_pb2*.py recsvc/v1/*_pb2*.pyi
