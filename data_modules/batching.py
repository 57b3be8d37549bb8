"""How decoded clips become batches and DataLoaders, the same for long-form and downstream data.

The decoder fixes only the short side, so files with other aspect ratios give frames of other widths;
a batch is cut to the smallest frame in it, centred. Workers decode with one thread each: parallelism
comes from the number of workers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from data_modules.stack_dumps import dump_stacks_on_signal


def stack_frames(videos: Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 clips [T, H, W, 3] of possibly different H, W -> one [B, T, h, w, 3] tensor, centre-cropped."""
    height = min(v.shape[1] for v in videos)
    width = min(v.shape[2] for v in videos)
    crops = []
    for v in videos:
        top = (v.shape[1] - height) // 2
        left = (v.shape[2] - width) // 2
        crops.append(v[:, top : top + height, left : left + width])
    return torch.from_numpy(np.ascontiguousarray(np.stack(crops)))


def one_thread_worker(_: int) -> None:
    """DataLoader worker_init_fn: one torch thread per decoding worker, and its stacks on ``kill -USR2``."""
    torch.set_num_threads(1)
    dump_stacks_on_signal()


def default_start_method() -> str | None:
    """``fork`` where the platform has it; ``forkserver`` once ``torch.distributed`` is initialised.

    A DDP process has communication threads that enter Python (gloo's run loops hold a Python thread state),
    and a CPython without the fix of python/cpython#112275 (this machine's 3.11.7 among them) can fork a child
    that hangs forever in ``PyOS_AfterFork_Child`` when another thread held the interpreter's thread-list lock
    at that moment: the DDP test hung so once here (in one of three full runs of the suite), the worker stuck
    there (gdb) and its rank waiting for its data. A forkserver forks workers from a process without those
    threads; they unpickle the dataset once (the workers are persistent) instead of inheriting it.
    """
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods and torch.distributed.is_available() and torch.distributed.is_initialized():
        return "forkserver"
    return "fork" if "fork" in methods else None


def make_loader(
    dataset: Dataset,
    *,
    collate_fn: Callable[[list[Any]], Any],
    num_workers: int,
    batch_size: int | None = None,
    sampler: Sampler | Iterable | None = None,
    batch_sampler: Sampler[list] | Iterable[list] | None = None,
    persistent_workers: bool = True,
    pin_memory: bool | None = None,
    multiprocessing_context: str | None = None,
    prefetch_factor: int = 2,
) -> DataLoader:
    """The DataLoader of every datamodule of this package; batches come from ``batch_size`` (with an optional
    ``sampler`` of keys) or from a ``batch_sampler`` of whole batches, never both.

    The defaults, and why they are the defaults:

    - ``persistent_workers=True``: a worker keeps its warm state across epochs (probed durations, decoder
      state, the quarantine of titles that failed) and a fork of many workers per epoch is not paid again.
      A datamodule whose constructor defaults otherwise passes its own value; the constructors' defaults are
      part of the configs and stay theirs.
    - ``pin_memory=None``: pin when CUDA is available, so batches copy to the GPU asynchronously; pinning
      without a GPU only costs page-locked memory.
    - ``multiprocessing_context=None``: ``fork`` where the platform has it, so workers inherit the parsed
      split or manifest and the imported decoders instead of unpickling the dataset and importing PyAV again;
      ``forkserver`` under ``torch.distributed`` (``default_start_method``).
    - one torch thread per worker (``one_thread_worker``): parallelism comes from the number of workers, and
      every worker running a full thread pool would oversubscribe the cores.
    - ``prefetch_factor=2`` batches per worker (torch's own default), made explicit.

    Without workers (``num_workers=0``) the worker-only settings are left out, as DataLoader requires.
    """
    if (batch_sampler is None) == (batch_size is None):
        raise ValueError("make_loader: give either batch_size (and optionally sampler) or batch_sampler")
    if batch_sampler is not None and sampler is not None:
        raise ValueError("make_loader: a batch_sampler already chooses the keys; do not give a sampler too")
    workers = num_workers > 0
    if multiprocessing_context is None:
        multiprocessing_context = default_start_method()
    return DataLoader(
        dataset,
        batch_size=1 if batch_sampler is not None else batch_size,
        shuffle=False,
        sampler=sampler,
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=persistent_workers and workers,
        multiprocessing_context=multiprocessing_context if workers else None,
        worker_init_fn=one_thread_worker if workers else None,
        prefetch_factor=prefetch_factor if workers else None,
    )
