# The README's two commands are `make quickstart` and `make test`.
# Each creates .venv on first use and installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test lint bench clean mutation mutation-ci browser

# pip and uv print what they collect, download (with a progress bar on a terminal) and
# install, so the first install shows where it is instead of staying silent
PIP_PROGRESS := --progress-bar on

# uv (installed by pip into the venv) resolves and installs the same versions as pip in well
# under half the time: 35 to 60 s against 2 to 3 minutes for '.[dev,ray]' on the CI machine.
# It compiles the bytecode as pip does, so the test workers do not each compile it again
UV := $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode

$(BIN)/python:
	@echo "==> creating $(VENV) (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_PROGRESS) --upgrade pip

# its own target, so a .venv made before uv was used gets it too
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_PROGRESS) 'uv>=0.9'

$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	@echo "==> installing modelward and its dependencies into $(VENV) (first run: about a minute)"
	$(UV) -e .
	touch $@

# the test suite runs the Ray executor on a local Ray instance, so it installs that extra
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/uv
	@echo "==> installing modelward with its test tools into $(VENV) (first run: about a minute)"
	$(UV) -e '.[dev,ray]'
	touch $@

quickstart: $(VENV)/.installed
	$(BIN)/modelward quickstart --dir .quickstart
	@echo "==> the command is $(BIN)/modelward; '. $(BIN)/activate' puts it on PATH in this shell"

# mypy's cache lives in the user's cache folder, not the checkout, so a clean clone (as CI
# makes) checks incrementally: about 6 s of CPU instead of 55 s for the strict check of
# every installed library it reads. mypy re-checks whatever changed (by content hash).
MYPY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/modelward-mypy

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src tests benchmarks examples tools
	$(BIN)/mypy --cache-dir $(MYPY_CACHE)
	$(BIN)/lint-imports --no-logo

# the suite runs on TEST_WORKERS processes (pytest-xdist, in the dev extra); each test has
# its own workspace, Postgres schema, Redis key prefix and free ports, so they never meet.
# Four workers on the 2-core CI machine: many tests wait on a server or a subprocess they
# started, and more workers fill those waits (docs/testing.md has the measurements: on
# 2026-12-06, 3 workers kept the cores 130% busy and took 14:30 for all of .ci/run, 4 took
# 172% and 10:30). The slow ones are collected first (tests/conftest.py) and handed out a
# few at a time in that order, so they overlap; a module whose tests share an expensive
# fixture is one xdist_group, one worker. --durations lists the slowest tests at the end,
# to see where CI's time goes
TEST_WORKERS ?= 4

# the dashboard's browser tests drive Debian's Chromium (Playwright never downloads one);
# installed here when missing, so `make test` needs nothing set up beforehand
browser:
	@command -v chromium >/dev/null || { \
	  echo "==> installing Debian's chromium for the browser tests"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

test: $(VENV)/.installed-dev lint browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=30

# mutation testing of the modules that carry the promises, one module at a time with one
# worker (CPU-heavy: hours for all of them; MODULES=data.hashing,security.audit for some)
mutation: $(VENV)/.installed-dev
	$(BIN)/python tools/mutation.py --max-children 1 $(if $(MODULES),--modules $(MODULES))

# the bounded sample CI runs (at most 2 minutes): 10 mutants of a module the last commit
# touched, else of one chosen by the commit hash; a low bar, as a few mutants are equivalent
mutation-ci: $(VENV)/.installed-dev
	$(BIN)/python tools/mutation.py --ci --sample 10 --max-children 2 --budget-s 120 --fail-under 70

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/validate_contract.py

clean:
	rm -rf $(VENV) .quickstart .pytest_cache .mypy_cache .ruff_cache .mutation mutants
