"""Device-side clip augmentation: the evaluation crop is exact, training crops keep a clip's frames together."""

from __future__ import annotations

import torch

from tvssl.augment import VIDEO_MEAN, VIDEO_STD, AudioGain, VideoAugment
from tvssl.finetune import FinetuneModule
from tvssl.preprocessing import same_evaluation_preprocessing


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


def reference_jitter(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Colour jitter written out of place, step by step: what the in-place version must reproduce bit for bit."""
    shape = (clips.shape[0], 1, 1, 1, 1)
    f_b, f_c, f_s = (torch.empty(shape).uniform_(0.6, 1.4, generator=generator) for _ in range(3))
    clips = clips * f_b
    grey = (0.299 * clips[:, 0:1] + 0.587 * clips[:, 1:2] + 0.114 * clips[:, 2:3]).clamp(0, 1)
    mean = grey.mean(dim=(2, 3, 4), keepdim=True)
    clips = (clips - mean) * f_c + mean
    grey = 0.299 * clips[:, 0:1] + 0.587 * clips[:, 1:2] + 0.114 * clips[:, 2:3]
    return ((clips - grey) * f_s + grey).clamp(0, 1)


def test_in_place_jitter_is_bitwise_the_out_of_place_formulation() -> None:
    """The jitter reuses the sampled batch's memory; no value may change for that (a resumed run compares losses)."""
    torch.manual_seed(3)
    # The layout the augmenter hands over: a permuted view of grid_sample's output, as in forward().
    clips = torch.rand(6, 4, 3, 20, 20).permute(0, 2, 1, 3, 4)
    expected = reference_jitter(clips.clone(), torch.Generator().manual_seed(7))
    got = VideoAugment().jitter(clips.clone(), torch.Generator().manual_seed(7))
    assert torch.equal(got, expected) and got.stride() == expected.stride()
    assert not torch.equal(got, clips)


def test_evaluation_preprocessing_is_the_same_only_for_equal_settings_and_buffers() -> None:
    """What lets the probe preprocess a batch once for several encoders: equal settings and buffers, in eval."""

    def video(**kwargs: object) -> FinetuneModule:
        return FinetuneModule(modality="video", arch="tiny", **kwargs).eval()  # type: ignore[arg-type]

    def audio(**kwargs: object) -> FinetuneModule:
        return FinetuneModule(modality="audio", arch="tiny", **kwargs).eval()  # type: ignore[arg-type]

    assert same_evaluation_preprocessing(video(crop_size=28), video(crop_size=28))
    assert same_evaluation_preprocessing(audio(), audio())
    assert not same_evaluation_preprocessing(video(crop_size=28), video(crop_size=24))
    assert not same_evaluation_preprocessing(audio(), audio(n_mels=64))
    assert not same_evaluation_preprocessing(audio(), audio(sample_rate=8000))
    assert not same_evaluation_preprocessing(video(), audio())
    assert not same_evaluation_preprocessing(video().train(), video())
    changed = video()
    changed.video_augment.mean += 0.01
    assert not same_evaluation_preprocessing(video(), changed)
    window = audio()
    window.logmel.mel.spectrogram.window[0] += 1
    assert not same_evaluation_preprocessing(audio(), window)
    # and sharing is exact: equal modules give equal tensors
    clips = torch.randint(0, 256, (2, 4, 40, 52, 3), dtype=torch.uint8)
    batch = {"video": clips, "video_index": torch.arange(2), "clip_index": torch.zeros(2, dtype=torch.long)}
    a, b = video(crop_size=28), video(crop_size=28)
    assert torch.equal(
        a.on_after_batch_transfer(dict(batch), 0)["video"], b.on_after_batch_transfer(dict(batch), 0)["video"]
    )
