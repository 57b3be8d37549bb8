"""Experiment YAMLs that build on shared base files.

A row file names its bases with a top-level ``__base__`` key (a path or a list, relative to the file).
Before LightningCLI parses the command line, every ``--config FILE`` is expanded into the chain of its
bases followed by the file's own settings, so shared settings are written once and
``tvssl fit --config experiments/movie_k16_Mn.yaml`` is the whole command.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

BASE_KEY = "__base__"


def config_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """(file, settings without the base key) for a config and its bases, bases first."""
    path = path.resolve()
    if path in seen:
        cycle = " -> ".join(str(p) for p in (*seen, path))
        raise ValueError(f"config bases form a cycle: {cycle}")
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    settings = yaml.safe_load(path.read_text()) or {}
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: a config must be a YAML mapping, found {type(settings).__name__}")
    bases = settings.pop(BASE_KEY, [])
    chain: list[tuple[Path, dict[str, Any]]] = []
    for base in [bases] if isinstance(bases, str) else bases:
        chain += config_chain(path.parent / base, (*seen, path))
    return [*chain, (path, settings)]


def expand_config_args(argv: Sequence[str]) -> list[str]:
    """Replace each ``--config FILE`` that has bases by one ``--config`` per file of its chain.

    The files' settings are passed as YAML text (jsonargparse accepts either), with the base key removed.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg == "--config" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        elif arg.startswith("--config="):
            value, i = arg.split("=", 1)[1], i + 1
        else:
            out.append(arg)
            i += 1
            continue
        path = Path(value)
        if "\n" in value or not path.is_file():  # inline YAML, e.g. a command re-run by a DDP launcher
            out += ["--config", value]
            continue
        chain = config_chain(path)
        if len(chain) == 1:
            out += ["--config", value]
            continue
        for _, settings in chain:
            out += ["--config", yaml.safe_dump(settings, sort_keys=False)]
    return out


def resolved_settings(path: Path) -> dict[str, Any]:
    """The settings of a config with its bases merged (nested mappings merged, other values replaced)."""
    merged: dict[str, Any] = {}
    for _, settings in config_chain(path):
        merged = _merge(merged, settings)
    return merged


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out
