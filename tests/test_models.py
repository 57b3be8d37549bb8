"""Encoders, heads and log-mel: shapes, definitions, numerics of the front end, gradient flow."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.models import resnet18
from torchvision.models.video import r2plus1d_18

from tvssl.losses import CrossModalInfoNCE
from tvssl.models import AudioEncoder, LogMel, ProjectionHead, VideoEncoder
from tvssl.models.video import FrameDifference


def _num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_full_video_encoder_is_torchvision_r2plus1d_18_without_fc() -> None:
    encoder = VideoEncoder("r2plus1d_18")
    reference = r2plus1d_18(weights=None)
    assert encoder.out_dim == 512
    assert _num_params(encoder) == _num_params(reference) - _num_params(reference.fc)
    want = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    got = {k.removeprefix("trunk."): v.shape for k, v in encoder.state_dict().items()}
    assert got == want
    out = encoder(torch.randn(1, 3, 4, 32, 32))
    assert out.shape == (1, 512)


def test_full_audio_encoder_is_resnet18_with_one_input_channel() -> None:
    encoder = AudioEncoder("resnet18")
    reference = resnet18(weights=None)
    assert encoder.out_dim == 512
    conv1_saved = reference.conv1.weight.numel() * 2 // 3  # 3 -> 1 input channel
    assert _num_params(encoder) == _num_params(reference) - _num_params(reference.fc) - conv1_saved
    assert encoder.trunk.conv1.weight.shape == (64, 1, 7, 7)
    assert encoder(torch.randn(2, 1, 64, 101)).shape == (2, 512)


@pytest.mark.parametrize("frames", [8, 16])
def test_tiny_video_encoder_shapes(frames: int) -> None:
    encoder = VideoEncoder("tiny")
    assert encoder.out_dim == 64
    assert encoder(torch.randn(3, 3, frames, 112, 112)).shape == (3, 64)
    assert _num_params(encoder) < 100_000


def test_the_tiny_encoder_sees_each_frame_beside_its_change_from_the_previous_one() -> None:
    clip = torch.randn(2, 3, 8, 16, 16)
    out = FrameDifference(gain=4.0)(clip)
    assert out.shape == (2, 6, 7, 16, 16)
    assert torch.equal(out[:, :3], clip[:, :, 1:])
    assert torch.allclose(out[:, 3:], 4.0 * (clip[:, :, 1:] - clip[:, :, :-1]))
    still = clip[:, :, :1].expand(-1, -1, 8, -1, -1)
    assert FrameDifference()(still)[:, 3:].abs().max() == 0  # a still picture carries no motion channels


@pytest.mark.parametrize("frames", [201, 501])  # 2 s pretraining clip, 5 s ESC-50 clip
def test_tiny_audio_encoder_accepts_any_length(frames: int) -> None:
    encoder = AudioEncoder("tiny")
    assert encoder.out_dim == 64
    assert encoder(torch.randn(2, 1, 80, frames)).shape == (2, 64)


def test_encoders_reject_bad_arch_and_bad_layout() -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        VideoEncoder("r3d_50")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown arch"):
        AudioEncoder("vgg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        VideoEncoder("tiny")(torch.randn(2, 8, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[B, 1, n_mels, frames\]"):
        AudioEncoder("tiny")(torch.randn(2, 80, 201))


def test_projection_head_outputs_unit_norm_128_d() -> None:
    head = ProjectionHead(in_dim=64)
    out = head(torch.randn(5, 64) * 7)
    assert out.shape == (5, 128)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.kernel_size for c in convs] == [(1,), (1,)]
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules())
    with pytest.raises(ValueError, match="in_dim"):
        head(torch.randn(5, 32))


def test_gradients_flow_from_loss_through_heads_into_both_encoders() -> None:
    video_encoder, audio_encoder = VideoEncoder("tiny"), AudioEncoder("tiny")
    video_head, audio_head = ProjectionHead(video_encoder.out_dim), ProjectionHead(audio_encoder.out_dim)
    logmel = LogMel()
    clips, waves = torch.randn(4, 3, 8, 64, 64), torch.randn(4, 32000)
    loss = CrossModalInfoNCE()(video_head(video_encoder(clips)), audio_head(audio_encoder(logmel(waves))))
    loss["loss"].backward()
    for module in (video_encoder, audio_encoder, video_head, audio_head):
        for name, param in module.named_parameters():
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
        assert any(float(p.grad.abs().sum()) > 0 for p in module.parameters())


def test_logmel_shape_for_two_seconds_at_16k() -> None:
    logmel = LogMel()
    assert (logmel.win_length, logmel.hop_length, logmel.n_fft) == (400, 160, 512)
    spec = logmel(torch.randn(3, 32000))
    assert spec.shape == (3, 1, 80, 201) == (3, 1, 80, logmel.num_frames(32000))
    assert spec.dtype == torch.float32
    assert logmel(torch.randn(3, 1, 32000)).shape == (3, 1, 80, 201)
    assert LogMel(n_mels=64)(torch.randn(1, 16000)).shape == (1, 1, 64, 101)
    with pytest.raises(ValueError, match="mono waveforms"):
        logmel(torch.randn(2, 2, 32000))


def _mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _hz(mel: float) -> float:
    return 700.0 * (10 ** (mel / 2595.0) - 1.0)


@pytest.mark.parametrize("mel_bin", [10, 30, 50, 70])
def test_logmel_of_pure_tone_peaks_at_its_mel_bin(mel_bin: int) -> None:
    logmel = LogMel(normalize="none")
    step = _mel(8000.0) / (logmel.n_mels + 1)
    freq = _hz((mel_bin + 1) * step)  # centre of the triangle filter `mel_bin`
    t = torch.arange(32000) / 16000
    wave = 0.5 * torch.sin(2 * math.pi * freq * t)
    spec = logmel(wave[None])[0, 0]  # [n_mels, frames]
    assert int(spec[:, 5:-5].mean(dim=1).argmax()) == mel_bin


def test_logmel_normalisations() -> None:
    # Seeded: the checks below hold where the power dominates eps, and which bins those are depends on the draw.
    wave = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0)) * torch.tensor([[0.01], [1.0]])
    utterance = LogMel(normalize="utterance")(wave)
    torch.testing.assert_close(utterance.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(utterance.std(dim=(1, 2, 3)), torch.ones(2))
    # Per-utterance standardisation removes gain (while the power stays far above eps): 10x quieter, same.
    per_utterance = LogMel(normalize="utterance")
    torch.testing.assert_close(per_utterance(wave[1:] * 0.1), per_utterance(wave[1:]), atol=1e-3, rtol=0)
    raw = LogMel()(wave)
    # Without normalisation a 10x gain is a shift of log(100) wherever the power dominates eps.
    dominant = raw[1:] - math.log(100.0) > math.log(1e-6) + 8
    assert dominant.float().mean() > 0.9
    shifted = LogMel()(wave[1:] * 0.1)
    torch.testing.assert_close(shifted[dominant], (raw[1:] - math.log(100.0))[dominant], atol=1e-3, rtol=0)
    torch.testing.assert_close(LogMel(normalize="fixed", mean=-3.0, std=2.0)(wave), (raw + 3.0) / 2.0)
    silent = per_utterance(torch.zeros(1, 16000))
    assert torch.isfinite(silent).all()
    torch.testing.assert_close(LogMel()(torch.zeros(1, 16000)), torch.full_like(silent, math.log(1e-6)))
    with pytest.raises(ValueError, match="normalize"):
        LogMel(normalize="batch")  # type: ignore[arg-type]


def test_logmel_under_bf16_autocast_and_bf16_cast_stays_float32() -> None:
    wave = torch.randn(2, 32000)
    want = LogMel()(wave)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = LogMel()(wave)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)
    # A precision plugin casting the whole model to bf16 must not degrade the STFT's window and filterbank.
    cast = LogMel().to(torch.bfloat16)
    assert all(buf.dtype == torch.float32 for buf in cast.buffers())
    got_cast = cast(wave.bfloat16())
    assert got_cast.dtype == torch.float32
    torch.testing.assert_close(got_cast, LogMel()(wave.bfloat16().float()))
