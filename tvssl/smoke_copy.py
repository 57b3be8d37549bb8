"""``tvssl ablation prepare <section>``: the clip-exact copy of a smoke section's titles, which its rows then
train from (``make ablation PROFILE=smoke``, whose default is ``PREPARED=yes``; the demo).

Decoding the titles is all the loader workers do, and on 2 cores about half of a smoke pretraining's CPU time.
On the demo's corpus a k = 1 row took 268 CPU-s from the titles and 143 from their copy, with the same loss
curve up to run-to-run noise (mean of the last 10 %: 1.415 and 1.411), and the copy of its 68 titles took 51
CPU-s to make. It is also how a cluster feeds its GPUs (README, "Prepared copies"), so the smoke table and the
demo run that path end to end: synthesise, index, prepare, pretrain, probe, report.

The copy is made for the clips the section's k = 1 row reads, as its parsed config says (the rows of a section
differ in k and w only), so make repeats none of those settings; a row whose clips differ is refused by its
loader, which names both clip specs. Like every sweep step, the work is the command a user would run, `tvssl
prepare ... --clip-exact`, in a child process.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path

from data_modules.clip_spec import ClipSpec
from tvssl.errors import UserError
from tvssl.rows import Row
from tvssl.step_process import CONSOLE_LOG, run_step, verbose
from tvssl.sweep import SECTION_ENV, Sweep, pretrain_args


def section_clips(sweep: Sweep, section: str) -> tuple[ClipSpec, Path]:
    """The clip spec the section's rows read and the titles' manifest, indexed first as the rows' fits would."""
    from tvssl.lightning_cli import instantiate  # torch and lightning: only in this step's own process

    args = pretrain_args(replace(sweep, prepared=False), Row(section, 1, None))
    _, data = instantiate(args + list(sweep.fit_args), quiet=True)
    data.prepare_data()
    return data.spec, data.manifest_path


def prepare_command(spec: ClipSpec, manifest: str, dst: str) -> list[str]:
    """`tvssl prepare` of the clip-exact copy for ``spec``."""
    return [
        sys.executable, "-m", "tvssl.cli", "prepare", manifest, dst, "--clip-exact",
        "--short-side", str(spec.short_side),
        "--keyframe-every", str(spec.slot_seconds),
        "--num-frames", str(spec.num_frames),
        "--frame-rate", str(spec.frame_rate),
        "--audio-rate", str(spec.sample_rate),
    ]  # fmt: skip


def prepare_section(sweep: Sweep, section: str) -> int:
    """Make (or finish: `tvssl prepare` resumes) the clip-exact copy of ``section``'s smoke titles."""
    if sweep.profile != "smoke":
        raise UserError(
            "tvssl ablation prepare makes the smoke profile's copies; for your own corpus run `tvssl prepare "
            "SRC_MANIFEST DST --clip-exact` and point MOVIE_ROOT / TV_ROOT at DST"
        )
    sweep.data_root(SECTION_ENV[section], sweep.smoke_titles(section, copy=False), "tvssl ablation prepare")
    log = sweep.smoke_data / f"prepare_{section}.{CONSOLE_LOG}"
    # Indexing the titles says what it found on stderr; under the sweep that belongs in the step's log.
    with log.open("a") as out, contextlib.redirect_stderr(sys.stderr if verbose() else out):
        spec, manifest = section_clips(sweep, section)
    dst = sweep.smoke_titles(section, copy=True)
    command = prepare_command(spec, str(manifest), str(dst))
    return run_step(f"prepare {section} (clip-exact copy)", command, log)
