"""HMDB51 in its official layout: ``<root>/<class>/<name>.avi`` plus ``testTrainMulti_7030_splits/``.

Each class has one file per split, ``<class>_test_split{1,2,3}.txt``, with lines ``<name>.avi <tag>``:
tag 1 = train, 2 = test, 0 = not used in that split. The classes are the sorted class names of the split files,
so label ids are stable whatever order the folders are listed in.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_modules.downstream import VideoSplitDataModule
from data_modules.splits import LayoutError, Sample, SplitSamples, read_lines

DATASET = "HMDB51"
SPLIT_DIR = "testTrainMulti_7030_splits"
# One split file per class and split: ``<class>`` + ``SPLIT_SUFFIX.format(split=s)`` for s in SPLITS.
SPLIT_SUFFIX = "_test_split{split}.txt"
SPLITS = (1, 2, 3)
TAGS = {"0": None, "1": "train", "2": "test"}
HINT = (
    "Expected the official HMDB51 layout: <root>/<class>/<name>.avi and "
    f"<root>/{SPLIT_DIR}/<class>_test_split{{1,2,3}}.txt with lines '<name>.avi <0|1|2>'."
)


def parse_hmdb51(root: str | os.PathLike, split: int) -> SplitSamples:
    """Train (tag 1) and test (tag 2) samples of official split ``split`` (1-3); tag 0 is skipped."""
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"HMDB51 split must be 1, 2 or 3, got {split}")
    split_dir = root / SPLIT_DIR
    if not split_dir.is_dir():
        raise LayoutError(DATASET, root, [f"missing {split_dir}"], HINT)
    suffix = SPLIT_SUFFIX.format(split=split)
    split_files = {p.name[: -len(suffix)]: p for p in split_dir.iterdir() if p.name.endswith(suffix)}
    split_files.pop("", None)
    if not split_files:
        raise LayoutError(DATASET, root, [f"no split files {split_dir}/<class>{suffix}"], HINT)
    classes = sorted(split_files)
    problems: list[str] = []
    chosen: dict[str, list[Sample]] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        split_file = split_files[name]
        folder = root / name
        if not folder.is_dir():
            problems.append(f"{split_file}: class folder {folder} is missing")
            continue
        present = set(os.listdir(folder))
        seen: dict[str, int] = {}
        for number, text in read_lines(split_file):
            where = f"{split_file}:{number}"
            fields = text.split()
            if len(fields) != 2:
                problems.append(f"{where}: expected '<name>.avi <0|1|2>', got {text!r}")
                continue
            video, tag = fields
            if tag not in TAGS:
                problems.append(f"{where}: tag {tag!r} is not 0 (unused), 1 (train) or 2 (test)")
                continue
            if video in seen:
                problems.append(f"{where}: {video} repeats line {seen[video]}")
                continue
            seen[video] = number
            if video not in present:
                problems.append(f"{where}: no file {folder / video}")
                continue
            part = TAGS[tag]
            if part is not None:
                chosen[part].append(Sample(folder / video, label, f"{name}/{Path(video).stem}"))
    for part, samples in chosen.items():
        if not problems and not samples:
            problems.append(
                f"{split_dir}: no {part} videos (tag {'1' if part == 'train' else '2'}) in split {split}"
            )
    if problems:
        raise LayoutError(DATASET, root, problems, HINT)
    return SplitSamples(train=chosen["train"], test=chosen["test"], classes=classes)


class HMDB51DataModule(VideoSplitDataModule):
    """HMDB51 action recognition (video encoder), one of the three official splits.

    Constructor arguments: see ``VideoSplitDataModule``; ``root`` is the folder holding the class folders and
    ``testTrainMulti_7030_splits/`` (default: the ``HMDB51_ROOT`` environment variable).
    """

    dataset_name = DATASET
    env_var = "HMDB51_ROOT"
    expected_layout = f"<class>/ folders and {SPLIT_DIR}/"
    modality = "video"

    def parse(self, root: Path) -> SplitSamples:
        return parse_hmdb51(root, self.split)
