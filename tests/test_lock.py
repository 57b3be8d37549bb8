"""requirements.lock is what `make install` installs: it must agree with pyproject.toml and pin everything exactly.

`make lock` regenerates it; this test fails when someone edits the dependencies of pyproject.toml and forgets to,
or when the lock loses a hash or an exact pin (the way a new upstream wheel once broke set-up).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
SELF = "tvssl (pyproject.toml)"
MATCHED_TRIPLE = ("torch", "torchvision", "torchaudio")


@dataclass
class Pin:
    name: str
    version: str
    marker: str
    hashes: int = 0
    via: set[str] = field(default_factory=set)


def read_lock(text: str) -> list[Pin]:
    """The pins of a uv/pip-tools requirements file with hashes and `# via` annotations."""
    pins: list[Pin] = []
    in_via = False
    for line in text.splitlines():
        stripped = line.strip()
        head = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$", line)
        if head:
            pins.append(Pin(canonicalize_name(head[1]), head[2], (head[3] or "").strip()))
            in_via = False
        elif stripped.startswith("--hash=sha256:"):
            pins[-1].hashes += 1
        elif stripped.startswith("# via"):
            rest = stripped[len("# via") :].strip()
            in_via = not rest
            if rest:
                pins[-1].via.add(rest)
        elif in_via and stripped.startswith("#"):
            pins[-1].via.add(stripped[1:].strip())
        elif stripped and not stripped.startswith("#"):
            raise AssertionError(f"requirements.lock: unexpected line {line!r}")
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(r) for r in [*project["dependencies"], *extras.get("dev", [])]]


def test_every_pin_is_exact_and_hashed() -> None:
    pins = read_lock(LOCK.read_text())
    assert len(pins) > 50
    unhashed = [p.name for p in pins if p.hashes == 0]
    assert not unhashed, f"pins without hashes: {unhashed}"
    for pin in pins:
        Version(pin.version)  # an exact release, never a range


def test_lock_agrees_with_pyproject() -> None:
    pins = read_lock(LOCK.read_text())
    direct = {p.name for p in pins if SELF in p.via}
    wanted = {canonicalize_name(r.name) for r in declared()}
    assert direct == wanted, (
        f"run `make lock`: only in pyproject {wanted - direct}, only in lock {direct - wanted}"
    )
    for req in declared():
        versions = [p.version for p in pins if p.name == canonicalize_name(req.name)]
        bad = [v for v in versions if not req.specifier.contains(v, prereleases=True)]
        assert versions and not bad, f"run `make lock`: {req} is locked at {bad or 'nothing'}"


def test_the_torch_triple_is_pinned_exactly_in_both() -> None:
    pins = {p.name: p.version for p in read_lock(LOCK.read_text())}
    for req in declared():
        if req.name in MATCHED_TRIPLE:
            (spec,) = req.specifier
            assert spec.operator == "==" and "*" not in spec.version, f"{req} must be an exact pin"
            assert pins[req.name] == spec.version


def test_install_takes_the_lock_and_nothing_else() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    assert re.search(r"^\$\(STAMP\): requirements\.lock", makefile, re.M)


def test_the_uv_that_installs_the_lock_is_the_locks_own_pin() -> None:
    """The install rule cuts uv's entry out of the lock with awk: it must be exactly that entry, every hash."""
    makefile = (REPO / "Makefile").read_text()
    (line,) = [ln.strip() for ln in makefile.splitlines() if ln.strip().startswith("awk ") and "^uv==" in ln]
    argv = shlex.split(line.split(">")[0].replace("$$", "$"))
    assert argv[-1] == "requirements.lock"
    cut = subprocess.run([*argv[:-1], str(LOCK)], capture_output=True, text=True, check=True).stdout
    (uv,) = read_lock(cut)
    (locked,) = [p for p in read_lock(LOCK.read_text()) if p.name == "uv"]
    assert (uv.name, uv.version, uv.marker, uv.hashes) == ("uv", locked.version, locked.marker, locked.hashes)
    assert uv.hashes > 0
    install = "uv pip install --quiet --compile-bytecode --python $(PY) --require-hashes --no-deps -r requirements.lock"
    assert install in makefile


def test_the_parser_sees_a_missing_hash_and_a_foreign_direct_dependency() -> None:
    text = "foo==1.0 \\\n    --hash=sha256:00\n    # via tvssl (pyproject.toml)\nbar==2.0 \\\n    # via\n    #   foo\n"
    foo, bar = read_lock(text)
    assert (foo.name, foo.hashes, foo.via) == ("foo", 1, {SELF})
    assert (bar.hashes, bar.via) == (0, {"foo"})
