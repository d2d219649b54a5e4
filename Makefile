# The two commands of the README: `make demo` runs the product, `make test` runs every test.
# Both build the virtual environment first, so a fresh clone needs nothing else.
# The tests run in two processes (pytest-xdist), each on databases and Redis numbers of its own.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint services

demo: $(VENV)/.installed
	$(BIN)/insiders demo

# The API schema test runs on its own: schemathesis makes one test per operation only outside
# pytest-xdist workers. The slowest tests are listed at the end of the run.
test: $(VENV)/.installed services
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadfile --durations=15 --ignore tests/unit/test_api_schema.py
	$(BIN)/pytest tests/unit/test_api_schema.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .

services:
	bash .ci/services

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@
