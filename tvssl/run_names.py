"""The names in a results tree, spelled once: the sweep writes them, the report reads them, make asks for them.

    RESULTS/<row>/pretrain/last.ckpt           final pretraining checkpoint
    RESULTS/<row>/pretrain/metrics.csv         the loss curve
    RESULTS/<row>/pretrain/same_batches.json   only for a row not trained itself: whose training it shares
    RESULTS/<row>/<task>_split<s>/metrics.json fine-tuning result on HMDB51 or UCF101, e.g. ucf101_split1
    RESULTS/<row>/esc50_fold<f>_seed<n>/...    fine-tuning result on ESC-50, e.g. esc50_fold1_seed2
    RESULTS/<row>/probe_<task>/probe.json      frozen-feature probe (linear + k-NN) on split 1 / the test fold
    RESULTS/random_init/probe_<task>/...       the same probe on randomly initialised encoders (the baseline)

make builds these paths before ``.venv`` may exist (its targets are the files), so this module imports
nothing but the standard library and runs as ``python -m tvssl.run_names`` straight from the source tree;
what it prints there are make variable assignments, see ``make_assignments``.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass

SPLIT_TASKS = ("hmdb51", "ucf101")
"""Video tasks, evaluated per official split; the paper reports split 1."""
SEED_TASK = "esc50"
"""The audio task, evaluated on one fold over several fine-tuning seeds."""
TASKS = tuple(sorted((*SPLIT_TASKS, SEED_TASK)))

PRETRAIN = "pretrain"
CHECKPOINT = "last.ckpt"
LOSS_LOG = "metrics.csv"
SAME_BATCHES = "same_batches.json"
FINETUNE_RESULT = "metrics.json"
PROBE_RESULT = "probe.json"
PROBE_RUN = "probe_{task}"

SPLIT_RUN = "{task}_split{split}"
SEED_RUN = SEED_TASK + "_fold{fold}_seed{seed}"


def _regex(template: str, **groups: str) -> re.Pattern[str]:
    """The template as a regular expression with one named group per field."""
    parts = string.Formatter().parse(template)
    return re.compile(
        "".join(
            re.escape(text) + (f"(?P<{field}>{groups[field]})" if field else "")
            for text, field, _, _ in parts
        )
    )


_SPLIT_RE = _regex(SPLIT_RUN, task="|".join(SPLIT_TASKS), split="[0-9]+")
_SEED_RE = _regex(SEED_RUN, fold="[0-9]+", seed="[0-9]+")


@dataclass(frozen=True)
class FinetuneRun:
    """One fine-tuning run of a row as its folder name says: a task, its split or fold, and (ESC-50) a seed.

    The seed of a split task is not in its name (the paper fine-tunes those once), so it is None here.
    """

    task: str
    partition: int
    seed: int | None = None

    @property
    def name(self) -> str:
        return finetune_run_name(self.task, self.partition, 0 if self.seed is None else self.seed)

    def recorded(self) -> dict[str, int]:
        """The values metrics.json must agree with, keyed as it records them."""
        values = {partition_key(self.task): self.partition}
        if self.task == SEED_TASK and self.seed is not None:
            values["seed"] = self.seed
        return values


def partition_key(task: str) -> str:
    """What a task's partition is called in its datamodule and in metrics.json: ``fold`` or ``split``."""
    return "fold" if task == SEED_TASK else "split"


def split_run_name(task: str, split: int) -> str:
    """``ucf101_split1``: a video task on one official split."""
    if task not in SPLIT_TASKS:
        raise ValueError(f"{task!r} is not a split task ({', '.join(SPLIT_TASKS)})")
    return SPLIT_RUN.format(task=task, split=split)


def seed_run_name(fold: int, seed: int) -> str:
    """``esc50_fold1_seed2``: ESC-50 tested on one fold, fine-tuned with one seed."""
    return SEED_RUN.format(fold=fold, seed=seed)


def finetune_run_name(task: str, partition: int, seed: int) -> str:
    """The folder of a fine-tuning result: ``split_run_name`` or ``seed_run_name`` by task."""
    return seed_run_name(partition, seed) if task == SEED_TASK else split_run_name(task, partition)


def parse_run_name(name: str) -> FinetuneRun | None:
    """Inverse of ``finetune_run_name``; None for a name that is no fine-tuning folder."""
    split = _SPLIT_RE.fullmatch(name)
    if split is not None:
        return FinetuneRun(split["task"], int(split["split"]))
    seeded = _SEED_RE.fullmatch(name)
    if seeded is not None:
        return FinetuneRun(SEED_TASK, int(seeded["fold"]), int(seeded["seed"]))
    return None


def probe_run_name(task: str) -> str:
    """``probe_ucf101``: the frozen-feature probe of a row on one task."""
    if task not in TASKS:
        raise ValueError(f"{task!r} is not a task ({', '.join(TASKS)})")
    return PROBE_RUN.format(task=task)


def parse_probe_name(name: str) -> str | None:
    """The task of a probe folder name, or None."""
    prefix = PROBE_RUN.split("{", 1)[0]
    task = name[len(prefix) :] if name.startswith(prefix) else ""
    return task if task in TASKS else None


def run_name_patterns() -> list[str]:
    """The folder names a row may hold, for messages: pretrain, hmdb51_split<s>, ..., esc50_fold<f>_seed<n>."""
    splits = [SPLIT_RUN.format(task=task, split="<s>") for task in SPLIT_TASKS]
    return [PRETRAIN, *splits, SEED_RUN.format(fold="<f>", seed="<n>"), PROBE_RUN.format(task="<task>")]


def runs_dir_name(row: str, run: str) -> str:
    """The run directory name (under RUNS) of a row's fine-tuning run: ``movie_k1-ucf101_split1``."""
    return f"{row}-{run}"


def make_assignments(splits: Sequence[int], seeds: Sequence[int], fold: int) -> list[str]:
    """Make variable assignments, one word each, naming every result file of one row.

    ``PRETRAINED=pretrain/last.ckpt``, ``FINETUNED.<task>.<split>=<task>_split<s>/metrics.json`` for the split
    tasks and ``FINETUNED.esc50.<seed>=esc50_fold<f>_seed<n>/metrics.json``; ablation.mk evaluates each.
    """
    words = [f"PRETRAINED={PRETRAIN}/{CHECKPOINT}"]
    for split in splits:
        words += [
            f"FINETUNED.{task}.{split}={split_run_name(task, split)}/{FINETUNE_RESULT}"
            for task in SPLIT_TASKS
        ]
    words += [f"FINETUNED.{SEED_TASK}.{seed}={seed_run_name(fold, seed)}/{FINETUNE_RESULT}" for seed in seeds]
    words += [f"PROBED.{task}={probe_run_name(task)}/{PROBE_RESULT}" for task in TASKS]
    return words


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tvssl.run_names",
        description="Print the result file names of one row for experiments/ablation.mk (make variables).",
    )
    parser.add_argument("--splits", type=int, nargs="*", default=[1], metavar="S")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], metavar="N")
    parser.add_argument("--esc-fold", type=int, default=1, metavar="F")
    args = parser.parse_args(argv)
    print(" ".join(make_assignments(args.splits, args.seeds, args.esc_fold)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
