"""Encoders f (video) and g (audio), projection heads, the on-device log-mel front end; no Lightning here."""

from __future__ import annotations

from tvssl.models.audio import AudioArch, AudioEncoder
from tvssl.models.heads import ProjectionHead
from tvssl.models.logmel import LogMel
from tvssl.models.normalization import Norm
from tvssl.models.video import VideoArch, VideoEncoder

__all__ = ["AudioArch", "AudioEncoder", "LogMel", "Norm", "ProjectionHead", "VideoArch", "VideoEncoder"]
