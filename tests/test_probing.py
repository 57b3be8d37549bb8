"""Examining files in parallel: verification decodes clips as training reads them; workers die with their parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from data_modules.decoding import ClipSpec, read_clips
from data_modules.index import build_index, read_manifest
from tests.media_fixtures import write_media
from tvssl.commands.index import main

REPO = Path(__file__).resolve().parents[1]


def _damaged_copies(root: Path) -> None:
    """Good titles, copies with garbage over their middle, and a copy cut short."""
    for suffix in (".mkv", ".mp4"):
        good = write_media(root / f"good{suffix}", seconds=8, width=64, height=48)
        data = good.read_bytes()
        middle = slice(len(data) * 3 // 10, len(data) * 7 // 10)
        garbled = bytearray(data)
        noise = np.random.default_rng(1).integers(0, 256, middle.stop - middle.start, dtype=np.uint8)
        garbled[middle] = noise.tobytes()
        (root / f"garbled{suffix}").write_bytes(bytes(garbled))
    whole = (root / "good.mkv").read_bytes()
    (root / "truncated.mkv").write_bytes(whole[: len(whole) * 6 // 10])


def test_verify_excludes_titles_whose_clips_do_not_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "c", tmp_path / "m.csv"
    _damaged_copies(root)
    headers = {r.path: r for r in build_index(root, out, workers=1, progress=False, print_summary=False)}
    assert headers["garbled.mkv"].ok and headers["garbled.mp4"].ok, "probing alone cannot see the damage"
    assert main([str(root), "--out", str(out), "--workers", "2", "--verify", "4", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    rows = {r.path: r for r in read_manifest(out)}
    assert rows["good.mkv"].ok and rows["good.mp4"].ok and rows["good.mkv"].num_slots == 4
    for name in ("garbled.mkv", "garbled.mp4"):
        assert rows[name].status == "excluded" and rows[name].num_slots == 0
        assert rows[name].reason.startswith("verify failed: at "), rows[name].reason
        assert rows[name].duration > 0 and rows[name].video_codec == "h264", "the probe facts are kept"
    cut = rows["truncated.mkv"]
    if cut.ok:  # the probe found where its content really ends: then every slot it serves decodes
        assert cut.num_slots < 4
        read_clips(root / cut.path, range(cut.num_slots), ClipSpec())
    else:
        assert cut.reason, "a truncated copy that cannot serve says why"
    verified = sum(r.ok or r.reason_label == "verify failed" for r in rows.values())
    assert f"verified {verified} title(s)" in printed
    assert "2 verify failed" in printed
    again = build_index(root, out, workers=1, progress=False, print_summary=False)
    assert again.probed == 0 and again == list(rows.values()), "an unchanged file keeps its verdict"


def test_verify_reads_the_same_slots_every_time() -> None:
    from data_modules.probing import verify_slots

    chosen = verify_slots("Show/S01E02.mkv", 1000, 5)
    assert chosen == verify_slots("Show/S01E02.mkv", 1000, 5)
    assert len(set(chosen)) == 5 and chosen == sorted(chosen) and all(0 <= s < 1000 for s in chosen)
    assert verify_slots("short.mp4", 3, 8) == [0, 1, 2]


_SLOW_PROBE = """
import sys, time
import data_modules.media as media
real = media.probe
media.probe = lambda path: (time.sleep(0.5), real(path))[1]
from tvssl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


@pytest.mark.ddp
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_index_leaves_no_probing_process(tmp_path: Path) -> None:
    corpus = tmp_path / "many"
    title = write_media(corpus / "t00.mp4", seconds=4.5, width=64, height=48)
    for i in range(1, 48):
        os.link(title, corpus / f"t{i:02d}.mp4")
    command = [sys.executable, "-c", _SLOW_PROBE, "index", str(corpus), "--out", str(tmp_path / "m.csv")]
    proc = subprocess.Popen(
        [*command, "--workers", "3", "--no-progress"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_group_members(proc.pid)) < 4:  # the command and its three workers, probing
            assert proc.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        time.sleep(0.3)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        while _group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_members(proc.pid) == [], "probing processes outlived the killed command"
    finally:
        for pid in _group_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
