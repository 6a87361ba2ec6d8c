# The README's two commands are `make quickstart` and `make test`.
# Each creates .venv on first use and installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test lint bench clean

# pip prints what it collects, downloads (with a progress bar on a terminal) and installs,
# so the first install, a few minutes, shows where it is instead of staying silent
PIP_PROGRESS := --progress-bar on

$(BIN)/python:
	@echo "==> creating $(VENV) (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_PROGRESS) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing modelward and its dependencies into $(VENV) (first run: a few minutes)"
	$(BIN)/pip install $(PIP_PROGRESS) -e .
	touch $@

# the test suite runs the Ray executor on a local Ray instance, so it installs that extra
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "==> installing modelward with its test tools into $(VENV) (first run: a few minutes)"
	$(BIN)/pip install $(PIP_PROGRESS) -e '.[dev,ray]'
	touch $@

quickstart: $(VENV)/.installed
	$(BIN)/modelward quickstart --dir .quickstart
	@echo "==> the command is $(BIN)/modelward; '. $(BIN)/activate' puts it on PATH in this shell"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

test: $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/validate_contract.py

clean:
	rm -rf $(VENV) .quickstart .pytest_cache .mypy_cache .ruff_cache
