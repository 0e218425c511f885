# Hub's two everyday commands: `make run` starts Hub on embedded defaults, `make test` runs
# every test. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make test` runs the suite in this many processes (pytest-xdist; 0: one process), each test
# file whole in one of them; PYTEST_ARGS are passed on (`make test PYTEST_ARGS="tests/unit -x"`).
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Hub needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# niquests (under caldav) needs urllib3-future; its wheel replaces the urllib3 package that
	# requests (msal, schemathesis) uses at every interpreter start. Built from source with
	# URLLIB3_NO_OVERRIDE it installs beside urllib3 instead, which is what niquests looks for.
	URLLIB3_NO_OVERRIDE=1 $(BIN)/pip install --quiet --no-binary urllib3-future -e ".[dev]"
	touch $@

run: $(BIN)/.installed
	$(BIN)/hub dev

test: $(BIN)/.installed
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# `make bench BENCH_ARGS="--runs 3 --only sqlite"`: options of bench/run.py (see bench/README.md).
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
