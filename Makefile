# Two commands on a fresh machine (Python 3.11 + pip, no conda):
#   make run    set up .venv and run the default search with `mlflow run . --env-manager local`
#   make test   set up .venv and run the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" mlflow run . --env-manager local

test: install
	$(BIN)/ruff check hpo_plugin tests benchmarks
	$(BIN)/ruff format --check hpo_plugin tests benchmarks
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/overhead.py
