# make run  — the service with its embedded defaults (SQLite file, jobs in a thread, scheduler in-process)
# make test — the whole suite against its own PostgreSQL and Redis on 127.0.0.1
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint format bench-refresh bench-events bench-http bench-freshness bench-hostile bench-dashboard bench-gitlab system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { scripts/ensure-system-deps.sh venv && $(PYTHON) -m venv $(VENV); }

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/gunicorn -c gunicorn.conf.py app:app

system-deps:
	scripts/ensure-system-deps.sh test

test: $(VENV)/.dev system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-refresh: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/refresh.py

bench-events: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/events.py

bench-http: $(VENV)/.dev
	scripts/ensure-system-deps.sh bench-http
	$(BIN)/python benchmarks/http_reads.py

bench-freshness: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/freshness.py

bench-hostile: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/hostile.py

bench-dashboard: $(VENV)/.dev
	$(BIN)/python -m benchmarks.dashboard

bench-gitlab: $(VENV)/.dev
	$(BIN)/python benchmarks/gitlab_reads.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache test-artifacts
