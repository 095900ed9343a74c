# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test chromium demo bench lint readme clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/coolpapers db upgrade
	$(BIN)/coolpapers serve --host $(HOST) --port $(PORT)

# tests/conftest.py schedules: a module sharing a module-scoped server or browser stays on one
# worker; every other test goes to whichever worker is free.
test: chromium $(DEV_STAMP)
	$(BIN)/pytest -n 2 -q

# The browser tests drive the system's Chromium: as root this installs Debian's package when
# it is missing; anyone else is told the one command to run.
chromium:
	@$(PYTHON) tests/ensure_chromium.py

demo: $(STAMP)
	$(BIN)/python -m demo --host $(HOST) --port $(PORT)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

readme: $(STAMP)
	$(BIN)/coolpapers settings-table --update README.md

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
