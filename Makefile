# Emissions Hub — the few verbs people type. Each does the whole job on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help run test lint bench bench-quick services venv dev-venv browser haproxy clean codecarbon-venv

help: ## List the make targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml tracker_client/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	$(PY) -m pip install -q -e './tracker_client[all]'
	touch $@

# Test and lint tools, and the ML libraries the client's callbacks are tested against.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Create .venv and install the hub and the client

dev-venv: $(VENV)/.installed-dev ## Add the test, lint and benchmark tools to .venv

run: venv ## Quick start: migrate, load demo data and serve on http://127.0.0.1:PORT (default 8000; SQLite, Celery eager)
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py seed_demo
	@echo "Emissions Hub on http://127.0.0.1:$(PORT)/  (sign in as shown above; API docs at /api/v1/docs/)"
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

services: ## Start local PostgreSQL and Redis when they are stopped
	@pg_isready -h 127.0.0.1 -q || pg_ctlcluster --skip-systemctl-redirect 15 main start
	@for i in $$(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done; pg_isready -h 127.0.0.1
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""
	@for i in $$(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done; redis-cli -h 127.0.0.1 ping

CODECARBON_VENV := bench/.venv-codecarbon
$(CODECARBON_VENV)/.installed:
	test -x $(CODECARBON_VENV)/bin/python || $(PYTHON) -m venv $(CODECARBON_VENV)
	$(CODECARBON_VENV)/bin/pip install -q codecarbon==3.3.2
	touch $@

codecarbon-venv: $(CODECARBON_VENV)/.installed ## A separate venv with the real CodeCarbon client (tests and benchmarks)

browser: ## Install Debian's chromium for the browser tests when missing
	@test -x /usr/bin/chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium poppler-utils; }
	@command -v pdftoppm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q poppler-utils; }

haproxy: ## Install Debian's haproxy for the scale-out test when missing
	@test -x /usr/sbin/haproxy || command -v haproxy >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy; }

lint: dev-venv ## ruff (lint and format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy emissions_hub api carbon dashboards reports tracker_client

test: services dev-venv browser haproxy codecarbon-venv ## The whole suite against real PostgreSQL and Redis (lint included)
	$(MAKE) lint
	$(VENV)/bin/pytest

# Every benchmark runs even when one misses its target; the exit status says if any did.
bench: services dev-venv ## Benchmarks: ingestion vs PostgreSQL, reads at 1M and 10M, client, pages, reports
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	@rc=0; \
	$(PY) bench/ingest/schema.py || rc=1; \
	$(PY) bench/ingest/run.py || rc=1; \
	$(PY) bench/scale/run.py || rc=1; \
	$(PY) bench/client/run.py || rc=1; \
	$(PY) bench/pages/run.py || rc=1; \
	$(PY) bench/reports/run.py || rc=1; \
	exit $$rc

bench-quick: services dev-venv ## Benchmarks at CI size: 5 s ingestion phases, reads at 100k and 1M, client
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	@rc=0; \
	$(PY) bench/ingest/schema.py --repeat 50 || rc=1; \
	$(PY) bench/ingest/run.py --quick || rc=1; \
	$(PY) bench/scale/run.py --quick || rc=1; \
	$(PY) bench/client/run.py --seconds 5 || rc=1; \
	exit $$rc

clean: ## Remove the virtualenv, the SQLite quick-start data and test output
	rm -rf $(VENV) data test-output staticfiles
