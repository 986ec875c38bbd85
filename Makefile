# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed  ## serve the API on 127.0.0.1:8000 (SQLite under ./var)
	$(BIN)/careplan serve

test: $(VENV)/.dev-installed  ## lint, then the whole suite (unit, integration, e2e)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: $(VENV)/.dev-installed  ## benchmarks against PostgreSQL (CAREPLAN_BENCH_DATABASE_URL)
	$(BIN)/python -m bench.replay
	$(BIN)/python -m bench.commands
	$(BIN)/python -m bench.group_commit
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.views

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
