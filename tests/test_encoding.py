"""The suite's H.264 writers give the same bytes for the same pixels, in every run.

A clip-exact copy and its sharded twin once differed by a byte in CI. The cause was libx264's macroblock tree,
which uses memory it never wrote (memcheck: four such uses inside libx264 while copying the 6-second title below),
so the bitstream depended on what the process had allocated before (3 of 30 runs of the sharding test). Whether
a run shows it depends on the heap, so comparing two encodes cannot prove it gone; memcheck can: each writer runs
once under it here, and any uninitialised value that libx264 uses fails the test (without ``mbtree=0`` the
clip-exact and the training copy fail).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media_fixtures import write_media

WRITERS = ("clip_exact", "training_copy", "synthetic")

_CHILD = """
import sys
from fractions import Fraction
from pathlib import Path
writer, src, dst = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if writer == "clip_exact":
    from data_modules.clip_copy_writer import write_clip_copy
    from data_modules.decoding import ClipSpec
    from data_modules.transcode import PrepareSettings
    spec = ClipSpec(slot_seconds=Fraction(1), num_frames=4, frame_rate=Fraction(8), sample_rate=16000, short_side=32)
    write_clip_copy(src, dst, PrepareSettings.clip_exact(spec))
elif writer == "training_copy":
    from data_modules.transcode import PrepareSettings, transcode_title
    transcode_title(src, dst, PrepareSettings(short_side=32))
else:
    from data_modules.synthetic.plans import plan_corpus
    from data_modules.synthetic.writer import write_title
    write_title(dst, plan_corpus("movie", titles=1, minutes=3 / 60, seed=0)[0], width=64, height=48)
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source whose clip-exact copy differed in CI: variable frame rate, video starting late, 44.1 kHz."""
    path = tmp_path_factory.mktemp("encoding") / "late.mkv"
    return write_media(path, fps=23.976, vfr=True, sample_rate=44100, video_start=0.3, seconds=6)


def _x264_uninitialised_uses(report: str) -> list[str]:
    """memcheck's error blocks (lines ``==pid== ...``, a bare ``==pid==`` between them) that name uninitialised
    memory and pass through libx264."""
    blocks, block = [], []
    for line in [*report.splitlines(), "==0== "]:
        text = line.split("== ", 1)[1] if line.startswith("==") and "== " in line else line
        if text.strip():
            block.append(text)
        elif block:
            blocks.append("\n".join(block))
            block = []
    return [b for b in blocks if "uninitialised" in b and "libx264" in b]


@pytest.mark.slow
@pytest.mark.parametrize("writer", WRITERS)
def test_libx264_uses_no_memory_it_did_not_write(writer: str, source: Path, tmp_path: Path) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed: the check of libx264's reads cannot run here")
    dst = tmp_path / ("out.clips" if writer == "clip_exact" else "out.mp4")
    log = tmp_path / "memcheck.txt"
    command = [valgrind, "--tool=memcheck", f"--log-file={log}", "--num-callers=30"]
    command += [sys.executable, "-c", _CHILD, writer, str(source), str(dst)]
    done = subprocess.run(
        command, env={"PYTHONMALLOC": "malloc", "PATH": "/usr/bin:/bin"}, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert dst.stat().st_size > 0
    uses = _x264_uninitialised_uses(log.read_text())
    assert not uses, f"{len(uses)} uses of uninitialised memory in libx264; the first:\n{uses[0]}"


def test_the_training_copy_tells_libx264_to_leave_the_macroblock_tree_off(
    source: Path, tmp_path: Path
) -> None:
    """What the memcheck runs rely on, checked where valgrind is absent too: libx264 writes its options into the
    stream's first SEI."""
    from data_modules.transcode import PrepareSettings, transcode_title

    dst = tmp_path / "copy.mp4"
    transcode_title(source, dst, PrepareSettings(short_side=32))
    head = dst.read_bytes()
    assert b"x264 - core" in head
    assert b" mbtree=0 " in head
