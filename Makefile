# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Where mails link to (sign-up, password reset, reminders) when SITE_URL is set nowhere (neither
# in the environment nor in .env): the server `make run` starts. A wildcard address is no
# address to link to: it becomes 127.0.0.1; an IPv6 one goes in brackets.
SITE_HOST = $(if $(filter 0.0.0.0 :: [::],$(HOST)),127.0.0.1,$(if $(findstring :,$(HOST)),[$(HOST)],$(HOST)))
# Development defaults; production sets its own environment (see README).
export DEBUG ?= true

.PHONY: run test install install-dev migrate seed lint typecheck bench fuzz clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "Python 3.12 or newer is needed: make PYTHON=python3.13 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

install-dev: $(VENV)/.dev-installed

# Installed again only when the dependencies change, so `make test` starts at once.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The embedded defaults, written once so that manage.py works in any shell, DEBUG included.
.env:
	cp .env.example .env

migrate: install .env
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

# The server and one background worker (versions, exports, the chores); Ctrl-C stops both.
run: seed
	$(BIN)/python manage.py work & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; \
	DEFAULT_SITE_URL=http://$(SITE_HOST):$(PORT) DJANGO_RUNSERVER_HIDE_WARNING=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

# pytest exits 5 when it collects nothing: that is a failure here, never a pass. In parallel
# (pyproject's addopts); the schema fuzzing at a third of its CI size (FUZZ_EXAMPLES, printed).
test: install-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-12} $(BIN)/pytest $(PYTEST_ARGS)

# The schema fuzzing suite at ten times its CI size (about 20,000 requests per key).
fuzz: install-dev
	FUZZ_EXAMPLES=400 $(BIN)/pytest -m fuzz -p no:logging $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy .

# Side by side with DRF's TokenAuthentication under gunicorn and wrk; writes docs/benchmarks.md.
bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.datasets
	$(BIN)/python -m bench.machines

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles
