# Every target builds .venv first when it is missing or the lock files changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sandbox test test-calendar coverage lint bench lock clean

# `make test` runs two pytest workers per core (pytest-xdist); WORKERS=0 runs in one process.
# With one per core the suite kept the CPU 154 % busy of 200 % on 2 cores (its tests wait on
# subprocesses, sockets and retry sleeps): 4:28 there, 3:45 with two per core (2026-12-08).
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
# The calendar tier runs again with the clock this many days ahead (libfaketime).
DAYS_AHEAD ?= 97
# --dist loadscope: each test module runs whole on one worker, so its module-scoped fixtures (a
# started Stack, a loaded local PostHog, a sandbox process) are built once.
# PYTHONDONTWRITEBYTECODE is cleared for the suite: where the environment sets it, every worker
# and every bot subprocess would compile the sources and rewrite the test modules' assertions
# again (about 3 s of each worker's collection); the caches go to __pycache__ (git-ignored).
PYTEST := env PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(WORKERS) --dist loadscope --durations=25

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("clusters-bot needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

sandbox: $(STAMP)  ## run the whole bot locally: PostHog, Slack and the bot, no accounts
	$(BIN)/clusters-bot sandbox $(ARGS)

test: $(STAMP)  ## the whole suite in parallel, slowest 25 tests listed (PostgreSQL tests run when TEST_DATABASE_URL is set)
	$(PYTEST) $(ARGS)

test-calendar: $(STAMP)  ## the date-sensitive tests (-m calendar) with the clock DAYS_AHEAD days ahead
	@command -v faketime >/dev/null || { echo "test-calendar needs faketime (apt-get install faketime)"; exit 2; }
	PYTHONPATH=$(CURDIR)/tests/support/faketime FAKETIME_DONT_FAKE_MONOTONIC=1 \
	  faketime -f '+$(DAYS_AHEAD)d' $(PYTEST) -m calendar $(ARGS)

coverage: $(STAMP)  ## the whole suite, with the lines of bot/ and jobs/ it runs
	$(PYTEST) --cov --cov-report=term:skip-covered $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

lock:  ## re-resolve and pin the dependencies (needs the package index)
	rm -rf /tmp/clusters-bot-lock && $(PYTHON) -m venv /tmp/clusters-bot-lock
	/tmp/clusters-bot-lock/bin/pip install --quiet -e .
	(echo "# Runtime dependencies, pinned (name==version). Regenerate with: make lock"; \
	 /tmp/clusters-bot-lock/bin/pip freeze --exclude-editable | sort -f) > requirements.lock
	/tmp/clusters-bot-lock/bin/pip install --quiet -e '.[sandbox,dev]'
	(echo "# Runtime + sandbox (chdb) + development tools, pinned. Regenerate with: make lock"; \
	 /tmp/clusters-bot-lock/bin/pip freeze --exclude-editable | sort -f) > requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
