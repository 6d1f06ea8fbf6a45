# MedLedger developer tasks. `make run` and `make test` are the only two commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test lint format compile bench clean

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(PY_STAMP) $(NODE_STAMP)

## run: the main job (see README)
run: install
	$(VENV)/bin/medledger demo

## test: lint, format check and the whole test suite
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

compile: install
	$(PY) scripts/compile_contracts.py

bench: install
	$(PY) scripts/bench_chain.py
	$(PY) scripts/bench_crypto.py
	$(PY) scripts/bench_storage.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
