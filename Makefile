# Two entry points: `make run` serves the demo data, `make test` runs the test suite.
# Each creates the virtual environment in .venv and installs what it needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

run: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python service.py $(ARGS)

test: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pytest $(PYTEST_ARGS)
