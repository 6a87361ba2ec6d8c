# The README's two commands are `make quickstart` and `make test`.
# Each creates .venv on first use and installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# the test suite runs the Ray executor on a local Ray instance, so it installs that extra
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $@

quickstart: $(VENV)/.installed
	$(BIN)/modelward quickstart --dir .quickstart

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# the suite runs on TEST_WORKERS processes (pytest-xdist, in the dev extra); each test has
# its own workspace, Postgres schema, Redis key prefix and free ports, so they never meet
TEST_WORKERS ?= 2

test: $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/validate_contract.py

clean:
	rm -rf $(VENV) .quickstart .pytest_cache .mypy_cache .ruff_cache
