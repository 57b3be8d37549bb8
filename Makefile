# tvssl: every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Install from PyPI and requirements.lock alone: no machine-wide pip or uv config, mirror or constraint file applies.
export PIP_CONFIG_FILE := /dev/null
unexport PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT
export UV_NO_CONFIG := 1
unexport UV_INDEX UV_DEFAULT_INDEX UV_INDEX_URL UV_EXTRA_INDEX_URL UV_FIND_LINKS UV_CONSTRAINT UV_OVERRIDE

.DEFAULT_GOAL := help
.PHONY: help install lock test test-fast lint demo demo-precise-bn bench gpu-check
DEMO ?= demo
BENCH_DIR ?= .tvssl/bench

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install exactly what requirements.lock pins (idempotent)

# Every package comes from requirements.lock with its exact version and hashes, so a wheel published upstream
# tomorrow cannot change what is installed; tvssl itself goes in editable, without resolving anything. uv (its
# own pin and hashes taken from the lock) installs the lock: it downloads, unpacks and compiles in parallel, 35 s
# against pip's 85 s for these 4.9 GB on this 2-core machine with empty caches. The bytecode is compiled at
# install, as pip does: every step spawns fresh processes (data workers included) that import torch and
# lightning, and where PYTHONDONTWRITEBYTECODE is set none of them would ever cache it (the demo: 17.6 user
# CPU-minutes without, 16.6 with, the same day). pip installs the same lock when uv cannot (say, a proxy whose
# certificate only pip is configured for).
UV_PIN := $(VENV)/uv-requirement.txt
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "tvssl needs Python >= 3.10, found " + sys.version'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {p = 1; print; next} p && /^ / {print; next} {p = 0}' requirements.lock > $(UV_PIN)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(UV_PIN)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) --require-hashes --no-deps -r requirements.lock || \
		{ echo "uv could not install requirements.lock (its message is above); installing it with pip"; \
		$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock; }
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

lock: ## regenerate requirements.lock from pyproject.toml (exact versions and hashes, all platforms)
	test -x $(VENV)/bin/uv || (test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install --quiet uv)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --generate-hashes \
		--python-version 3.10 --no-emit-package tvssl --quiet -o requirements.lock

test: $(STAMP) ## run the whole test suite (slow and DDP tests included)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## skip tests marked slow or ddp
	$(PY) -m pytest -q -m "not slow and not ddp"

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check tvssl data_modules tests
	$(VENV)/bin/ruff format --check tvssl data_modules tests

# The demo's titles are 1.5 minutes (180 slots, one act) instead of the smoke table's 8, its downstream sets 100
# clips per class instead of 200, so that it fits in 10 minutes; its three rows do not use w, everything else is
# the smoke profile (its rows train from the titles' clip-exact copy; `make demo PREPARED=no` reads the titles).
DEMO_MINUTES ?= 1.5
DEMO_CLIPS ?= 100
DEMO_ROWS = movie_k1 movie_k16_Mn movie_k16_Mn_masked
demo: $(STAMP) ## the main job end to end on a synthetic corpus: pretrain k=1, k=16/Mn and its control, probe, report
	@$(MAKE) --no-print-directory --silent -j2 ablation PROFILE=smoke FINETUNE=no PROBE=yes SMOKE_MINUTES=$(DEMO_MINUTES) SMOKE_CLIPS=$(DEMO_CLIPS) \
		ROWS="$(DEMO_ROWS)" \
		RESULTS=$(DEMO)/results RUNS=$(DEMO)/runs SMOKE_DATA=$(DEMO)/data REPORT=$(DEMO)/report
	@echo
	@echo "Demo finished. Where everything is:"
	@echo "  synthetic corpus, clip-exact copy, downstream sets   $(DEMO)/data/movie  movie-clips  downstream"
	@echo "  runs (config, CSV log, W&B offline, checkpoints)   $(DEMO)/runs/<run name>/version_N"
	@echo "  results per row (loss curve, probe results)        $(DEMO)/results/<row>/"
	@echo "  Table 1, probe table + verdicts, Figure 1   $(DEMO)/report/table1.md  probe.csv  figure1.png"
	@echo "  sync W&B later: .venv/bin/wandb sync $(DEMO)/runs/*/version_*/wandb/offline-run-*"

# A diagnostic of a finished demo: do the rows' probes rest on the BatchNorm statistics their batches left behind
# (four titles a batch at k = 16, sixty-four at k = 1)? Each row's checkpoint is copied with its statistics
# measured again on the same 100 k = 1 batches of the demo's titles (tvssl precise-bn; weights untouched) into
# $(DEMO)/precise_bn/results, beside its loss curve and random init's probes, and the same probe step and report
# run on those: $(DEMO)/precise_bn/report. The demo's own results are only read.
PRECISE_BN = $(DEMO)/precise_bn
demo-precise-bn: $(STAMP) ## after make demo: its rows probed again with BatchNorm statistics of k = 1 batches
	@for r in $(DEMO_ROWS); do test -f $(DEMO)/results/$$r/pretrain/last.ckpt || { \
		echo "make demo-precise-bn: $(DEMO)/results/$$r/pretrain/last.ckpt is missing; run make demo (same DEMO) first"; \
		exit 2; }; done
	@set -e; for r in $(DEMO_ROWS); do \
		test -f $(PRECISE_BN)/results/$$r/pretrain/last.ckpt && continue; \
		mkdir -p $(PRECISE_BN)/results/$$r/pretrain; \
		$(VENV)/bin/tvssl precise-bn --ckpt $(DEMO)/results/$$r/pretrain/last.ckpt \
			--out $(PRECISE_BN)/results/$$r/pretrain/last.ckpt --config experiments/movie_k1.yaml \
			--config experiments/smoke/pretrain.yaml --data.init_args.root $(DEMO)/data/movie-clips \
			--data.init_args.manifest $(DEMO)/data/movie-clips/manifest.csv --run.wandb disabled; \
		cp $(DEMO)/results/$$r/pretrain/metrics.csv $(PRECISE_BN)/results/$$r/pretrain/; \
	done
	@test -d $(PRECISE_BN)/results/random_init || cp -r $(DEMO)/results/random_init $(PRECISE_BN)/results/
	@$(MAKE) --no-print-directory --silent -j2 ablation PROFILE=smoke FINETUNE=no PROBE=yes \
		SMOKE_MINUTES=$(DEMO_MINUTES) SMOKE_CLIPS=$(DEMO_CLIPS) ROWS="$(DEMO_ROWS)" SMOKE_DATA=$(DEMO)/data \
		RESULTS=$(PRECISE_BN)/results RUNS=$(PRECISE_BN)/runs REPORT=$(PRECISE_BN)/report

bench: $(STAMP) ## decoding throughput on a generated 10-minute 720p title (grouped vs per-clip vs sequential)
	$(VENV)/bin/tvssl bench decode --make-title $(BENCH_DIR) --k 16 --w Mn
	$(VENV)/bin/tvssl bench decode --manifest $(BENCH_DIR)/manifest.csv --k 16 --w 16
	$(VENV)/bin/tvssl bench decode --manifest $(BENCH_DIR)/manifest.csv --k 1

gpu-check: $(STAMP) ## on CUDA: step bench at paper shapes, short bf16 DDP fit, exact resume (CPU variant without CUDA)
	$(PY) -m tvssl.gpu_check

include experiments/ablation.mk
