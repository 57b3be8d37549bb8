"""Log-mel spectrogram as a module that runs on the device, batched, after the batch has been transferred.

Workers only decode (design §5); turning waveforms into log-mels on the GPU is far cheaper than doing it per
clip in a worker. The STFT and the log are computed in float32 even under bf16 autocast or after the owning
LightningModule was cast to bf16/fp16: bf16's 8-bit mantissa would quantise the power spectrum and the log of
its small values badly, and the cost of float32 here is negligible next to the encoders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torchaudio.transforms import MelSpectrogram

Normalization = Literal["utterance", "fixed", "none"]


class LogMel(nn.Module):
    """Waveform [B, samples] (or [B, 1, samples]) -> float32 log-mel [B, 1, n_mels, frames].

    Defaults: 25 ms Hann window, 10 ms hop, 512-point FFT at 16 kHz, 80 HTK mel bands over [f_min, f_max],
    ``log(power + eps)``; with centred frames a clip of S samples gives ``1 + S // hop_length`` frames
    (201 for 2 s at 16 kHz).

    ``normalize``: ``"none"`` (default) returns the raw log-mel, so loudness stays information and a random
    gain augmentation before this module still has an effect (the encoders' BatchNorm absorbs the scale);
    ``"utterance"`` standardises each spectrogram over all its bins, removing the large loudness differences
    between titles' sound mixes (and with them any gain augmentation); ``"fixed"`` applies
    ``(x - mean) / std`` with given corpus statistics.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int | None = None,
        win_length: int | None = None,
        hop_length: int | None = None,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
        normalize: Normalization = "none",
        mean: float = 0.0,
        std: float = 1.0,
    ) -> None:
        super().__init__()
        win_length = win_length if win_length is not None else round(0.025 * sample_rate)
        hop_length = hop_length if hop_length is not None else round(0.010 * sample_rate)
        n_fft = n_fft if n_fft is not None else 1 << (win_length - 1).bit_length()
        f_max = f_max if f_max is not None else sample_rate / 2
        if n_fft < win_length:
            raise ValueError(f"LogMel: n_fft={n_fft} must be >= win_length={win_length} samples")
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(
                f"LogMel: need 0 <= f_min < f_max <= sample_rate/2 = {sample_rate / 2}, got f_min={f_min}, "
                f"f_max={f_max}"
            )
        if normalize not in ("utterance", "fixed", "none"):
            raise ValueError(f"LogMel: normalize must be 'utterance', 'fixed' or 'none', got {normalize!r}")
        if normalize == "fixed" and std <= 0:
            raise ValueError(f"LogMel: normalize='fixed' needs std > 0, got std={std}")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.eps = eps
        self.normalize = normalize
        self.mean = mean
        self.std = std
        self.mel = MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            power=2.0,
            center=True,
            mel_scale="htk",
        )

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of ``num_samples`` samples (centred STFT)."""
        return 1 + num_samples // self.hop_length

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> LogMel:
        # Follow device moves but keep the window and filterbank in their original float32 when a precision
        # plugin casts the whole model to bf16/fp16 (see module docstring); restore from the originals, since
        # a round trip through bf16 would already have rounded them.
        originals = dict(self.mel.named_buffers())
        super()._apply(fn, recurse)
        for name, buf in list(self.mel.named_buffers()):
            original = originals[name]
            if original.is_floating_point() and buf.dtype != original.dtype:
                module_name, _, attr = name.rpartition(".")
                owner = self.mel.get_submodule(module_name) if module_name else self.mel
                setattr(owner, attr, original.to(device=buf.device))
        return self

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.ndim == 3 and wave.shape[1] == 1:
            wave = wave[:, 0]
        if wave.ndim != 2:
            raise ValueError(
                f"LogMel expects mono waveforms [B, samples] or [B, 1, samples], got {tuple(wave.shape)}"
            )
        if wave.shape[1] <= self.n_fft // 2:
            raise ValueError(
                f"LogMel: clips of {wave.shape[1]} samples are too short for n_fft={self.n_fft}; "
                f"need more than {self.n_fft // 2} samples"
            )
        with torch.autocast(device_type=wave.device.type, enabled=False):
            power = self.mel(wave.float())
            spec = torch.log(power + self.eps)
            if self.normalize == "utterance":
                mean = spec.mean(dim=(1, 2), keepdim=True)
                std = spec.std(dim=(1, 2), keepdim=True)
                spec = (spec - mean) / std.clamp_min(1e-5)
            elif self.normalize == "fixed":
                spec = (spec - self.mean) / self.std
        return spec.unsqueeze(1)
