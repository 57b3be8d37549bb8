"""Properties of the (k, w) batch sampler: batch structure, distributions, rank split, determinism, resume."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import DataLoader, Dataset

from data_modules.sampling import LongFormBatchSampler

FAST = settings(max_examples=40, deadline=None)


@st.composite
def configs(draw: st.DrawFn) -> dict:
    """A small corpus and policy that can always form a batch, with a few too-short titles mixed in."""
    k = draw(st.integers(1, 5))
    w = draw(st.one_of(st.just("Mn"), st.integers(k, k + 12)))
    world = draw(st.integers(1, 3))
    groups_per_rank = draw(st.integers(1, 3))
    groups = groups_per_rank * world
    eligible = draw(st.lists(st.integers(k, k + 40), min_size=groups, max_size=groups + 8))
    short = draw(st.lists(st.integers(0, k - 1), max_size=4)) if k > 1 else []
    order = draw(st.permutations(range(len(eligible) + len(short))))
    num_slots = [(eligible + short)[j] for j in order]
    return {
        "num_slots": num_slots,
        "k": k,
        "w": w,
        "batch_size": groups * k,
        "num_replicas": world,
        "seed": draw(st.integers(0, 2**32)),
    }


def _groups(plan: np.ndarray, k: int) -> np.ndarray:
    return plan.reshape(-1, k, 2)


@FAST
@given(cfg=configs(), epoch=st.integers(0, 5))
def test_batch_structure(cfg: dict, epoch: int) -> None:
    sampler = LongFormBatchSampler(**cfg)
    k, counts = cfg["k"], np.asarray(cfg["num_slots"])
    for i in range(3):
        groups = _groups(sampler.plan_batch(epoch, i), k)
        titles = groups[:, 0, 0]
        assert len(set(titles.tolist())) == cfg["batch_size"] // k
        assert (groups[:, :, 0] == titles[:, None]).all()
        assert (counts[titles] >= k).all()
        assert not np.isin(titles, sampler.excluded).any()
        for title, slots in zip(titles, groups[:, :, 1], strict=True):
            size = counts[title]
            window = size if cfg["w"] == "Mn" or k == 1 else min(cfg["w"], size)
            assert len(set(slots.tolist())) == k
            assert slots.min() >= 0 and slots.max() < size
            assert slots.max() - slots.min() < window
            assert (np.diff(slots) > 0).all()


@FAST
@given(cfg=configs())
def test_ranks_split_the_global_batch(cfg: dict) -> None:
    world = cfg["num_replicas"]
    single = LongFormBatchSampler(**{**cfg, "num_replicas": 1})
    ranks = [LongFormBatchSampler(**cfg, rank=r) for r in range(world)]
    assert {len(s) for s in ranks} == {len(single)}
    for s in [single, *ranks]:
        s.set_epoch(2)
    per_rank = [list(itertools.islice(iter(s), 3)) for s in ranks]
    for i, whole in enumerate(itertools.islice(iter(single), 3)):
        parts = [batches[i] for batches in per_rank]
        assert {len(p) for p in parts} == {cfg["batch_size"] // world}
        assert [pair for part in parts for pair in part] == whole
        for a, b in itertools.combinations(parts, 2):
            assert not set(a) & set(b)
            assert not {t for t, _ in a} & {t for t, _ in b}


@FAST
@given(cfg=configs(), consumed=st.integers(0, 6), epoch=st.integers(0, 3))
def test_restore_yields_exactly_the_remaining_batches(cfg: dict, consumed: int, epoch: int) -> None:
    cfg = {**cfg, "clips_per_epoch": cfg["batch_size"] * 6}
    reference = LongFormBatchSampler(**cfg)
    reference.set_epoch(epoch)
    full = list(reference)
    interrupted = LongFormBatchSampler(**cfg)
    interrupted.set_epoch(epoch)
    seen = list(itertools.islice(iter(interrupted), consumed))
    state = interrupted.state_dict()
    assert state["next_batch"] == consumed and state["epoch"] == epoch
    resumed = LongFormBatchSampler(**{**cfg, "seed": cfg["seed"] + 1})
    resumed.load_state_dict(state)
    resumed.set_epoch(epoch)  # Lightning calls this with the same epoch on resume: position must survive
    assert seen + list(resumed) == full


@FAST
@given(cfg=configs())
def test_iteration_matches_plan_batch(cfg: dict) -> None:
    sampler = LongFormBatchSampler(**{**cfg, "num_replicas": 1})
    sampler.set_epoch(1)
    for i, batch in enumerate(itertools.islice(iter(sampler), 4)):
        assert batch == [tuple(p) for p in sampler.plan_batch(1, i).tolist()]
        assert all(type(t) is int and type(s) is int for t, s in batch)


def test_w_equal_k_gives_adjacent_slots() -> None:
    sampler = LongFormBatchSampler([50, 9, 30, 4, 70, 12], k=4, w=4, batch_size=16, seed=3)
    for i in range(50):
        for slots in _groups(sampler.plan_batch(0, i), 4)[:, :, 1]:
            assert slots.tolist() == list(range(slots[0], slots[0] + 4))


def test_whole_title_window_spreads_and_int_window_does_not() -> None:
    counts = [3600] * 20
    spread = LongFormBatchSampler(counts, k=4, w="Mn", batch_size=16, seed=1)
    narrow = LongFormBatchSampler(counts, k=4, w=64, batch_size=16, seed=1)
    span = [
        np.ptp(_groups(s.plan_batch(0, i), 4)[:, :, 1], axis=1).max()
        for s in (spread, narrow)
        for i in range(40)
    ]
    assert max(span[:40]) > 1000
    assert max(span[40:]) < 64


def test_title_shorter_than_window_uses_the_whole_title() -> None:
    sampler = LongFormBatchSampler([5, 400], k=3, w=64, batch_size=6, seed=0)
    seen = Counter()
    for i in range(300):
        groups = _groups(sampler.plan_batch(0, i), 3)
        for title, slots in zip(groups[:, 0, 0], groups[:, :, 1], strict=True):
            if title == 0:
                seen.update(slots.tolist())
            else:
                assert np.ptp(slots) < 64
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert min(seen.values()) > 100


def test_excluded_titles_are_reported_and_never_drawn() -> None:
    counts = [10, 2, 30, 0, 3, 25]
    sampler = LongFormBatchSampler(counts, k=3, w="Mn", batch_size=6, seed=5)
    assert sampler.excluded.tolist() == [1, 3]
    assert "2 of 6 titles" in sampler.exclusion_note and "k=3" in sampler.exclusion_note
    drawn = {t for i in range(200) for t in sampler.plan_batch(0, i)[:, 0].tolist()}
    assert drawn == {0, 2, 4, 5}
    assert len(sampler) == (10 + 30 + 3 + 25) // 6
    assert LongFormBatchSampler([10, 30], k=3, w=3, batch_size=6).exclusion_note == ""


def test_same_seed_same_batches_other_seed_or_epoch_differs() -> None:
    cfg = {"num_slots": [100] * 20, "k": 2, "w": 10, "batch_size": 8}
    plan = LongFormBatchSampler(**cfg, seed=7).plan_batch
    again = LongFormBatchSampler(**cfg, seed=7).plan_batch
    other = LongFormBatchSampler(**cfg, seed=8).plan_batch
    for i in range(5):
        assert np.array_equal(plan(0, i), again(0, i))
        assert not np.array_equal(plan(0, i), other(0, i))
        assert not np.array_equal(plan(0, i), plan(1, i))
        assert not np.array_equal(plan(0, i), plan(0, i + 1))


@FAST
@given(cfg=configs(), extra=st.integers(0, 3000), epoch=st.integers(0, 3))
def test_same_batches_as_is_exactly_plan_batch_equality(cfg: dict, extra: int, epoch: int) -> None:
    """A window that holds every title (w >= max M_n) draws Mn's batches, and same_batches_as says so; a window
    narrower than some eligible title is refused (its batches differ wherever it draws that title's slots)."""
    cfg = {**cfg, "w": "Mn"}
    whole = LongFormBatchSampler(**cfg)
    longest = max(n for n in cfg["num_slots"] if n >= cfg["k"])
    covering = LongFormBatchSampler(**{**cfg, "w": max(cfg["k"], longest + extra)})
    assert covering.same_batches_as(whole) and whole.same_batches_as(covering)
    for i in range(len(whole)):
        assert np.array_equal(covering.plan_batch(epoch, i), whole.plan_batch(epoch, i))
    if cfg["k"] > 1 and longest > cfg["k"]:
        narrow = LongFormBatchSampler(**{**cfg, "w": longest - 1})
        assert not narrow.same_batches_as(whole)


def test_same_batches_as_refuses_any_other_setting() -> None:
    cfg = {"num_slots": [40, 50, 60, 70], "k": 4, "w": 64, "batch_size": 8, "seed": 3}
    base = LongFormBatchSampler(**{**cfg, "w": "Mn"})
    assert LongFormBatchSampler(**cfg).same_batches_as(LongFormBatchSampler(**cfg))
    assert not LongFormBatchSampler(**cfg).same_batches_as(base)  # 70 > 64
    for change in (
        {"seed": 4},
        {"k": 2},
        {"batch_size": 16},
        {"num_slots": [40, 50, 60, 71]},
        {"num_slots": [40, 50, 60]},
        {"clips_per_epoch": 16},
    ):
        assert not LongFormBatchSampler(**{**cfg, "w": 80, **change}).same_batches_as(base), change


def test_epoch_position_semantics() -> None:
    sampler = LongFormBatchSampler([40] * 10, k=2, w=8, batch_size=4, seed=2, clips_per_epoch=20)
    assert len(sampler) == 5
    first = list(sampler)
    assert sampler.next_batch == 5
    assert list(sampler) == first  # a finished epoch replays from batch 0 until set_epoch moves on
    sampler.set_epoch(1)
    assert sampler.next_batch == 0
    second = list(itertools.islice(iter(sampler), 2))
    sampler.set_epoch(1)
    assert sampler.next_batch == 2
    assert second + list(sampler) == [[tuple(p) for p in sampler.plan_batch(1, i).tolist()] for i in range(5)]
    assert second != first[:2]
    sampler.set_position(0, 3)
    assert list(sampler) == first[3:]


class _EchoPairs(Dataset):
    """Returns the (title, slot) it is asked for, so a DataLoader hands back the sampler's batches unchanged."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, pair: tuple[int, int]) -> tuple[int, int]:
        return pair


def test_lightning_epoch_hook_reaches_the_batch_sampler() -> None:
    sampler = LongFormBatchSampler([20] * 8, k=2, w=4, batch_size=4)
    loader = DataLoader(_EchoPairs(), batch_sampler=sampler, collate_fn=lambda batch: batch)
    assert sampler.sampler is sampler
    _set_sampler_epoch(loader, 3)
    assert sampler.epoch == 3
    assert next(iter(loader)) == [tuple(p) for p in sampler.plan_batch(3, 0).tolist()]
    assert len(loader) == len(sampler)


def test_resume_refuses_another_corpus_or_policy() -> None:
    state = LongFormBatchSampler([10, 20, 30], k=2, w=4, batch_size=4).state_dict()
    with pytest.raises(ValueError, match=r"different corpus.*num_slots_sum"):
        LongFormBatchSampler([10, 20, 31], k=2, w=4, batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match=r"w: checkpoint 4 vs now 'Mn'"):
        LongFormBatchSampler([10, 20, 30], k=2, w="Mn", batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match=r"num_slots_crc32"):
        LongFormBatchSampler([20, 10, 30], k=2, w=4, batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match="missing"):
        LongFormBatchSampler([10, 20, 30], k=2, w=4, batch_size=4).load_state_dict({"seed": 0})
    other_world = LongFormBatchSampler([10, 20, 30], k=1, w=1, batch_size=2, num_replicas=2, rank=1)
    other_world.load_state_dict(LongFormBatchSampler([10, 20, 30], k=1, w=1, batch_size=2).state_dict())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, r"k \(clips per title in a group\) must be >= 1"),
        ({"k": 2.5}, r"k .* must be an integer"),
        ({"k": 4, "w": 3}, r"w=3 < k=4.*use w >= k"),
        ({"w": "whole"}, r"w \(window in slots\) must be an int >= k or 'Mn'"),
        ({"w": 4.0}, r"w \(window in slots\) must be an int"),
        ({"k": 4, "batch_size": 18, "num_replicas": 2}, r"per-device batch .* = 9 is not a multiple of k=4"),
        ({"batch_size": 9, "num_replicas": 2}, r"batch_size=9 is the global batch and must split evenly"),
        ({"num_replicas": 2, "rank": 2}, r"rank=2 is out of range for num_replicas=2"),
        ({"batch_size": 12}, r"needs 6 distinct titles, but only 4 of 5 titles have >= k=2 slots"),
        ({"num_slots": [2, 2, 2]}, r"corpus has 6 clips < one batch of 8"),
        ({"clips_per_epoch": 5}, r"clips_per_epoch=5 < one batch of 8"),
        ({"num_slots": [10, -1, 3]}, r"num_slots\[1\] = -1 is negative"),
        ({"num_slots": [1.5, 3.0]}, r"num_slots must hold integers"),
        ({"seed": -1}, r"seed must be a non-negative int"),
    ],
)
def test_invalid_settings_raise_helpful_errors(kwargs: dict, message: str) -> None:
    base = {"num_slots": [10, 20, 30, 40, 1], "k": 2, "w": 4, "batch_size": 8}
    with pytest.raises(ValueError, match=message):
        LongFormBatchSampler(**{**base, **kwargs})


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def _critical_value(df: int, z: float = 3.29) -> float:
    """Wilson–Hilferty upper quantile of chi-square(df); z = 3.29 is the normal 0.9995 quantile (alpha 5e-4)."""
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


@pytest.mark.parametrize("df", [4, 10, 30, 60])
def test_critical_value_has_the_intended_tail(df: int) -> None:
    """For even df the chi-square tail is a Poisson sum: P(X > x) = exp(-x/2) * sum_{j < df/2} (x/2)^j / j!."""
    half = _critical_value(df) / 2
    tail = math.exp(-half) * sum(half**j / math.factorial(j) for j in range(df // 2))
    assert 2e-4 < tail < 1e-3


COUNTS_SMALL = np.array([3, 5, 8, 4, 12, 1])


def test_k1_is_uniform_over_all_slots() -> None:
    sampler = LongFormBatchSampler(COUNTS_SMALL, k=1, w=2, batch_size=1, seed=11)  # w is unused for k = 1
    n = 6000
    cells = {
        (t, s): j for j, (t, s) in enumerate((t, s) for t, m in enumerate(COUNTS_SMALL) for s in range(m))
    }
    observed = np.zeros(len(cells))
    for i in range(n):
        ((t, s),) = sampler.plan_batch(0, i).tolist()
        observed[cells[(t, s)]] += 1
    expected = np.full(len(cells), n / len(cells))
    assert _chi_square(observed, expected) < _critical_value(len(cells) - 1)

    # The same test rejects a sampler that picks the title uniformly and then the slot (power check).
    rng = np.random.default_rng(11)
    biased = np.zeros(len(cells))
    for _ in range(n):
        t = int(rng.integers(len(COUNTS_SMALL)))
        biased[cells[(t, int(rng.integers(COUNTS_SMALL[t])))]] += 1
    assert _chi_square(biased, expected) > _critical_value(len(cells) - 1)


def test_first_title_of_a_batch_is_proportional_to_slot_count() -> None:
    counts = np.arange(3, 33)  # 30 titles, B small relative to N
    sampler = LongFormBatchSampler(counts, k=2, w=2, batch_size=6, seed=4)
    assert sampler.title_method == "repeat-draw"
    n = 6000
    first = np.bincount([sampler.plan_batch(0, i)[0, 0] for i in range(n)], minlength=counts.size)
    expected = n * counts / counts.sum()
    assert _chi_square(first, expected) < _critical_value(counts.size - 1)
    uniform = np.bincount(np.random.default_rng(4).integers(counts.size, size=n), minlength=counts.size)
    assert _chi_square(uniform, expected) > _critical_value(counts.size - 1)


@pytest.mark.parametrize(
    ("counts", "method"), [([4, 5, 6, 7, 8, 9], "repeat-draw"), ([2, 3, 5, 10], "exp-keys")]
)
def test_titles_follow_successive_sampling_without_replacement(counts: list[int], method: str) -> None:
    """Ordered title pairs (G = 2) match P(a, b) = p_a * p_b / (1 - p_a) for both title-drawing methods."""
    sampler = LongFormBatchSampler(counts, k=1, w=1, batch_size=2, seed=9)
    assert sampler.title_method == method
    p = np.asarray(counts) / sum(counts)
    pairs = [(a, b) for a in range(len(counts)) for b in range(len(counts)) if a != b]
    n = 6000
    seen = Counter(tuple(sampler.plan_batch(0, i)[:, 0].tolist()) for i in range(n))
    observed = np.array([seen[pair] for pair in pairs], dtype=float)
    expected = np.array([n * p[a] * p[b] / (1 - p[a]) for a, b in pairs])
    assert observed.sum() == n
    assert _chi_square(observed, expected) < _critical_value(len(pairs) - 1)


@pytest.mark.parametrize(("k", "w"), [(3, 5), (3, 40)])
def test_slots_in_a_window_are_a_uniform_subset(k: int, w: int) -> None:
    """Both slot-drawing paths (permutation for narrow windows, redraw for wide) give uniform k-subsets."""
    sampler = LongFormBatchSampler([w], k=k, w="Mn", batch_size=k, seed=13)
    n = 4000
    if w <= 6:
        subsets = list(itertools.combinations(range(w), k))
        seen = Counter(tuple(sampler.plan_batch(0, i)[:, 1].tolist()) for i in range(n))
        observed = np.array([seen[s] for s in subsets], dtype=float)
        expected = np.full(len(subsets), n / len(subsets))
        df = len(subsets) - 1
    else:
        observed = np.bincount(
            np.concatenate([sampler.plan_batch(0, i)[:, 1] for i in range(n)]), minlength=w
        ).astype(float)
        expected = np.full(w, n * k / w)
        df = w - 1
    assert _chi_square(observed, expected) < _critical_value(df)


def test_slot_marginal_matches_a_uniform_window_start() -> None:
    """P(slot j) = sum over window starts s in [0, M - w] of [s <= j < s + w] / ((M - w + 1) * w)."""
    size, k, w = 20, 2, 5
    sampler = LongFormBatchSampler([size, size], k=k, w=w, batch_size=k, seed=17)
    starts = np.arange(size - w + 1)
    covered = (starts[:, None] <= np.arange(size)) & (np.arange(size) < starts[:, None] + w)
    p = covered.sum(axis=0) / (starts.size * w)
    n = 5000
    pick = np.random.default_rng(17).integers(k, size=n)  # one slot per group keeps observations independent
    slots = [sampler.plan_batch(0, i)[pick[i], 1] for i in range(n)]
    observed = np.bincount(slots, minlength=size).astype(float)
    assert _chi_square(observed, n * p) < _critical_value(size - 1)
