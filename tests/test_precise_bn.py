"""tvssl precise-bn: a checkpoint's BatchNorm statistics measured again on other batches, nothing else changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from tests.overrides import tiny_overrides
from tvssl.cli import main
from tvssl.contrastive import ContrastiveAVModule
from tvssl.precise_bn import batchnorm_layers, remeasure, remeasured_checkpoint

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def tiny_model() -> ContrastiveAVModule:
    """The same initial weights on every call."""
    torch.manual_seed(0)
    return ContrastiveAVModule(
        video_arch="tiny", audio_arch="tiny", head_hidden_dim=32, crop_size=28, n_mels=32, sample_rate=16000
    )


def batch(seed: int, shift: float = 0.0, size: int = 8) -> dict[str, Any]:
    """A loader batch as the data modules give it: uint8 frames, waveforms, clip ids."""
    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 200, (size, 4, 32, 56, 3), generator=g, dtype=torch.uint8)
    video = (video.float() + shift).clamp(0, 255).to(torch.uint8)
    audio = torch.randn(size, 8000, generator=g) * (1 + shift / 50)
    ids = torch.arange(size) + 100 * seed
    return {"video": video, "audio": audio, "title": ids, "slot": ids}


def test_the_statistics_are_the_average_of_each_batchs_own() -> None:
    """Every layer's running mean and variance become the plain average of the per-batch statistics of its
    input (the reference, recorded by hooks); weights and momenta are untouched; the model ends in eval mode."""
    model = tiny_model()
    weights = {
        k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k
    }
    layers = batchnorm_layers(model)
    momenta = [layer.momentum for layer in layers]
    seen: dict[_BatchNorm, list[tuple[torch.Tensor, torch.Tensor]]] = {layer: [] for layer in layers}

    def record(layer: _BatchNorm, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().double()
        dims = [d for d in range(x.dim()) if d != 1]
        seen[layer].append((x.mean(dims), x.var(dims, unbiased=True)))

    hooks = [layer.register_forward_pre_hook(record) for layer in layers]
    batches = [batch(s, shift=20.0 * s) for s in range(3)]
    assert remeasure(model, batches) == 3
    for hook in hooks:
        hook.remove()
    assert len(layers) > 4 and not model.training
    for layer, momentum in zip(layers, momenta, strict=True):
        means, variances = zip(*seen[layer], strict=True)
        assert len(means) == 3 and layer.momentum == momentum and int(layer.num_batches_tracked) == 3
        torch.testing.assert_close(
            layer.running_mean.double(), torch.stack(means).mean(0), rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(
            layer.running_var.double(), torch.stack(variances).mean(0), rtol=1e-4, atol=1e-5
        )
    for name, value in model.state_dict().items():
        if name in weights:
            assert torch.equal(value, weights[name]), name


def test_the_same_batches_and_seed_give_the_same_statistics_and_other_batches_others() -> None:
    def stats(batches: list[dict[str, Any]], seed: int = 0) -> list[torch.Tensor]:
        model = tiny_model()
        remeasure(model, batches, seed)
        return [layer.running_mean.clone() for layer in batchnorm_layers(model)]

    first = stats([batch(0), batch(1)])
    assert all(torch.equal(a, b) for a, b in zip(first, stats([batch(0), batch(1)]), strict=True))
    brighter = stats([batch(0, shift=60.0), batch(1, shift=60.0)])
    assert not torch.allclose(first[0], brighter[0])


def test_a_model_without_batchnorm_or_without_batches_is_refused() -> None:
    with pytest.raises(ValueError, match="no BatchNorm"):
        remeasure(ContrastiveAVModule(video_arch="tiny", audio_arch="tiny", norm="group"), [batch(0)])
    with pytest.raises(ValueError, match="no batch"):
        remeasure(tiny_model(), [])


@pytest.fixture(scope="module")
def pretrained(movie_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint: two steps of movie_k4_w4 with tiny encoders."""
    runs = tmp_path_factory.mktemp("pretrain-runs")
    config = str(EXPERIMENTS / "movie_k4_w4.yaml")
    assert (
        main(["fit", "--config", config, *tiny_overrides(movie_corpus, runs, 8), "--trainer.max_steps=2"])
        == 0
    )
    return runs / "movie_k4_w4" / "version_0" / "checkpoints" / "last.ckpt"


def test_the_command_writes_a_copy_with_only_the_statistics_changed(
    pretrained: Path, movie_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """k = 1 batches of the same titles (4 clips: five titles train), as the diagnostic runs it; the copy keeps every weight, hyper-parameter
    and loop state, and a probe or fine-tuning loads it like the original."""
    out = tmp_path / "precise.ckpt"
    k1 = ["--config", str(EXPERIMENTS / "movie_k1.yaml"), *tiny_overrides(movie_corpus, tmp_path / "runs", 4)]
    argv = ["precise-bn", "--ckpt", str(pretrained), "--out", str(out), "--batches", "3", *k1]
    assert main(argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"tvssl precise-bn: wrote {out}: ") and "over 3 batches of 4 clips (k = 1" in line
    before = torch.load(pretrained, map_location="cpu", weights_only=False)
    after = torch.load(out, map_location="cpu", weights_only=False)
    assert after["precise_bn"]["batches"] == 3 and after["hyper_parameters"] == before["hyper_parameters"]
    assert after["global_step"] == before["global_step"]
    changed = {
        k for k in before["state_dict"] if not torch.equal(before["state_dict"][k], after["state_dict"][k])
    }
    assert changed and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed
    )
    assert any(k.startswith("video_encoder.") for k in changed) and any(
        k.startswith("audio_encoder.") for k in changed
    )
    assert {
        int(after["state_dict"][k]) for k in after["state_dict"] if k.endswith("num_batches_tracked")
    } == {3}

    from tvssl.finetune import load_pretrained_encoder

    assert (
        load_pretrained_encoder(out, "video").state.keys()
        == load_pretrained_encoder(pretrained, "video").state.keys()
    )
    # the copy is the same on a second run, and an existing file is never overwritten
    again = tmp_path / "again.ckpt"
    assert main([*argv[:4], str(again), *argv[5:]]) == 0
    first, second = (
        torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in (out, again)
    )
    assert all(torch.equal(first[k], second[k]) for k in first)
    stamp = out.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"tvssl: {out} exists; choose a new --out (nothing was written)"
    assert out.read_bytes() == stamp


def test_remeasured_checkpoint_refuses_to_overwrite(pretrained: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.ckpt"
    taken.write_text("someone's")
    with pytest.raises(FileExistsError):
        remeasured_checkpoint(pretrained, taken, [batch(0)])
    assert taken.read_text() == "someone's"
