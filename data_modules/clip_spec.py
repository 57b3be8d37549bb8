"""What reading clips takes and gives: the clip spec, the error, the work counters, the decoded arrays.

Kept apart from the readers so that the video and audio halves (``data_modules.video_reading``,
``data_modules.audio_reading``) and ``data_modules.decoding``, which drives both, share these types without
importing each other. ``data_modules.decoding`` re-exports them: that is where callers import them from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

import av
import numpy as np

from data_modules.exact_time import exact_fraction, exact_seconds


@dataclass(frozen=True)
class ClipSpec:
    """What one window yields: the whole slot of audio and ``num_frames`` video frames centred in it."""

    slot_seconds: Fraction = Fraction(2)
    num_frames: int = 8
    frame_rate: Fraction = Fraction(16)
    sample_rate: int = 16000
    short_side: int = 128

    def __post_init__(self) -> None:
        slot = exact_seconds(self.slot_seconds, "slot_seconds")
        rate = exact_fraction(self.frame_rate, "frame_rate", "frames per second")
        object.__setattr__(self, "slot_seconds", slot)
        object.__setattr__(self, "frame_rate", rate)
        for name in ("num_frames", "sample_rate", "short_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"ClipSpec.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if slot <= 0:
            raise ValueError(f"ClipSpec.slot_seconds must be > 0, got {slot}")
        if rate <= 0:
            raise ValueError(f"ClipSpec.frame_rate must be > 0, got {rate}")
        if self.short_side % 2:
            raise ValueError(
                f"ClipSpec.short_side must be even (video frames have even sizes), got {self.short_side}"
            )
        if self.clip_seconds > slot:
            raise ValueError(
                f"ClipSpec: {self.num_frames} frames at {rate} fps last {float(self.clip_seconds):g} s, longer than "
                f"the {float(slot):g} s slot; lower num_frames, raise frame_rate or lengthen slot_seconds"
            )
        if (slot * self.sample_rate).denominator != 1:
            raise ValueError(
                f"ClipSpec: a {slot} s slot at {self.sample_rate} Hz is {float(slot * self.sample_rate):g} samples, "
                "not a whole number; choose slot_seconds and sample_rate whose product is an integer"
            )

    @property
    def clip_seconds(self) -> Fraction:
        return self.num_frames / self.frame_rate

    @property
    def audio_samples(self) -> int:
        return int(self.slot_seconds * self.sample_rate)

    def frame_offsets(self) -> list[Fraction]:
        """Target times of the video frames relative to the window start: the clip is centred in the slot."""
        lead = (self.slot_seconds - self.clip_seconds) / 2
        return [lead + Fraction(i) / self.frame_rate for i in range(self.num_frames)]


SPEC_FIELDS = ("slot_seconds", "num_frames", "frame_rate", "sample_rate", "short_side")


def spec_key(spec: ClipSpec) -> str:
    """The spec as one stable string (manifests and tags of clip-exact copies compare it): ``slot_seconds=2 ...``."""
    return " ".join(f"{name}={getattr(spec, name)}" for name in SPEC_FIELDS)


def spec_from_key(key: str) -> ClipSpec:
    """The spec ``spec_key`` wrote; ValueError naming the text when it is not one."""
    try:
        values = dict(item.split("=", 1) for item in key.split())
        return ClipSpec(
            slot_seconds=Fraction(values["slot_seconds"]),
            num_frames=int(values["num_frames"]),
            frame_rate=Fraction(values["frame_rate"]),
            sample_rate=int(values["sample_rate"]),
            short_side=int(values["short_side"]),
        )
    except (KeyError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{key!r} is not a clip spec ({type(exc).__name__}: {exc})") from exc


def spec_text(spec: ClipSpec) -> str:
    """The spec for people: ``8 frames at 16 fps + 2 s of 16000 Hz audio, short side 128``."""
    return (
        f"{spec.num_frames} frames at {spec.frame_rate} fps + {spec.slot_seconds} s of {spec.sample_rate} Hz "
        f"audio, short side {spec.short_side}"
    )


class ClipDecodeError(RuntimeError):
    """A window could not be read; the caller replaces it (another slot of the title) and counts it."""

    def __init__(self, path: str | os.PathLike, time: float, reason: str) -> None:
        self.path = str(path)
        self.time = float(time)
        self.reason = reason
        super().__init__(f"{self.path}: cannot read the clip at title time {self.time:.3f} s: {reason}")

    def __reduce__(self) -> tuple:
        # Survives pickling between DataLoader workers and the main process with its fields intact.
        return (type(self), (self.path, self.time, self.reason))


@dataclass
class DecodeStats:
    """Work done by one call, so benchmarks can report what was decoded and thrown away per returned frame."""

    seeks: int = 0
    video_packets: int = 0
    frames_decoded: int = 0
    frames_returned: int = 0
    audio_frames_decoded: int = 0
    packets_skipped: int = 0
    """Video and audio packets the decoder rejected and that no returned frame or sample needed."""


@dataclass
class Clips:
    """Decoded windows in the order requested; a modality that was not asked for is ``None``."""

    video: np.ndarray | None
    audio: np.ndarray | None
    stats: DecodeStats | None = field(default=None, compare=False)


class ReadContext(Protocol):
    """What the video and audio decoders need from the call that owns the container (``decoding._Reader``)."""

    container: av.container.InputContainer
    windows: list[Fraction]
    current: Fraction
    stats: DecodeStats
    spec: ClipSpec

    def fail(self, time: Fraction, reason: str) -> ClipDecodeError: ...
