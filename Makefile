# Each target sets up what it needs, so a fresh checkout with python3 is enough.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a complete install; re-install when the package metadata changes.
STAMP := $(VENV)/.installed
SAMPLE := $(BIN)/flask --app sample_app

.PHONY: venv run test bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test,twilio,redis,postgres]'
	touch $@

# The sample app on http://127.0.0.1:5000, debugger off; emails (with the
# sign-in link and code) are printed here.
run: venv
	$(SAMPLE) db upgrade
	$(SAMPLE) --no-debug run --host 127.0.0.1 --port 5000

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# BENCH_ARGS=--quick for a one-minute smoke run (python -m bench --help lists the rest).
BENCH_ARGS ?=
bench: venv
	$(BIN)/python -m pip install -r requirements-bench.txt
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
