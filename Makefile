# The two commands of the README: `make demo` runs the product, `make test` runs every test.
# Both build the virtual environment first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint services

demo: $(VENV)/.installed
	$(BIN)/insiders demo

test: $(VENV)/.installed services
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .

services:
	bash .ci/services

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@
