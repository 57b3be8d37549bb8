"""Device-side clip augmentation: the evaluation crop is exact, training crops keep a clip's frames together."""

from __future__ import annotations

import torch

from tvssl.augment import VIDEO_MEAN, VIDEO_STD, AudioGain, VideoAugment


def normalised(clip_uint8: torch.Tensor) -> torch.Tensor:
    """[B, T, H, W, 3] uint8 -> [B, 3, T, H, W] normalised, the reference for the augmenter's output."""
    x = clip_uint8.permute(0, 4, 1, 2, 3).float() / 255
    mean = torch.tensor(VIDEO_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(VIDEO_STD).view(1, 3, 1, 1, 1)
    return (x - mean) / std


def test_evaluation_gives_the_centre_crop_unchanged() -> None:
    torch.manual_seed(0)
    video = torch.randint(0, 256, (2, 3, 128, 160, 3), dtype=torch.uint8)
    out = VideoAugment(size=112).eval()(video)
    expected = normalised(video[:, :, 8:120, 24:136])
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)


def test_training_crops_are_random_per_clip_but_shared_by_its_frames() -> None:
    torch.manual_seed(1)
    frame = torch.randint(0, 256, (4, 1, 96, 128, 3), dtype=torch.uint8)
    video = frame.expand(4, 6, 96, 128, 3).contiguous()
    out = VideoAugment(size=64).train()(video)
    assert out.shape == (4, 3, 6, 64, 64)
    torch.testing.assert_close(
        out[:, :, :1].expand_as(out), out
    )  # same crop, flip and colour for every frame
    assert not torch.allclose(out[0], out[1])
    lo = (0 - torch.tensor(VIDEO_MEAN).max()) / torch.tensor(VIDEO_STD).min()
    hi = (1 - torch.tensor(VIDEO_MEAN).min()) / torch.tensor(VIDEO_STD).min()
    assert out.min() >= lo - 1e-4 and out.max() <= hi + 1e-4


def test_a_full_frame_crop_with_flip_mirrors_the_frame() -> None:
    video = torch.arange(8 * 8, dtype=torch.float32).view(1, 1, 8, 8, 1).expand(1, 1, 8, 8, 3).to(torch.uint8)
    augment = VideoAugment(
        size=8, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, brightness=0, contrast=0, saturation=0
    )
    out = augment.train()(video.contiguous())
    torch.testing.assert_close(out, normalised(video.flip(3)), atol=1e-4, rtol=0)


def test_gain_is_random_in_training_and_off_in_evaluation() -> None:
    torch.manual_seed(2)
    audio = torch.randn(16, 100)
    gained = AudioGain(max_db=6).train()(audio)
    ratio = (gained / audio).mean(dim=1)
    assert ratio.min() >= 10 ** (-6 / 20) - 1e-5 and ratio.max() <= 10 ** (6 / 20) + 1e-5
    assert ratio.std() > 0.05
    assert torch.equal(AudioGain(max_db=6).eval()(audio), audio)
