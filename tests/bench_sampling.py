"""Planning cost of the (k, w) sampler at paper scale: 10,000 titles of 3,600 slots, global batch 512.

Run: ``.venv/bin/python -m tests.bench_sampling`` from the repository root. Not collected by pytest (no test_
functions, file name does not match test_*.py): performance is reported, never asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from data_modules.sampling import LongFormBatchSampler


def time_planning(num_slots: np.ndarray, k: int, w: int | str, batch_size: int, batches: int) -> float:
    """Seconds to plan ``batches`` global batches (plan_batch, the work every rank does per step)."""
    sampler = LongFormBatchSampler(num_slots, k=k, w=w, batch_size=batch_size, seed=0)
    sampler.plan_batch(0, 0)
    start = time.perf_counter()
    for i in range(batches):
        sampler.plan_batch(0, i)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--titles", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=3_600)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--batches", type=int, default=1_000)
    args = parser.parse_args()
    num_slots = np.full(args.titles, args.slots, dtype=np.int64)
    print(
        f"{args.titles} titles x {args.slots} slots, global batch {args.batch_size}, {args.batches} batches planned"
    )
    for k, w in [(16, "Mn"), (16, 64), (1, "Mn")]:
        seconds = time_planning(num_slots, k, w, args.batch_size, args.batches)
        print(
            f"k={k:<3} w={w!s:<4} {seconds:7.3f} s  {args.batches / seconds:9.0f} batches/s  "
            f"{1e6 * seconds / args.batches:7.1f} us/batch"
        )


if __name__ == "__main__":
    main()
