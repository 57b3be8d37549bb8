"""The hierarchical (k, w) batch sampler: which (title, slot) pairs make up each batch.

The paper's contribution is the policy, so it lives here alone, free of decoding and of Lightning. A global batch
of ``B`` clips is ``B / k`` groups from ``B / k`` distinct titles; titles are drawn without replacement inside the
batch with probability proportional to their slot count ``M_n`` (successive sampling), and each group holds
``k`` distinct slots drawn uniformly inside a window of ``w' = min(w, M_n)`` consecutive slots whose start is
uniform in ``[0, M_n - w']``. Hard negatives come from the other clips of the same group.

Batch ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)`` (for a given numpy version): every rank plans the
same global batch and keeps its own contiguous share of groups, resuming is "start at batch i", and the result does
not depend on worker count or world size. Nothing is materialised per epoch; a batch costs O(B) plus the weighted
title choice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from operator import index as as_index
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from data_modules.sampler_settings import check_divisible, check_rank, check_seed, positive_int, slot_counts

WHOLE_TITLE = "Mn"

# Groups whose window is narrower than this many times k get their k slots from a random permutation of the
# window (collisions would be frequent); wider windows draw k slots and redraw the repeats (rarely needed).
_PERMUTE_BELOW = 4
# Titles are drawn by repeating draws with replacement while the heaviest G titles hold at most this share of all
# slots (each draw is then new with probability >= 1/2); otherwise by exponential keys over all titles.
_REPEAT_DRAW_MAX_SHARE = 0.5


class LongFormBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields this rank's share of each global (k, w) batch as a list of ``(title, slot)`` int pairs.

    ``num_slots[n]`` is ``M_n``; ``w`` is an int (slots) or ``"Mn"`` (whole title); for ``k = 1`` (the paper's
    baseline) ``w`` is unused and the slot is uniform over the title, so the pair is uniform over all slots of
    the corpus. ``batch_size`` is the GLOBAL batch ``B``: this rank yields ``B / num_replicas`` pairs, groups
    ``[rank * G, (rank + 1) * G)`` of the global batch with ``G = B / (k * num_replicas)``; concatenating the
    ranks' batches in rank order gives the single-process batch. Titles with ``M_n < k`` cannot form a group
    and are excluded (``excluded``, ``exclusion_note``). An epoch is ``clips_per_epoch // B`` batches on every
    rank (default ``clips_per_epoch``: all slots of the eligible titles). The slots of a group come out in
    ascending order, so the decoder reads them in time order.

    Position: ``__iter__`` starts at ``next_batch`` of the current epoch and advances it as batches are handed
    out, so ``state_dict()`` after ``j`` batches says ``next_batch = j``. A DataLoader pulls batches ahead of
    training (prefetch), so the data module may overwrite the position with what training consumed via
    ``set_position``. After an iterator has run to the end of the epoch, iterating again without ``set_epoch``
    replays the same epoch from batch 0 (a loop that forgets ``set_epoch`` still gets full epochs), whereas a
    position set by ``load_state_dict``/``set_position`` at the end of an epoch yields nothing: that epoch's
    batches were all consumed before the checkpoint. One iterator at a time: live iterators share one position.

    Epochs reach the sampler in two ways. The data module calls ``set_epoch`` itself, and Lightning does too:
    ``lightning.fabric.utilities.data._set_sampler_epoch(dataloader, epoch)`` (lightning 2.6) collects
    ``dataloader.sampler`` and ``dataloader.batch_sampler.sampler`` (deduplicated by ``id``) and calls
    ``set_epoch(epoch)`` on each that has a callable ``set_epoch``. The fit loop calls it in ``on_advance_start``
    with ``epoch_progress.current.processed`` for every training dataloader before the epoch's iterator is made;
    Fabric's dataloader wrapper calls it on each ``__iter__``. A DataLoader built with ``batch_sampler=`` has a
    plain ``SequentialSampler`` as ``dataloader.sampler``, so Lightning would never reach a batch sampler; the
    read-only ``sampler`` property returns ``self`` so that Lightning's own per-epoch hook advances our epoch.
    ``set_epoch`` with the current epoch keeps the position, so a run resumed mid-epoch (Lightning then calls
    ``set_epoch`` with the same epoch) continues at the restored batch.
    """

    def __init__(
        self,
        num_slots: Sequence[int] | np.ndarray,
        k: int,
        w: int | str,
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        clips_per_epoch: int | None = None,
    ) -> None:
        super().__init__()
        counts = slot_counts(num_slots)
        self.k = positive_int(k, "k (clips per title in a group)", "k = 1 is the uniform baseline")
        self.w: int | str = self._check_window(w, self.k)
        self.batch_size = positive_int(batch_size, "batch_size (global batch B)", "the paper uses 512")
        self.num_replicas = positive_int(num_replicas, "num_replicas (world size)", "use 1 for one process")
        self.rank = check_rank(rank, self.num_replicas)
        self.seed = check_seed(seed)
        check_divisible(self.batch_size, self.k, self.num_replicas)

        self.num_titles = int(counts.size)
        self._num_slots_total = int(counts.sum())
        self._num_slots_crc = zlib.crc32(counts.astype("<i8").tobytes())
        eligible = counts >= self.k
        self.excluded: np.ndarray = np.flatnonzero(~eligible)
        self.exclusion_note = self._describe_exclusions(counts)
        self._titles = np.flatnonzero(eligible)
        self._weights = counts[eligible]
        self._cumulative = np.cumsum(self._weights)
        self.groups_per_batch = self.batch_size // self.k
        self.groups_per_rank = self.groups_per_batch // self.num_replicas
        eligible_slots = int(self._weights.sum())
        if clips_per_epoch is None:
            self.clips_per_epoch = eligible_slots
            if eligible_slots < self.batch_size:
                raise ValueError(
                    f"the corpus has {eligible_slots} clips < one batch of {self.batch_size}"
                    + (f" ({self.exclusion_note})" if self.excluded.size else "")
                    + "; lower batch_size, add titles, or set clips_per_epoch"
                )
        else:
            self.clips_per_epoch = positive_int(
                clips_per_epoch,
                "clips_per_epoch",
                "leave it unset to use every slot of the corpus once per epoch",
            )
            if self.clips_per_epoch < self.batch_size:
                raise ValueError(
                    f"clips_per_epoch={self.clips_per_epoch} < one batch of {self.batch_size}, so an epoch would "
                    "have no batches; raise clips_per_epoch or lower batch_size"
                )
        if self.groups_per_batch > self._titles.size:
            raise ValueError(
                f"a global batch of {self.batch_size} clips with k={self.k} needs {self.groups_per_batch} distinct "
                f"titles, but only {self._titles.size} of {self.num_titles} titles have >= k={self.k} slots"
                + (f" ({self.exclusion_note})" if self.excluded.size else "")
                + "; lower batch_size, raise k, or add titles"
            )

        self._num_batches = self.clips_per_epoch // self.batch_size

        top = np.sort(self._weights)[-self.groups_per_batch :].sum()
        share = float(top) / float(self._cumulative[-1])
        self.title_method = "repeat-draw" if share <= _REPEAT_DRAW_MAX_SHARE else "exp-keys"
        self._epoch = 0
        self._next_batch = 0
        self._replay = False

    @staticmethod
    def _check_window(w: int | str, k: int) -> int | str:
        if isinstance(w, str):
            if w.strip().lower() == WHOLE_TITLE.lower():
                return WHOLE_TITLE
            raise ValueError(
                f"w (window in slots) must be an int >= k or {WHOLE_TITLE!r} for the whole title, got {w!r}"
            )
        if isinstance(w, bool):
            raise ValueError(f"w (window in slots) must be an int >= k or {WHOLE_TITLE!r}, got {w!r}")
        try:
            window = as_index(w)
        except TypeError:
            raise ValueError(
                f"w (window in slots) must be an int >= k or {WHOLE_TITLE!r} for the whole title, got {w!r}"
            ) from None
        if window < k:
            raise ValueError(
                f"w={window} < k={k}: a window of {window} slots cannot hold {k} distinct clips; "
                f"use w >= k (w = k means adjacent clips) or w={WHOLE_TITLE!r}"
            )
        return window

    def _describe_exclusions(self, counts: np.ndarray) -> str:
        if self.excluded.size == 0:
            return ""
        shown = ", ".join(f"{int(t)} ({int(counts[t])} slots)" for t in self.excluded[:10])
        more = f", ... {self.excluded.size - 10} more" if self.excluded.size > 10 else ""
        return (
            f"{self.excluded.size} of {counts.size} titles have fewer than k={self.k} slots and are excluded "
            f"from sampling: titles {shown}{more}"
        )

    @property
    def sampler(self) -> LongFormBatchSampler:
        """``self``, so Lightning's ``_set_sampler_epoch`` finds ``batch_sampler.sampler.set_epoch`` (see class doc)."""
        return self

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def next_batch(self) -> int:
        return self._next_batch

    def __len__(self) -> int:
        return self._num_batches

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; a different epoch starts at batch 0, the same one keeps the position (resume)."""
        epoch = self._check_epoch(epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._next_batch = 0
            self._replay = False

    def set_position(self, epoch: int, next_batch: int) -> None:
        """Make the next iterator start at ``next_batch`` of ``epoch`` (what training really consumed)."""
        epoch = self._check_epoch(epoch)
        if isinstance(next_batch, bool) or not isinstance(next_batch, (int, np.integer)):
            raise ValueError(f"next_batch must be an int, got {next_batch!r}")
        if not 0 <= next_batch <= self._num_batches:
            raise ValueError(
                f"next_batch={next_batch} is outside [0, {self._num_batches}] (batches per epoch)"
            )
        self._epoch = epoch
        self._next_batch = int(next_batch)
        self._replay = False

    @staticmethod
    def _check_epoch(epoch: int) -> int:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        return int(epoch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        """Batches from the current position to the end of the epoch; epoch and start are fixed on this call."""
        start = 0 if self._replay else self._next_batch
        self._replay = False
        self._next_batch = start
        return self._batches(self._epoch, start)

    def _batches(self, epoch: int, start: int) -> Iterator[list[tuple[int, int]]]:
        per_rank = self.batch_size // self.num_replicas
        lo, hi = self.rank * per_rank, (self.rank + 1) * per_rank
        for i in range(start, self._num_batches):
            plan = self.plan_batch(epoch, i)[lo:hi]
            self._next_batch = i + 1
            yield [(t, s) for t, s in plan.tolist()]
        self._replay = True

    def plan_batch(self, epoch: int, i: int) -> np.ndarray:
        """The GLOBAL batch ``i`` of ``epoch`` as an int64 array [B, 2] of (title, slot), rows grouped by title."""
        epoch = self._check_epoch(epoch)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
            raise ValueError(f"batch index must be a non-negative int, got {i!r}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, epoch, int(i)])))
        chosen = self._draw_titles(rng)
        sizes = self._weights[chosen]
        widths = self.widths()[chosen]
        starts = rng.integers(0, sizes - widths + 1)
        slots = starts[:, None] + self._draw_offsets(rng, widths)
        plan = np.empty((self.batch_size, 2), dtype=np.int64)
        plan[:, 0] = np.repeat(self._titles[chosen], self.k)
        plan[:, 1] = slots.reshape(-1)
        return plan

    def _draw_titles(self, rng: np.random.Generator) -> np.ndarray:
        """G distinct positions into the eligible titles, in successive-sampling order with weights M_n.

        Repeat-draw: draw slots uniformly with replacement (title by searchsorted on the cumulative counts) and
        keep each title's first appearance; the order of first appearances is exactly successive sampling.
        Exp-keys: key_n = Exp(1) / M_n, the G smallest in ascending order, same distribution, O(N) per batch.
        The method is fixed at construction from G and the counts, so a batch stays a function of the seed.
        """
        groups = self.groups_per_batch
        if self.title_method == "exp-keys":
            keys = rng.standard_exponential(self._weights.size) / self._weights
            if groups < keys.size:
                picked = np.argpartition(keys, groups - 1)[:groups]
                return picked[np.argsort(keys[picked])]
            return np.argsort(keys)
        total = int(self._cumulative[-1])
        drawn = np.empty(0, dtype=np.int64)
        need = groups + groups // 4 + 8
        while True:
            hits = np.searchsorted(self._cumulative, rng.integers(0, total, size=need), side="right")
            drawn = np.concatenate((drawn, hits))
            unique, first = np.unique(drawn, return_index=True)
            if unique.size >= groups:
                return unique[np.argsort(first)][:groups]
            need = 2 * (groups - unique.size) + 8

    def _draw_offsets(self, rng: np.random.Generator, widths: np.ndarray) -> np.ndarray:
        """[G, k] distinct offsets per row, uniform k-subsets of [0, widths[g]), each row ascending."""
        k = self.k
        out = np.empty((widths.size, k), dtype=np.int64)
        narrow = widths < _PERMUTE_BELOW * k
        if narrow.any():
            w_narrow = widths[narrow]
            keys = rng.random((w_narrow.size, int(w_narrow.max())))
            keys[np.arange(keys.shape[1])[None, :] >= w_narrow[:, None]] = 2.0
            out[narrow] = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
        wide = ~narrow
        if wide.any():
            w_wide = widths[wide]
            vals = rng.integers(0, w_wide[:, None], size=(w_wide.size, k))
            # Keep each row's distinct values and redraw only the repeats: this equals drawing i.i.d. until k
            # distinct values are seen, whose set is a uniform k-subset.
            while True:
                vals.sort(axis=1)
                repeat = np.zeros(vals.shape, dtype=bool)
                repeat[:, 1:] = vals[:, 1:] == vals[:, :-1]
                if not repeat.any():
                    break
                rows, cols = np.nonzero(repeat)
                vals[rows, cols] = rng.integers(0, w_wide[rows])
            out[wide] = vals
        return out

    def widths(self) -> np.ndarray:
        """The window each eligible title is sampled in: ``min(M_n, w)``, or ``M_n`` for w = Mn and for k = 1."""
        if self.w == WHOLE_TITLE or self.k == 1:
            return self._weights.copy()
        return np.minimum(self._weights, self.w)

    def same_batches_as(self, other: LongFormBatchSampler) -> bool:
        """Whether ``plan_batch`` gives ``other``'s batches for every (epoch, i): the same seed, batch, k,
        epoch length, titles and per-title window. Two window settings that both hold every title here (say
        w = 1024 and Mn on titles of at most 960 slots) draw the very same batches, so a sweep need not train
        the second: the random draws of ``plan_batch`` depend on w only through these widths."""
        return (
            self.seed == other.seed
            and self.k == other.k
            and self.batch_size == other.batch_size
            and self.num_replicas == other.num_replicas
            and self.rank == other.rank
            and self._num_batches == other._num_batches
            and np.array_equal(self._titles, other._titles)
            and np.array_equal(self._weights, other._weights)
            and np.array_equal(self.widths(), other.widths())
        )

    def _fingerprint(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "w": self.w,
            "batch_size": self.batch_size,
            "num_titles": self.num_titles,
            "num_slots_sum": self._num_slots_total,
            "num_slots_crc32": self._num_slots_crc,
            "clips_per_epoch": self.clips_per_epoch,
        }

    def state_dict(self) -> dict[str, Any]:
        """Seed and position plus a fingerprint of the corpus and policy; world size is not in it on purpose:
        batches are global, so a run may resume on a different number of devices."""
        return {
            "seed": self.seed,
            "epoch": self._epoch,
            "next_batch": self._next_batch,
            "fingerprint": self._fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` left off: its seed, epoch and next batch; refuse another corpus or policy."""
        missing = {"seed", "epoch", "next_batch", "fingerprint"} - set(state)
        if missing:
            raise ValueError(
                f"sampler state is missing {sorted(missing)}; it was not saved by LongFormBatchSampler"
            )
        saved, current = dict(state["fingerprint"]), self._fingerprint()
        differ = [
            f"{key}: checkpoint {saved.get(key)!r} vs now {current[key]!r}"
            for key in current
            if saved.get(key) != current[key]
        ]
        if differ:
            raise ValueError(
                "cannot resume the sampler: the checkpoint was made with a different corpus or (k, w, batch) "
                f"setting ({'; '.join(differ)}); resume with the same manifest and config, or start a new run"
            )
        self.seed = check_seed(state["seed"])
        self.set_position(state["epoch"], state["next_batch"])
