"""Shared generated corpora: built once per test session, small enough for a 2-core CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_modules.synthetic import synthesize_corpus, synthesize_downstream

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")


@pytest.fixture(autouse=True)
def _no_inherited_run_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts outside a run: a run directory set by an earlier test (or the shell) never leaks in."""
    from tvssl.run_dirs import RUN_DIR_ENV

    monkeypatch.delenv(RUN_DIR_ENV, raising=False)


@pytest.fixture(scope="session")
def movie_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 40-second synthetic movies at 64x48 (80 slots of 0.5 s each: enough for k = 64)."""
    root = tmp_path_factory.mktemp("movies")
    synthesize_corpus(root, kind="movie", titles=6, minutes=40 / 60, width=64, height=48, seed=3)
    return root


@pytest.fixture(scope="session")
def tv_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three shows of two 20-second episodes each."""
    root = tmp_path_factory.mktemp("tv")
    synthesize_corpus(
        root, kind="tv", titles=3, minutes=20 / 60, episodes_per_show=2, width=64, height=48, seed=4
    )
    return root


@pytest.fixture(scope="session")
def downstream_sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny UCF101, HMDB51 and ESC-50 trees in their official layouts."""
    root = tmp_path_factory.mktemp("downstream")
    synthesize_downstream(root, seed=5)
    return root
