"""The step bench: clips/s of one device's training step, so the loader can be sized against it.

The question is whether the accelerator will wait for the decoder. The model and the batch shapes come from
the training command line's own parser (``tvssl.lightning_cli.unrun``: config bases, overrides, checks), so
the network timed is the one ``tvssl fit`` builds; the batch is synthetic (uint8 frames, float waveforms, k
clips per title), so no corpus is read and the figure is the step alone. A step is what Lightning runs per
batch: the host-to-device copy, ``on_after_batch_transfer`` (crops, jitter, log-mel on the device), forward
and loss under the config's autocast, backward and the optimizer step. Logging is left out: it is not compute.
Dividing the step's clips/s by a loader's clips/s per worker gives the workers (cores) one device needs.
"""

from __future__ import annotations

import math
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from tvssl.bench import config_layers, echo, load_average
from tvssl.lightning_cli import unrun

DEFAULT_STEPS = 10
DEFAULT_WARMUP = 3
RATE_SOURCES = {
    "loader": "with the configured loader",
    "source": "reading the source corpus",
    "prepared": "reading the prepared corpus",
}
"""What each per-worker rate of ``tvssl bench step`` stands for, as the worker lines say it."""


@dataclass(frozen=True)
class StepShapes:
    """The per-device batch the configured datamodule would deliver, and how many devices share the global one."""

    batch: int
    devices: int
    k: int
    num_frames: int
    height: int
    width: int
    audio_samples: int

    @property
    def video(self) -> tuple[int, int, int, int, int]:
        return (self.batch, self.num_frames, self.height, self.width, 3)


@dataclass
class StepResult:
    """Timed steps of one device; clips/s is the median step's."""

    shapes: StepShapes
    device: str
    precision: str
    seconds: list[float] = field(default_factory=list)
    peak_bytes: int = 0
    """torch.cuda.max_memory_allocated on CUDA; the process's peak resident set on CPU (lifetime, not per step)."""
    losses: list[float] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def clips_per_s(self) -> float:
        return self.shapes.batch / self.median_seconds

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / 2**30


def even_width(height: int, aspect: float = 16 / 9) -> int:
    """Width of a ``height``-high frame of ``aspect``, rounded to an even number as video frames are."""
    return max(2, 2 * round(height * aspect / 2))


def workers_needed(step_clips_per_s: float, worker_clips_per_s: float) -> int:
    """Loader workers that keep up with the step: its clips/s over one worker's, rounded up (at least 1)."""
    if worker_clips_per_s <= 0 or not math.isfinite(worker_clips_per_s):
        raise ValueError(f"a worker's clips/s must be positive, got {worker_clips_per_s}")
    # A hair of tolerance so that 1000 / 10 is 100 workers, not 101 by a float's last bit.
    return max(1, math.ceil(step_clips_per_s / worker_clips_per_s - 1e-9))


def worker_lines(step_clips_per_s: float, rates: dict[str, float]) -> list[str]:
    """One line per given per-worker rate (keys of ``RATE_SOURCES``): how many workers one device needs."""
    lines = []
    for source, rate in rates.items():
        n = workers_needed(step_clips_per_s, rate)
        lines.append(
            f"needs ~{n} workers per device {RATE_SOURCES[source]} at {rate:g} clips/s per worker "
            f"(step: {step_clips_per_s:.1f} clips/s)"
        )
    return lines


def _device_count(trainer: pl.Trainer) -> int:
    """Devices sharing the global batch, as fit would split it: devices per node times nodes."""
    return max(1, int(trainer.num_devices)) * max(1, int(getattr(trainer, "num_nodes", 1) or 1))


def _shapes(datamodule: pl.LightningDataModule, devices: int) -> StepShapes:
    spec = datamodule.spec  # type: ignore[attr-defined]
    batch = int(datamodule.batch_size)  # type: ignore[attr-defined]
    if batch % devices:
        raise ValueError(f"batch_size {batch} does not split over {devices} devices")
    height = int(spec.short_side)
    return StepShapes(
        batch=batch // devices,
        devices=devices,
        k=int(getattr(datamodule, "k", 1) or 1),
        num_frames=int(spec.num_frames),
        height=height,
        width=even_width(height),
        audio_samples=int(spec.audio_samples),
    )


def synthetic_batch(shapes: StepShapes, seed: int = 0, pin: bool = False) -> dict[str, torch.Tensor]:
    """A host batch with the loader's keys, dtypes and shapes: k consecutive clips per title."""
    g = torch.Generator().manual_seed(seed)
    b = shapes.batch
    batch = {
        "video": torch.randint(0, 256, shapes.video, dtype=torch.uint8, generator=g),
        "audio": torch.rand(b, shapes.audio_samples, generator=g) * 2 - 1,
        "title": torch.arange(b, dtype=torch.long) // shapes.k,
        "slot": torch.randint(0, 10_000, (b,), generator=g),
        "file": torch.zeros(b, dtype=torch.long),
        "substituted": torch.zeros(b, dtype=torch.bool),
        "skip": torch.zeros(b, dtype=torch.bool),
    }
    return {key: value.pin_memory() for key, value in batch.items()} if pin else batch


def _autocast(device: torch.device, precision: str) -> AbstractContextManager[Any]:
    """The autocast Lightning's precision plugin puts around the training step; 32-bit on CPU."""
    if device.type == "cuda" and precision.startswith("bf16"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cuda" and precision.startswith("16"):
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()


def _peak_rss_bytes() -> int:
    """ru_maxrss is KiB on Linux and bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def time_step(
    model: pl.LightningModule,
    shapes: StepShapes,
    *,
    device: torch.device,
    precision: str,
    steps: int = DEFAULT_STEPS,
    warmup: int = DEFAULT_WARMUP,
    channels_last_3d: bool = False,
    compile: bool = False,
) -> StepResult:
    """Time ``warmup + steps`` training steps of ``model`` on ``device``; only the last ``steps`` count.

    The optimizer is Adam with the module's peak learning rate and weight decay (the schedule only scales the
    rate, which costs nothing). The same host batch is sent every step: decoding is the loader's bench.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps}, {warmup}")
    cuda = device.type == "cuda"
    model = model.to(device).train()
    if channels_last_3d:
        # Only the video encoder has 5-D weights; the audio encoder's 4-D ones cannot take this format.
        model.video_encoder.to(memory_format=torch.channels_last_3d)  # type: ignore[union-attr]
    embed: Callable[..., Any] = torch.compile(model.embed) if compile else model.embed  # type: ignore[union-attr]
    hp = model.hparams
    optimizer = torch.optim.Adam(
        model.parameters(), lr=float(hp.get("lr_peak", 1e-3)), weight_decay=float(hp.get("weight_decay", 0.0))
    )
    host = synthetic_batch(shapes, pin=cuda)
    result = StepResult(shapes, str(device), precision if cuda else "32-true")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        batch = {key: value.to(device, non_blocking=True) for key, value in host.items()}
        batch = model.on_after_batch_transfer(batch, 0)
        video = batch["video"]
        if channels_last_3d:
            video = video.contiguous(memory_format=torch.channels_last_3d)
        with _autocast(device, precision):
            v, a = embed(video, batch["audio"])
            loss = model.loss(v, a, batch["title"])["loss"]  # type: ignore[operator]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        if i >= warmup:
            result.seconds.append(elapsed)
            result.losses.append(float(loss.detach()))
    result.peak_bytes = int(torch.cuda.max_memory_allocated(device)) if cuda else _peak_rss_bytes()
    return result


def step_setup(args: Sequence[str], device: str) -> tuple[pl.LightningModule, StepShapes, str]:
    """Model, per-device shapes and precision from training arguments, parsed as ``tvssl fit`` does.

    The trainer's accelerator follows ``device`` (it decides how many devices ``auto`` means); on CPU the
    precision is 32-true, as a CPU run of ``fit`` must be told.
    """
    accelerator = "gpu" if device == "cuda" else "cpu"
    extra = [f"--trainer.accelerator={accelerator}"]
    if device != "cuda":
        extra.append("--trainer.precision=32-true")
    cli = unrun([*args, *extra])
    config = cli.config.as_dict()
    precision = str((config.get("trainer") or {}).get("precision") or "32-true")
    return cli.model, _shapes(cli.datamodule, _device_count(cli.trainer)), precision


def run_step_bench(
    config: Path | Sequence[Path],
    overrides: Sequence[str],
    *,
    device: str = "cpu",
    steps: int = DEFAULT_STEPS,
    warmup: int = DEFAULT_WARMUP,
    channels_last_3d: bool = False,
    compile: bool = False,
    rates: dict[str, float] | None = None,
    say: Callable[[str], None] = echo,
) -> StepResult:
    """``tvssl bench step``: the configuration, the median step's clips/s and peak memory, then worker lines.

    ``config`` is one YAML or several layered in order (``--config A --config B`` of ``tvssl fit``);
    ``rates`` maps ``RATE_SOURCES`` keys to one loader worker's clips/s (from ``tvssl bench loader``).
    """
    config_args, configs = config_layers(config)
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA device on this machine")
    model, shapes, precision = step_setup([*config_args, *overrides], device)
    hp = model.hparams
    say(
        f"tvssl bench step: {configs} -> {type(model).__name__} video={hp.get('video_arch')} "
        f"audio={hp.get('audio_arch')} crop={hp.get('crop_size')}; per-device batch {shapes.batch} "
        f"(global {shapes.batch * shapes.devices} over {shapes.devices} device(s), k={shapes.k}), video "
        f"{list(shapes.video)} uint8, audio [{shapes.batch}, {shapes.audio_samples}]; device {device}, "
        f"precision {precision if device == 'cuda' else '32-true'}"
        f"{', channels_last_3d' if channels_last_3d else ''}{', compiled' if compile else ''}; "
        f"{warmup} warm-up + {steps} timed steps"
    )
    say(f"before: {load_average()}")
    result = time_step(
        model,
        shapes,
        device=torch.device(device),
        precision=precision,
        steps=steps,
        warmup=warmup,
        channels_last_3d=channels_last_3d,
        compile=compile,
    )
    say(f"after: {load_average()}")
    memory = "max_memory_allocated" if device == "cuda" else "peak RSS of the process"
    say(
        f"step: {result.clips_per_s:.1f} clips/s per device (median step {result.median_seconds * 1000:.1f} ms "
        f"of {shapes.batch} clips; steps {min(result.seconds) * 1000:.1f}-{max(result.seconds) * 1000:.1f} ms), "
        f"peak memory {result.peak_gib:.2f} GiB ({memory})"
    )
    for line in worker_lines(result.clips_per_s, rates or {}):
        say(line)
    return result
