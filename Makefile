# Two entry points that work on a fresh machine:
#   make demo   - set up the virtual environment and run the demo audit
#   make test   - set up the virtual environment and run the test suite
PYTHON ?= python3
VENV ?= .venv
# the browser of the report's browser test (tests/integration/test_report_browser.py)
CHROMIUM ?= /usr/bin/chromium
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv chromium demo test lint clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Debian's chromium, installed with apt-get when missing (as root, or through sudo where it
# exists); elsewhere a note, and the browser test skips (it fails when CI is set).
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "note: $(CHROMIUM) is missing and apt-get is not available; install Chromium for the report's browser test"; \
	  else \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	    elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	    else SUDO="none"; fi; \
	    if [ "$$SUDO" = none ]; then \
	      echo "note: $(CHROMIUM) is missing; as root run: apt-get install chromium"; \
	    else \
	      $$SUDO apt-get update && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	    fi; \
	  fi; \
	fi

demo: venv
	$(BIN)/miaudit demo --output runs/demo

test: venv chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
