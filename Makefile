# Each target sets up what it needs, so a fresh checkout with python3 is enough.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a complete install; re-install when the package metadata changes.
STAMP := $(VENV)/.installed
SAMPLE := $(BIN)/flask --app sample_app

.PHONY: venv run test bench translations clean

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

# Extract every string (Python and templates) into the .pot, update each language's
# .po (a new language: add it to LANGUAGES), and compile the shipped ones
# (i18n.SHIPPED_LANGUAGES) into the .mo files the wheel carries. Commit all three.
CATALOGUES := flask_passwordless/translations
POT := $(CATALOGUES)/flask_passwordless.pot
LANGUAGES := de fr es pt_BR ja ar
KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k pl_gettext -k pl_ngettext:1,2
translations: venv
	$(BIN)/pybabel extract -F babel.cfg $(KEYWORDS) --add-location=file --sort-output --no-wrap \
		--project=flask-passwordless --msgid-bugs-address= -o $(POT) .
	for lang in $(LANGUAGES); do \
		test -f $(CATALOGUES)/$$lang/LC_MESSAGES/flask_passwordless.po || \
		$(BIN)/pybabel init -D flask_passwordless -i $(POT) -d $(CATALOGUES) -l $$lang; \
	done
	$(BIN)/pybabel update -D flask_passwordless -i $(POT) -d $(CATALOGUES) --no-wrap
	rm -f $(CATALOGUES)/*/LC_MESSAGES/flask_passwordless.mo
	for lang in $$($(BIN)/python -c 'from flask_passwordless.i18n import SHIPPED_LANGUAGES as s; print(*s)'); do \
		test $$lang = en || $(BIN)/pybabel compile -D flask_passwordless -d $(CATALOGUES) -l $$lang --statistics; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
