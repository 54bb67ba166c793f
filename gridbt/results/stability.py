"""Whether a sweep's good ranks hold over time: rank correlations between time blocks.

PBO asks how often the in-sample best falls below the median out of sample. This answers the
plainer question a researcher asks next: across all the runs, does a run's rank in one stretch
of days say anything about its rank in the next? From each run's block statistics (count, sum
and sum of squares of its daily returns in each of the sweep's `pbo_blocks` time blocks), the
Sharpe ratio per block and per half of the blocks, and Spearman correlations between them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gridbt._typing import FloatArray
from gridbt.kernel.metrics import ANNUALISATION
from gridbt.kernel.overfitting import sharpe_from_block_stats
from gridbt.results.models import Stability, TimeBlock

__all__ = ["MAX_POINTS", "spearman", "stability_of", "top_decile_percentile"]

#: the most [first half, second half] pairs a Stability carries
MAX_POINTS = 2_000


def spearman(a: FloatArray, b: FloatArray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either side is
    constant or fewer than 3 values are finite in both."""
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return None
    return _pearson(_ranks(a[keep]), _ranks(b[keep]))


def top_decile_percentile(first: FloatArray, second: FloatArray) -> float | None:
    """The median percentile in `second` of the top 10% by `first` (higher is better in
    both; 0.5 is what chance gives, 1 the best); None with no value finite in both."""
    keep = np.isfinite(first) & np.isfinite(second)
    if not keep.any():
        return None
    a, b = first[keep], second[keep]
    top = np.argsort(-a, kind="stable")[: max(1, len(a) // 10)]
    return float(np.median(pd.Series(b).rank(pct=True).to_numpy()[top]))


def _ranks(values: FloatArray) -> FloatArray:
    return np.asarray(pd.Series(values).rank().to_numpy(), dtype=float)


def _pearson(ra: FloatArray, rb: FloatArray) -> float | None:
    if ra.std() == 0 or rb.std() == 0:
        return None
    value = float(np.corrcoef(ra, rb)[0, 1])
    return value if math.isfinite(value) else None


def stability_of(stats: FloatArray, dates: np.ndarray) -> Stability:
    """The `Stability` of runs with block statistics `stats` (runs, blocks, 3) over the chain's
    `dates` (one more than the returns the blocks count)."""
    n_runs, n_blocks, _ = stats.shape
    lengths = stats[0, :, 0].astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    day = np.asarray(dates).astype("datetime64[D]")
    per_block = sharpe_from_block_stats(stats, np.eye(n_blocks, dtype=bool))  # (blocks, runs)
    if np.isfinite(per_block).all():  # each block ranked once, not once per pair
        ranks = [_ranks(row) for row in per_block]
        correlations = [_pearson(ranks[b], ranks[b + 1]) for b in range(n_blocks - 1)]
    else:
        correlations = [spearman(per_block[b], per_block[b + 1]) for b in range(n_blocks - 1)]
    blocks = [TimeBlock(first=str(day[starts[b] + 1]), last=str(day[starts[b] + lengths[b]]),
                        rank_correlation_next=correlations[b] if b < n_blocks - 1 else None)
              for b in range(n_blocks)]
    known = [c for c in correlations if c is not None]
    first = np.arange(n_blocks) < n_blocks // 2
    halves = sharpe_from_block_stats(stats, np.stack([first, ~first])) * math.sqrt(ANNUALISATION)
    in_half, out_half = halves[0], halves[1]
    order = np.argsort(-in_half, kind="stable")
    shown = (order if n_runs <= MAX_POINTS
             else order[np.linspace(0, n_runs - 1, MAX_POINTS).round().astype(np.int64)])
    split = int(starts[n_blocks // 2])
    return Stability(
        runs=n_runs, blocks=blocks,
        mean_rank_correlation=float(np.mean(known)) if known else None,
        halves=[str(day[1]), str(day[split]), str(day[split + 1]), str(day[-1])],
        halves_rank_correlation=spearman(in_half, out_half),
        top_decile_percentile=top_decile_percentile(in_half, out_half),
        points=[[float(in_half[i]), float(out_half[i])] for i in shown],
    )
