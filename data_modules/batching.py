"""How decoded clips become batches, the same for long-form and downstream data.

The decoder fixes only the short side, so files with other aspect ratios give frames of other widths;
a batch is cut to the smallest frame in it, centred. Workers decode with one thread each: parallelism
comes from the number of workers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


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
    """DataLoader worker_init_fn: one torch thread per decoding worker."""
    torch.set_num_threads(1)
