# tethys-compute: two commands do all set-up on a fresh machine.
#   make demo   run the example portal with a local Dask cluster (admin on 127.0.0.1)
#   make test   lint, type-check, migrations check, the suite on SQLite and PostgreSQL,
#               the example portal's own tests and the docs build
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# condorpy 0.7.0 installs a stray top-level "tests" package: the project root goes first.
# A caller's PYTHONPATH is kept after it (e.g. `make demo PYTHONPATH=/path/to/app/code`
# so that the demo's Dask workers can import an app's functions).
override PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
export PYTHONPATH
PYTEST := $(BIN)/pytest
PYTEST_ARGS ?=
DEMO_PORT ?= 8000

.PHONY: demo test venv system-deps lint typecheck migrations-check test-sqlite test-postgres \
        test-portal docs bench screenshots clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,docs]'
	@touch $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

# The demo installs only what it needs (no lint, docs or browser-test extras).
DEMO_STAMP := $(VENV)/.demo-stamp

$(DEMO_STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python scripts/demo.py --port $(DEMO_PORT)$(if $(filter 1,$(RESET_PASSWORD)), --reset-password)

test: venv system-deps lint typecheck migrations-check test-sqlite test-postgres test-portal docs
	@echo "make test: all steps passed"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

migrations-check: venv
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/django-admin makemigrations --check --dry-run

test-sqlite: venv system-deps
	$(PYTEST) $(PYTEST_ARGS)

test-postgres: venv system-deps
	TETHYS_TEST_DB=postgres bash scripts/with-postgres.sh $(PYTEST) $(PYTEST_ARGS)

test-portal: venv
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  PYTHONPATH= PORTAL_DATA_DIR=$$tmp \
	  TETHYS_COMPUTE_ENCRYPTION_KEYS=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	  $(BIN)/python tests/example_portal/manage.py test weather_app --noinput -v 1

docs: venv
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

screenshots: venv system-deps
	TETHYS_UPDATE_SCREENSHOTS=1 $(PYTEST) -m browser

# Every bench prints its figures beside its targets and exits 1 when one is missed;
# all of them run, then the missed ones are listed.
bench: venv system-deps
	@missed=""; for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || missed="$$missed $$b"; done; \
	  echo "== bench/bench_schedulers.py on PostgreSQL"; \
	  BENCH_DB=postgres bash scripts/with-postgres.sh $(BIN)/python bench/bench_schedulers.py || missed="$$missed bench_schedulers(postgres)"; \
	  if [ -n "$$missed" ]; then echo "make bench: targets missed in:$$missed"; exit 1; fi; echo "make bench: every target met"

clean:
	rm -rf $(VENV) docs/_build .demo tests/test.sqlite3 tests/test-suite.sqlite3
