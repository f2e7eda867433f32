# Every command a person runs. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROFILE ?= documented

.PHONY: help setup browser run report nightly trends load ui test lint serve probe discover bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the harness with its tools

SCENARIO ?= baseline

run: setup  ## the main job: the baseline scenario on the built-in reference platform, then its report
	@$(BIN)/locust -f locustfile.py --headless --scenario $(SCENARIO) --only-summary --report

RUN ?= reports/latest

report: setup  ## analyse a run again: make report RUN=reports/runs/<run_id>
	$(BIN)/python -m harness report $(RUN)

TRIALS ?= 5

nightly: setup  ## the nightly regression check: TRIALS trials vs reports/baseline (HOST=... to target)
	$(BIN)/python -m harness nightly --trials $(TRIALS) $(if $(HOST),--host $(HOST),)

trends: setup  ## redraw reports/history/trends.html
	$(BIN)/python -m harness trends

load: setup  ## a load run against HOST (ws://... or wss://...) with SCENARIO (default baseline)
	$(BIN)/locust -f locustfile.py --headless --scenario $(SCENARIO) $(if $(HOST),--host $(HOST),)

ui: setup  ## Locust's web UI (http://localhost:8089) with the harness users
	$(BIN)/locust -f locustfile.py

BROWSER := $(shell command -v chromium || command -v chromium-browser)

browser:  ## Debian's chromium, for the test that opens report.html in a real browser
	@if [ -z "$(BROWSER)" ]; then \
	  echo "installing chromium (the report test opens report.html in it)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null; \
	fi

test: setup browser  ## lint, type-check and run the test suite
	$(BIN)/ruff check harness tests bench locustfile.py
	$(BIN)/ruff format --check harness tests bench locustfile.py
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup  ## fix what ruff can fix
	$(BIN)/ruff check --fix harness tests bench locustfile.py
	$(BIN)/ruff format harness tests bench locustfile.py

serve: setup  ## the reference platform on localhost:8000 (PROFILE=documented|fast|degraded)
	$(BIN)/python -m harness serve --profile $(PROFILE)

probe: setup  ## one lifecycle against the platform in your settings (.env, MIPTECH_*)
	$(BIN)/python -m harness probe

discover: setup  ## the document's endpoint discovery against your settings
	$(BIN)/python -m harness discover

bench: setup  ## every benchmark of docs/BENCHMARKS.md (about 20 minutes; prints figures)
	$(BIN)/python -m bench.platform_capacity rate --rate 1000 --duration 8
	$(BIN)/python -m bench.platform_capacity rate --rate 2000 --duration 8
	$(BIN)/python -m bench.platform_capacity hold --sessions 20000 --rate 1000 --hold 20 --heartbeat 5
	$(BIN)/python -m bench.accuracy looping --users 500 --duration 40 --pause 5
	$(BIN)/python -m bench.accuracy held --users 5000 --spawn-rate 500 --duration 25
	$(BIN)/python -m bench.streaming --users 50 --duration 20
	$(BIN)/python -m bench.cost --runs 3 --duration 15
	$(BIN)/python -m bench.live --workers 8 --samples 50000
	$(BIN)/python -m bench.memory --sessions 3000
	$(BIN)/python -m bench.scale --sessions 20000 --spawn-rate 500 --hold 30
	$(BIN)/python -m bench.scale --sessions 50000 --spawn-rate 500 --hold 60 --heartbeat 30 --platform-workers 4 --source-addresses 127.0.0.1-127.0.0.4
	$(BIN)/python -m bench.report_scale --samples 10000000

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
