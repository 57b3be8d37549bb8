# The Table 1 sweep as a make dependency graph (included by the top-level Makefile).
#   make ablation [PROFILE=paper|smoke] [ROWS="movie_k1 movie_k16_Mn"] [SPLITS="1 2 3"] [ESC_FOLD=1] [-j N]
#                 [FINETUNE=yes|no] [PROBE=yes|no] [TRAIN_SEED=N]
#   make replicates [REPLICATES="0 1 2"] [any of the above]: the sweep once per training seed, one pooled report
# Finished steps are files under $(RESULTS): make skips them; an interrupted pretraining resumes from its
# last checkpoint under $(RUNS); -j N runs independent rows and fine-tunes in parallel. Every step reads the
# row configs from $(EXPERIMENTS) (default: experiments, passed as --experiments).

PROFILE ?= paper
EXPERIMENTS ?= experiments
ALL_ROWS := $(basename $(notdir $(sort $(wildcard $(EXPERIMENTS)/movie_*.yaml $(EXPERIMENTS)/tv_*.yaml))))
ROWS ?= $(ALL_ROWS)
SPLITS ?= 1
SEEDS ?= 0 1 2
ESC_FOLD ?= 1
# The frozen-feature probe (linear + k-NN, tvssl probe) of every row and of random init; fine-tuning as the paper.
PROBE ?= $(if $(filter smoke,$(PROFILE)),yes,no)
# The smoke profile's evaluation is the probe: 105 fine-tunes of tiny encoders would take hours on a CPU.
FINETUNE ?= $(if $(filter smoke,$(PROFILE)),no,yes)
TASK_NAMES := hmdb51 esc50 ucf101
RESULTS ?= results
RUNS ?= runs
REPORT ?= $(RESULTS)/report
SMOKE_DATA ?= .tvssl/smoke-data
WANDB ?= offline
TVSSL := $(VENV)/bin/tvssl
# LAUNCH wraps each step (e.g. srun for multi-GPU DDP, see experiments/slurm/ablation.sbatch);
# STEP_EXTRA passes further `tvssl fit` arguments after `--`.
LAUNCH ?=
STEP_EXTRA ?=
# TRAIN_SEED: a replicate's seed for pretraining (weights, batches, validation titles) and random init's
# weights; empty keeps the configs' seeds. `make replicates` sets it per replicate.
TRAIN_SEED ?=
SEED_ARG = $(if $(TRAIN_SEED),--train-seed $(TRAIN_SEED))
# PREPARED=yes, the smoke profile's default: each section's rows train from the clip-exact copy of its titles,
# SMOKE_DATA/<section>-clips, made by `tvssl ablation prepare <section>` for the clips its rows read
# (tvssl/smoke_copy.py), as a cluster would; a row then decodes no title. Side by side on one machine the
# smoke table's rows and probes took 20 min 28 s (2346 CPU-s) from the copy and 24 min 41 s (2842) from the
# titles. PREPARED=no reads the titles (the README's older tables); switch into a new RESULTS, since the
# encoders are new draws.
PREPARED ?= $(if $(filter smoke,$(PROFILE)),yes,no)
PREPARED_ARG = $(if $(filter yes,$(PREPARED)),--prepared)
STEP_ARGS = --profile $(PROFILE) --results $(RESULTS) --runs $(RUNS) --smoke-data $(SMOKE_DATA) --wandb $(WANDB) \
	--experiments $(EXPERIMENTS) $(PREPARED_ARG)

# The result files of a row are named once, in tvssl/run_names.py (the sweep writes them, the report reads
# them): one call prints them as make assignments, PRETRAINED=pretrain/last.ckpt and
# FINETUNED.<task>.<split> / FINETUNED.esc50.<seed>=<folder>/metrics.json. That module needs only the
# standard library, so the system Python reads it from the source tree before .venv exists.
NAMES_PYTHON := $(if $(wildcard $(PY)),$(PY),$(PYTHON))
RESULT_NAMES := $(shell PYTHONPATH=$(CURDIR) $(NAMES_PYTHON) -m tvssl.run_names \
	--splits $(SPLITS) --seeds $(SEEDS) --esc-fold $(ESC_FOLD))
$(if $(filter PRETRAINED=%,$(RESULT_NAMES)),,$(error could not read the result names from tvssl/run_names.py))
$(foreach assignment,$(RESULT_NAMES),$(eval $(assignment)))

ifeq ($(PROFILE),smoke)
# k = 1 at the smoke batch of 64 needs 64 distinct training titles (4 more are held out for validation).
SMOKE_TITLES ?= 68
SMOKE_TV_SHOWS ?= 26
# TV episodes of 2.5 minutes: 300 slots, above the TV rows' widest window (256).
SMOKE_TV_MINUTES ?= 2.5
# 8-minute titles: 960 slots of 0.5 s in two to four acts, so w = 64 ... 512 are at most 53 % of a title, as the
# paper's widest window (2048 slots of 2 s) is 57 % of a two-hour film; w = 1024 and 2048 hold a title and equal Mn.
SMOKE_MINUTES ?= 8
# Frames at the training short side (64), so decoding never resizes; the downstream clips at 16 fps, the rate
# training and the probe read.
SMOKE_FRAME := --width 112 --height 64
# Downstream sets for the probe: 10 classes, 200 clips each (UCF101 640 / HMDB51 540 / ESC-50 400 test files), so
# that a row's test-set standard error is about 2 points (the floor that replicates of pretraining cannot lower);
# the demo makes 100 per class to fit its 10 minutes.
SMOKE_CLASSES ?= 10
SMOKE_CLIPS ?= 200
# The world's seed: SEED=1 draws other characters, sets and events for the titles and the downstream sets.
SEED ?= 0
# PRODUCTIONS=yes gives every movie (every TV show) a production of its own (tvssl synth --productions: a colour
# grade and film age, a room tone and recording age); the downstream sets have none. Into a new SMOKE_DATA.
PRODUCTIONS ?= no
SMOKE_PRODUCTIONS = $(if $(filter yes,$(PRODUCTIONS)),--productions)
# what a step needs besides the package: the synthetic data of its section (a row: that data's copy, if used)
SMOKE_NEEDS = $(SMOKE_DATA)/$(1)/.tvssl-synth.json
ROW_NEEDS = $(if $(filter yes,$(PREPARED)),$(SMOKE_DATA)/$(1)-clips/manifest.csv,$(call SMOKE_NEEDS,$(1)))
.PRECIOUS: $(SMOKE_DATA)/%-clips/manifest.csv
$(SMOKE_DATA)/%-clips/manifest.csv: $(SMOKE_DATA)/%/.tvssl-synth.json
	$(TVSSL) ablation prepare $* $(STEP_ARGS) $(STEP_EXTRA)
# Each section is `tvssl synth` run as a step (tvssl/smoke_synth.py): one console line, its output in
# $(SMOKE_DATA)/synth_<section>.console.log; the world's settings are these, after --.
$(SMOKE_DATA)/movie/.tvssl-synth.json: | $(STAMP)
	$(TVSSL) ablation synth movie $(STEP_ARGS) -- --kind movie --titles $(SMOKE_TITLES) --minutes $(SMOKE_MINUTES) \
		--seed $(SEED) --workers 2 $(SMOKE_FRAME) $(SMOKE_PRODUCTIONS)
$(SMOKE_DATA)/tv/.tvssl-synth.json: | $(STAMP)
	$(TVSSL) ablation synth tv $(STEP_ARGS) -- --kind tv --titles $(SMOKE_TV_SHOWS) --episodes 3 \
		--minutes $(SMOKE_TV_MINUTES) --seed $(SEED) --workers 2 $(SMOKE_FRAME) $(SMOKE_PRODUCTIONS)
$(SMOKE_DATA)/downstream/.tvssl-synth.json: | $(STAMP)
	$(TVSSL) ablation synth downstream $(STEP_ARGS) -- --kind downstream --classes $(SMOKE_CLASSES) \
		--clips $(SMOKE_CLIPS) --seed $(SEED) --width 96 --height 72 --fps 16 --workers 2
else ifeq ($(PROFILE),paper)
ifneq ($(filter ablation,$(MAKECMDGOALS)),)
PAPER_ENV := $(if $(filter movie_%,$(ROWS)),MOVIE_ROOT) $(if $(filter tv_%,$(ROWS)),TV_ROOT) UCF101_ROOT HMDB51_ROOT ESC50_ROOT
$(foreach v,$(PAPER_ENV),$(if $($(v)),,$(error PROFILE=paper reads the data from $(v): set it to the dataset root, or use PROFILE=smoke for the synthetic sets)))
endif
else
$(error PROFILE must be paper or smoke, got '$(PROFILE)')
endif

# A window row whose w holds every smoke title (w at least a title's slots, which are 0.5 s as in
# smoke/pretrain.yaml) draws exactly the batches of the w = Mn row of its k: it waits for that row, and then
# shares its training instead of repeating it. tvssl/same_batches.py decides that itself, from the two parsed
# configs and the corpus; this only puts the two in order (a row trains as usual when its twin is not done). Its
# fine-tunings wait for the twin's likewise, and take their results (tvssl.sweep.finetune).
SMOKE_SLOTS.movie = $(shell awk 'BEGIN { print int($(SMOKE_MINUTES) * 120) }')
SMOKE_SLOTS.tv = $(shell awk 'BEGIN { print int($(SMOKE_TV_MINUTES) * 120) }')
TWIN = $(if $(filter smoke,$(PROFILE)),$(call TWIN_WORDS,$(subst _, ,$(1))))
TWIN_WORDS = $(if $(filter w%,$(word 3,$(1))),$(call TWIN_IF,$(word 1,$(1))_$(word 2,$(1))_Mn$(if $(word 4,$(1)),_$(word 4,$(1))),$(patsubst w%,%,$(word 3,$(1))),$(SMOKE_SLOTS.$(word 1,$(1)))))
TWIN_IF = $(if $(filter $(1),$(ROWS)),$(if $(shell [ $(2) -ge $(3) ] && echo y),$(1)))
$(foreach r,$(ROWS),$(eval TWIN.$(r) := $(call TWIN,$(r))))
TWIN_AFTER = $(addprefix $(RESULTS)/,$(addsuffix /$(2),$(TWIN.$(1))))

define ROW_RULES
$(RESULTS)/$(1)/$(PRETRAINED): | $(STAMP) $(call ROW_NEEDS,$(firstword $(subst _, ,$(1)))) \
		$(call TWIN_AFTER,$(1),$(PRETRAINED))
	$(LAUNCH) $(TVSSL) ablation pretrain $(1) $(STEP_ARGS) $(SEED_ARG) $(STEP_EXTRA)
$(foreach s,$(SPLITS),
$(RESULTS)/$(1)/$(FINETUNED.ucf101.$(s)): $(RESULTS)/$(1)/$(PRETRAINED) | $(call SMOKE_NEEDS,downstream) \
		$(call TWIN_AFTER,$(1),$(FINETUNED.ucf101.$(s)))
	$(LAUNCH) $(TVSSL) ablation finetune $(1) ucf101 --split $(s) $(STEP_ARGS) $(STEP_EXTRA)
$(RESULTS)/$(1)/$(FINETUNED.hmdb51.$(s)): $(RESULTS)/$(1)/$(PRETRAINED) | $(call SMOKE_NEEDS,downstream) \
		$(call TWIN_AFTER,$(1),$(FINETUNED.hmdb51.$(s)))
	$(LAUNCH) $(TVSSL) ablation finetune $(1) hmdb51 --split $(s) $(STEP_ARGS) $(STEP_EXTRA))
$(foreach n,$(SEEDS),
$(RESULTS)/$(1)/$(FINETUNED.esc50.$(n)): $(RESULTS)/$(1)/$(PRETRAINED) | $(call SMOKE_NEEDS,downstream) \
		$(call TWIN_AFTER,$(1),$(FINETUNED.esc50.$(n)))
	$(LAUNCH) $(TVSSL) ablation finetune $(1) esc50 --fold $(ESC_FOLD) --seed $(n) $(STEP_ARGS) $(STEP_EXTRA))
endef
$(foreach r,$(ROWS),$(eval $(call ROW_RULES,$(r))))

# The probes of a task: every row and random_init, the probe's baseline (the same encoders never trained), in one
# step after every row's pretraining, since their clips are decoded once for all encoders (those already probed
# are skipped). Decoding is most of a probe's cost: on the demo's ESC-50 set random init's probe took 53 CPU-s on
# its own, and 5 added to the rows' step (71 against 66), with the same results to the byte. TRAIN_SEED reaches
# random init's weights (the rows' probes take none).
define PROBE_RULE
$(foreach r,$(ROWS) random_init,$(RESULTS)/$(r)/$(PROBED.$(1))) &: $(foreach r,$(ROWS),$(RESULTS)/$(r)/$(PRETRAINED)) \
		| $(STAMP) $(call SMOKE_NEEDS,downstream)
	$(TVSSL) ablation probe $(ROWS) random_init $(1) --fold $(ESC_FOLD) $(STEP_ARGS) $(SEED_ARG)
endef
$(foreach t,$(TASK_NAMES),$(eval $(call PROBE_RULE,$(t))))

FINETUNE_TARGETS := $(foreach r,$(ROWS),\
	$(foreach s,$(SPLITS),$(RESULTS)/$(r)/$(FINETUNED.ucf101.$(s)) $(RESULTS)/$(r)/$(FINETUNED.hmdb51.$(s))) \
	$(foreach n,$(SEEDS),$(RESULTS)/$(r)/$(FINETUNED.esc50.$(n))))
PROBE_TARGETS := $(foreach r,$(ROWS) random_init,$(foreach t,$(TASK_NAMES),$(RESULTS)/$(r)/$(PROBED.$(t))))
ABLATION_TARGETS := $(if $(filter yes,$(FINETUNE)),$(FINETUNE_TARGETS)) $(if $(filter yes,$(PROBE)),$(PROBE_TARGETS)) \
	$(if $(filter no,$(FINETUNE)),$(foreach r,$(ROWS),$(RESULTS)/$(r)/$(PRETRAINED)))

.PHONY: ablation ablation-report
ablation: $(ABLATION_TARGETS) ## sweep Table 1: PROFILE=paper|smoke ROWS="..." SPLITS="1 2 3" (-j N in parallel)
	$(TVSSL) report $(RESULTS) --out $(REPORT)

ablation-report: | $(STAMP) ## rebuild the table and figure from whatever is in $(RESULTS)
	$(TVSSL) report $(RESULTS) --out $(REPORT)

# Replicates: the same sweep (same world, rows and evaluation) pretrained once per seed in REPLICATES, each in
# its own RESULTS/seed<n> and RUNS/seed<n>, then one report whose probe table, probe.csv and verdicts pool the
# runs (mean over runs; s.e. from their spread and the test files: tvssl/report/replicates.py). One run per row
# is noisy: two runs of the same row differ by 5-10 points in the smoke profile.
REPLICATES ?= 0 1 2
REPLICATE_DIRS = $(foreach n,$(REPLICATES),$(RESULTS)/seed$(n))
.PHONY: replicates
replicates: | $(STAMP) ## the sweep once per training seed in REPLICATES="0 1 2", then one pooled report
	@set -e; for n in $(REPLICATES); do \
		$(MAKE) --no-print-directory ablation TRAIN_SEED=$$n RESULTS=$(RESULTS)/seed$$n RUNS=$(RUNS)/seed$$n \
			REPORT=$(RESULTS)/seed$$n/report; \
	done
	$(TVSSL) report $(firstword $(REPLICATE_DIRS)) $(foreach d,$(wordlist 2,$(words $(REPLICATE_DIRS)),$(REPLICATE_DIRS)),--replicate $(d)) --out $(REPORT)
