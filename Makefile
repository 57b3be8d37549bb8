# tvssl: every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint demo bench
DEMO ?= demo
BENCH_DIR ?= .tvssl/bench

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

demo: $(STAMP) ## the main job end to end on a synthetic corpus: pretrain k=1 and k=16/Mn, fine-tune, report
	$(MAKE) --no-print-directory ablation PROFILE=smoke ROWS="movie_k1 movie_k16_Mn" \
		RESULTS=$(DEMO)/results RUNS=$(DEMO)/runs SMOKE_DATA=$(DEMO)/data REPORT=$(DEMO)/report
	@echo
	@echo "Demo finished. Where everything is:"
	@echo "  synthetic corpus + downstream sets   $(DEMO)/data/movie  $(DEMO)/data/downstream"
	@echo "  runs (config, CSV log, W&B offline, checkpoints)   $(DEMO)/runs/<run name>/version_N"
	@echo "  results per row (loss curve, fine-tune metrics)    $(DEMO)/results/<row>/"
	@echo "  Table 1 and Figure 1                 $(DEMO)/report/table1.md  $(DEMO)/report/figure1.png"
	@echo "  sync W&B later: .venv/bin/wandb sync $(DEMO)/runs/*/version_*/wandb/offline-run-*"

bench: $(STAMP) ## decoding throughput on a generated 10-minute 720p title (grouped vs per-clip vs sequential)
	$(VENV)/bin/tvssl bench decode --make-title $(BENCH_DIR) --k 16 --w Mn
	$(VENV)/bin/tvssl bench decode --manifest $(BENCH_DIR)/manifest.csv --k 16 --w 16
	$(VENV)/bin/tvssl bench decode --manifest $(BENCH_DIR)/manifest.csv --k 1

include experiments/ablation.mk
