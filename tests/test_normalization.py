"""GroupNorm instead of BatchNorm: what it replaces, and that a clip's feature then ignores its batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tvssl.contrastive import ContrastiveAVModule
from tvssl.models import AudioEncoder, ProjectionHead, VideoEncoder
from tvssl.models.normalization import apply_norm, check_norm, group_count


def _norm_layers(module: nn.Module) -> tuple[list[nn.Module], list[nn.GroupNorm]]:
    batch = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    group = [m for m in module.modules() if isinstance(m, nn.GroupNorm)]
    return batch, group


def _param_shapes(module: nn.Module) -> dict[str, torch.Size]:
    return {name: p.shape for name, p in module.named_parameters()}


@pytest.mark.parametrize(
    "build",
    [
        lambda norm: VideoEncoder("tiny", norm),
        lambda norm: VideoEncoder("r2plus1d_18", norm),
        lambda norm: AudioEncoder("tiny", norm),
        lambda norm: AudioEncoder("resnet18", norm),
        lambda norm: ProjectionHead(64, 512, 128, norm),
    ],
    ids=["video-tiny", "r2plus1d_18", "audio-tiny", "resnet18", "head"],
)
def test_group_replaces_every_batchnorm_with_the_same_channels_and_parameters(build) -> None:
    with_batch, with_group = build("batch"), build("group")
    batch_layers, none = _norm_layers(with_batch)
    assert batch_layers and not none
    left, group_layers = _norm_layers(with_group)
    assert not left
    assert [g.num_channels for g in group_layers] == [b.num_features for b in batch_layers]
    for layer in group_layers:
        assert layer.num_channels % layer.num_groups == 0
        assert 1 <= layer.num_groups <= 8
        assert torch.equal(layer.weight, torch.ones_like(layer.weight))
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    # Same learnable parameters under the same names: only BatchNorm's running statistics are gone.
    assert _param_shapes(with_group) == _param_shapes(with_batch)


def test_group_count_is_the_largest_divisor_up_to_eight() -> None:
    assert [group_count(c) for c in (16, 32, 45, 144, 6, 7, 1)] == [8, 8, 5, 8, 6, 7, 1]


def test_batch_leaves_the_module_as_it_is() -> None:
    encoder = VideoEncoder("tiny")
    layers = list(encoder.modules())
    assert apply_norm(encoder, "batch") is encoder
    assert list(encoder.modules()) == layers


def test_with_groupnorm_a_clips_feature_ignores_the_rest_of_the_batch() -> None:
    """The point of the option: in training mode BatchNorm makes clip 0's feature depend on which other clips
    share its batch (at k = 16, on which titles); GroupNorm does not."""
    torch.manual_seed(0)
    clips = torch.randn(6, 3, 8, 32, 32)
    others = torch.randn(5, 3, 8, 32, 32) * 3 + 1
    for norm, independent in (("batch", False), ("group", True)):
        torch.manual_seed(1)
        encoder = VideoEncoder("tiny", norm).train()
        head = ProjectionHead(encoder.out_dim, 32, 16, norm).train()
        alone = head(encoder(clips))[0]
        mixed = head(encoder(torch.cat([clips[:1], others])))[0]
        assert torch.allclose(alone, mixed, atol=1e-5) is independent, norm


def test_pretraining_module_builds_all_four_networks_with_the_norm() -> None:
    module = ContrastiveAVModule(video_arch="tiny", audio_arch="tiny", head_hidden_dim=32, norm="group")
    assert module.hparams.norm == "group"
    batch_layers, group_layers = _norm_layers(module)
    assert not batch_layers
    owners = {name.split(".")[0] for name, m in module.named_modules() if isinstance(m, nn.GroupNorm)}
    assert owners == {"video_encoder", "audio_encoder", "video_head", "audio_head"}


def test_an_unknown_norm_is_named() -> None:
    with pytest.raises(ValueError, match="model.init_args.norm must be one of batch, group, got 'layer'"):
        check_norm("layer", "model.init_args.norm")
    with pytest.raises(ValueError, match="norm must be one of"):
        VideoEncoder("tiny", "layer")  # type: ignore[arg-type]
