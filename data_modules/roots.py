"""Where a datamodule's data lives: one rule for every datamodule, and one error that says how to fix it.

The root comes from the datamodule's ``root`` argument (``data.init_args.root`` in a YAML config), else from
its environment variable, so that one config serves every machine; a datamodule may add a last fallback (the
long-form ones take the folder of an explicit manifest). Both ways of getting it wrong, nothing set or not a
folder, raise ``RootError`` naming the setting and the variable, since either one fixes it.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_SETTING = "data.init_args.root"
"""The config key of every datamodule's root, as the user writes it in a YAML config or on the command line."""


class RootError(ValueError, FileNotFoundError):
    """The data root is not set, or is not an existing folder.

    A ``ValueError`` like every other bad setting of a datamodule; also a ``FileNotFoundError``, which the
    downstream datamodules raised for a missing root before the long-form and downstream rules became one.
    """


def resolve_root(
    value: str | os.PathLike[str] | None,
    env_var: str,
    what: str,
    fallback: str | os.PathLike[str] | None = None,
    *,
    fallback_source: str = "the fallback",
    holding: str = "the data",
) -> Path:
    """The data root: ``value``, else the environment variable ``env_var``, else ``fallback``.

    An empty string counts as unset (an empty variable, or ``root: ""`` in a config). ``what`` names the
    datamodule in the error, ``fallback_source`` says where ``fallback`` came from, and ``holding`` what the
    folder should hold. ``env_var`` may be empty for a datamodule without a variable of its own.
    """
    fix = f"set `{ROOT_SETTING}` in the config (root=... in Python)"
    if env_var:
        fix += f" or the environment variable {env_var}"
    fix += f" to the folder holding {holding}"
    chosen, source = value, "the root argument"
    if chosen is None or str(chosen) == "":
        chosen, source = (os.environ.get(env_var) if env_var else None), f"the {env_var} environment variable"
    if chosen is None or str(chosen) == "":
        chosen, source = fallback, fallback_source
    if chosen is None or str(chosen) == "":
        raise RootError(f"{what}: no data root is set: {fix}.")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise RootError(f"{what}: data root {str(path)!r} (from {source}) is not an existing folder: {fix}.")
    return path
