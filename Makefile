# MedLedger developer tasks. `make run` and `make test` are the only two commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# the patient wallet web app (clients/webwallet), built by vite into dist/ (git-ignored)
WALLET_DIST := clients/webwallet/dist/index.html
WALLET_SRC := $(shell find clients/webwallet/src clients/webwallet/public -type f 2>/dev/null) \
	clients/webwallet/index.html clients/webwallet/vite.config.mjs

# the clinicians' workstation and auditors' console (clients/workstation), served at /workstation/
WORKSTATION_DIST := clients/workstation/dist/index.html
WORKSTATION_SRC := $(shell find clients/workstation/src -type f 2>/dev/null) \
	clients/workstation/index.html clients/workstation/vite.config.mjs $(WALLET_SRC)

.PHONY: install run test lint format compile bench clean wallet workstation system-deps

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(PY_STAMP) $(NODE_STAMP)

## wallet: build the patient wallet web app (served by the API at /wallet/)
$(WALLET_DIST): $(NODE_STAMP) $(WALLET_SRC)
	npm run --silent wallet:build
wallet: $(WALLET_DIST)

## workstation: build the clinicians' workstation (served by the API at /workstation/)
$(WORKSTATION_DIST): $(NODE_STAMP) $(WORKSTATION_SRC)
	npm run --silent workstation:build
workstation: $(WORKSTATION_DIST)

## run: the main job (see README)
run: install wallet workstation
	$(VENV)/bin/medledger demo

## system-deps: Debian's chromium and a CJK font for the browser tests (installed as root,
## else the one command to run)
system-deps:
	@scripts/system_deps.sh

## test: lint, format check and the whole test suite
test: system-deps install wallet workstation
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	npm run --silent wallet:test
	npm run --silent workstation:test
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
	$(PY) scripts/bench_api.py
	$(PY) scripts/bench_lifecycle.py
	$(PY) scripts/bench_epochs.py
	$(PY) scripts/bench_assistant.py
	$(PY) scripts/bench_gateway.py
	$(PY) scripts/bench_web.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis clients/webwallet/dist clients/workstation/dist
