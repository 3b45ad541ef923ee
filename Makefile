# Two commands on a fresh machine (Python 3.11 + pip, no conda):
#   make run    set up .venv and run the default search with `mlflow run . --env-manager local`
#   make test   set up .venv and run the test suite (what CI runs)
#   make test-versions   on Python 3.12 and 3.13 (pyenv's or pythonX.Y on PATH): a fresh
#               .venv-X.Y, a plain `pip install .`, the fast tests and one search (CI runs it too)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-versions lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" mlflow run . --env-manager local

test: install
	$(BIN)/ruff check hpo_plugin tests benchmarks experiments
	$(BIN)/ruff format --check hpo_plugin tests benchmarks experiments
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

PYTHON_VERSIONS ?= 3.12 3.13
test-versions:
	for v in $(PYTHON_VERSIONS); do bash .ci/python_versions.sh $$v || exit 1; done

bench: install
	$(BIN)/python benchmarks/overhead.py
