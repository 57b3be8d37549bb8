"""ESC-50 in its official layout: ``<root>/audio/*.wav`` (5 s, 44.1 kHz) and ``<root>/meta/esc50.csv``.

The csv has the header ``filename,fold,target,category,esc10,src_file,take``; ``fold`` (1-5) is the
cross-validation fold: fine-tuning on fold f tests on the files of fold f and trains on the other four.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from data_modules.downstream import ClipDataModule
from data_modules.splits import LayoutError, Sample, SplitSamples

DATASET = "ESC-50"
AUDIO_DIR = "audio"
META_CSV = "meta/esc50.csv"
HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
FOLDS = (1, 2, 3, 4, 5)
HINT = (
    f"Expected the official ESC-50 layout: <root>/{AUDIO_DIR}/<name>.wav and <root>/{META_CSV} "
    f"with the header {','.join(HEADER)}."
)


def parse_esc50(root: str | os.PathLike, fold: int) -> SplitSamples:
    """Test samples are fold ``fold`` (1-5), training samples the four other folds; labels are ``target``."""
    root = Path(root)
    if fold not in FOLDS:
        raise ValueError(f"ESC-50 fold must be 1, 2, 3, 4 or 5, got {fold}")
    audio_dir = root / AUDIO_DIR
    meta = root / META_CSV
    missing = [str(p) for p in (audio_dir, meta) if not p.exists()]
    if missing:
        raise LayoutError(DATASET, root, [f"missing {p}" for p in missing], HINT)
    present = set(os.listdir(audio_dir))
    problems: list[str] = []
    rows: list[tuple[str, int, int]] = []
    categories: dict[int, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    with open(meta, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != HEADER:
            raise LayoutError(
                DATASET,
                root,
                [f"{meta}:1: header must be {','.join(HEADER)}, got {','.join(header or [])!r}"],
                HINT,
            )
        for fields in reader:
            where = f"{meta}:{reader.line_num}"
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(HEADER):
                problems.append(f"{where}: expected {len(HEADER)} fields, got {len(fields)}")
                continue
            filename, fold_text, target_text, category = (f.strip() for f in fields[:4])
            if fold_text not in {str(f) for f in FOLDS}:
                problems.append(f"{where}: fold {fold_text!r} is not 1, 2, 3, 4 or 5")
                continue
            if not target_text.isdigit():
                problems.append(f"{where}: target {target_text!r} is not a class number >= 0")
                continue
            target = int(target_text)
            if target in categories and categories[target][0] != category:
                first, line = categories[target]
                problems.append(f"{where}: target {target} is {category!r} here but {first!r} on line {line}")
                continue
            categories.setdefault(target, (category, reader.line_num))
            if filename in seen:
                problems.append(f"{where}: {filename} repeats line {seen[filename]}")
                continue
            seen[filename] = reader.line_num
            if filename not in present:
                problems.append(f"{where}: no file {audio_dir / filename}")
                continue
            rows.append((filename, int(fold_text), target))
    if categories and not problems:
        gaps = sorted(set(range(max(categories) + 1)) - set(categories))
        if gaps:
            problems.append(
                f"{meta}: targets must run 0..{max(categories)} without gaps; missing {gaps[:10]}"
            )
    if not problems and not rows:
        problems.append(f"{meta}: no clips listed")
    if problems:
        raise LayoutError(DATASET, root, problems, HINT)
    classes = [categories[t][0] for t in range(len(categories))]
    train = [Sample(audio_dir / f, t, Path(f).stem) for f, k, t in rows if k != fold]
    test = [Sample(audio_dir / f, t, Path(f).stem) for f, k, t in rows if k == fold]
    if not test or not train:
        part = "test" if not test else "training"
        raise LayoutError(DATASET, root, [f"{meta}: fold {fold} leaves no {part} clips"], HINT)
    return SplitSamples(train=train, test=test, classes=classes)


class ESC50DataModule(ClipDataModule):
    """ESC-50 environmental sound classification (audio encoder), one of the five cross-validation folds.

    Args:
        root: folder holding ``audio/`` and ``meta/esc50.csv``; default: the ``ESC50_ROOT`` env variable.
        fold: test fold, 1-5; the other four folds train.
        batch_size: clips per batch (paper: 96).
        num_workers: decoding worker processes per dataloader.
        slot_seconds: length of one audio clip (same as pretraining).
        sample_rate: audio is resampled to this rate (mono); also the grid of random start times.
        test_clips: evenly spaced clips per test file (file-level accuracy averages over them).
        val_clips: evenly spaced clips per file in validation.
        seed: seed of the shuffle and of the random training clip of each (epoch, file); ESC-50 is reported
            over fine-tuning seeds 0, 1, 2.
        persistent_workers: keep workers alive between epochs.
        pin_memory: pin batches in page-locked memory; default: when CUDA is available.
        multiprocessing_context: worker start method; default ``fork`` where the platform has it
            (``forkserver`` under DDP).
    """

    dataset_name = DATASET
    env_var = "ESC50_ROOT"
    expected_layout = f"{AUDIO_DIR}/ and {META_CSV}"
    modality = "audio"

    def __init__(
        self,
        root: str | None = None,
        fold: int = 1,
        batch_size: int = 96,
        num_workers: int = 8,
        slot_seconds: float = 2.0,
        sample_rate: int = 16000,
        test_clips: int = 10,
        val_clips: int = 10,
        seed: int = 0,
        persistent_workers: bool = False,
        pin_memory: bool | None = None,
        multiprocessing_context: str | None = None,
    ) -> None:
        if fold not in FOLDS:
            raise ValueError(f"ESC50DataModule: fold must be 1, 2, 3, 4 or 5, got {fold}")
        super().__init__(
            root=root,
            partition=fold,
            batch_size=batch_size,
            num_workers=num_workers,
            slot_seconds=slot_seconds,
            # No video is read: one frame per clip keeps the spec valid for any slot length.
            num_frames=1,
            frame_rate=float(sample_rate),
            sample_rate=sample_rate,
            short_side=128,
            test_clips=test_clips,
            val_clips=val_clips,
            seed=seed,
            persistent_workers=persistent_workers,
            pin_memory=pin_memory,
            multiprocessing_context=multiprocessing_context,
        )
        self.fold = fold
        self.save_hyperparameters()

    def parse(self, root: Path) -> SplitSamples:
        return parse_esc50(root, self.fold)
