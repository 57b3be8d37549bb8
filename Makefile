# tvssl: every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint demo

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install tvssl with its dev tools (idempotent)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "tvssl needs Python >= 3.10, found " + sys.version' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: $(STAMP) ## run the whole test suite (slow and DDP tests included)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## skip tests marked slow or ddp
	$(PY) -m pytest -q -m "not slow and not ddp"

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check tvssl data_modules tests
	$(VENV)/bin/ruff format --check tvssl data_modules tests

include experiments/ablation.mk
