# Two entry points: `make run` serves the demo data, `make test` runs the test suite.
# Each creates the virtual environment in .venv and installs what it needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

run: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python service.py $(ARGS)

# The browser test of /docs needs Debian's chromium. In CI (CI set, root, apt-get present)
# this installs it once; anywhere else it does nothing and that test is skipped with a hint.
browser:
	@if [ -n "$$CI" ] && [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

test: $(BIN)/python browser
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pytest $(PYTEST_ARGS)
