"""Walk-forward folds: in-sample and out-of-sample day windows over the chain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridbt.optimize.spec import WalkForward

__all__ = ["Fold", "folds_of"]


@dataclass(frozen=True)
class Fold:
    """Day-index windows [lo, hi) of one fold; the whole chain is one in-sample fold when the
    study has no walk-forward (then `oos` is None)."""

    number: int  # 1-based
    in_sample: tuple[int, int]
    oos: tuple[int, int] | None


def folds_of(n_days: int, wf: WalkForward | None, where: str = "walk_forward") -> list[Fold]:
    """The folds of `wf` over `n_days` trading days (see `WalkForward`), or raise ValueError
    when a window would be too short to trade."""
    if wf is None:
        return [Fold(1, (0, n_days), None)]
    n_segments = wf.folds + wf.in_sample_segments
    edges = np.linspace(0, n_days, n_segments + 1).round().astype(int)
    folds = []
    for k in range(1, wf.folds + 1):
        test = wf.in_sample_segments + k - 1
        hi = int(edges[test])
        lo = 0 if wf.scheme == "anchored" else int(edges[test - wf.in_sample_segments])
        oos_lo, oos_hi = min(hi + wf.gap_days, int(edges[test + 1])), int(edges[test + 1])
        if hi - lo < 20 or oos_hi - oos_lo < 20:
            raise ValueError(
                f"{where}: fold {k} has {hi - lo} in-sample and {oos_hi - oos_lo} out-of-sample "
                f"days of {n_days}; use fewer folds or a smaller gap_days"
            )
        folds.append(Fold(k, (lo, hi), (oos_lo, oos_hi)))
    return folds
