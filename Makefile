# Every command a person runs. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROFILE ?= documented

.PHONY: help setup run test lint serve probe discover bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the harness with its tools

run: setup  ## the main job on the built-in reference platform
	$(BIN)/python -m harness probe --embedded $(PROFILE)

test: setup  ## lint, type-check and run the test suite
	$(BIN)/ruff check harness tests bench
	$(BIN)/ruff format --check harness tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup  ## fix what ruff can fix
	$(BIN)/ruff check --fix harness tests bench
	$(BIN)/ruff format harness tests bench

serve: setup  ## the reference platform on localhost:8000 (PROFILE=documented|fast|degraded)
	$(BIN)/python -m harness serve --profile $(PROFILE)

probe: setup  ## one lifecycle against the platform in your settings (.env, MIPTECH_*)
	$(BIN)/python -m harness probe

discover: setup  ## the document's endpoint discovery against your settings
	$(BIN)/python -m harness discover

bench: setup  ## the capacity and accuracy benchmarks (minutes; prints figures)
	$(BIN)/python -m bench.platform_capacity rate
	$(BIN)/python -m bench.platform_capacity hold

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
