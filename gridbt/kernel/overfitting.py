"""Overfitting statistics of a sweep: deflated Sharpe ratio, probability of backtest overfitting.

A sweep tries many parameter combinations and keeps the best, so the best in-sample Sharpe ratio
is biased upwards. Two statistics measure by how much:

- the deflated Sharpe ratio (DSR; Bailey & López de Prado 2014, "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality"): the probability that
  the best combination's true Sharpe ratio exceeds the best one expected from ``n_trials``
  skill-less trials;
- the probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation
  (CSCV; Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of Backtest Overfitting"):
  the share of in-sample/out-of-sample splits of time in which the in-sample best combination
  ranks in the bottom half out of sample.

A sweep of up to ~1e6 combinations cannot hold the full (combinations x days) return matrix, so
CSCV runs on per-block sufficient statistics: each combination's daily returns are cut into
``S`` contiguous, near-equal time blocks (``np.array_split`` boundaries) and reduced to the
count, sum and sum of squares of each block (`block_return_stats`). The Sharpe ratio of any
union of blocks then follows from those sums, exact up to rounding; the rounding only matters
for returns whose standard deviation is orders of magnitude below their mean.

Conventions: simple daily returns; risk-free rate 0; Sharpe ratio = mean / std (``ddof=1``),
per period (not annualised), 0 when the standard deviation is 0; kurtosis is plain (normal = 3).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from gridbt._typing import BoolArray, FloatArray, IntArray

__all__ = [
    "DSRResult",
    "PBOResult",
    "block_return_stats",
    "daily_returns",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_from_block_stats",
]

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()
_EPS = float(np.finfo(np.float64).eps)
# Size of one (block sets x rows) float64 array per chunk of split pairs (two sets per pair);
# about six arrays of this size are alive at once. Small enough to stay near the CPU caches,
# large enough that the matrix product amortises reading the block sums; at least a few pairs
# per chunk, for the same reason, when there are very many rows.
_CHUNK_BYTES = 8 * 2**20
_MIN_CHUNK_PAIRS = 2
# Block sets are ranked as int64 bit masks.
_MAX_BLOCKS = 62


def daily_returns(equity: FloatArray) -> FloatArray:
    """Compute simple daily returns of equity curves.

    Parameters
    ----------
    equity
        Equity at each day's close, shape ``(n_rows, n_days)`` (one curve per row) or
        ``(n_days,)`` for one curve.

    Returns
    -------
    FloatArray
        ``equity[..., t] / equity[..., t - 1] - 1`` for ``t = 1 .. n_days - 1``, shape
        ``(n_rows, n_days - 1)`` (``(n_days - 1,)`` for 1-D input). Where the previous equity is
        ``<= 0`` the return is 0: a blown-up account has no defined return, and 0 keeps the day
        in the count so every row has the same number of returns. (The KPI kernel instead stops
        a row's return statistics at ruin.) Non-finite equity gives non-finite returns.
    """
    values = np.asarray(equity, dtype=np.float64)
    if values.ndim not in (1, 2):
        raise ValueError(f"equity must be 1-D or 2-D, got shape {values.shape}")
    previous = values[..., :-1]
    out = np.zeros(previous.shape, dtype=np.float64)
    alive = ~(previous <= 0.0)  # NaN stays alive, so that it propagates
    np.divide(values[..., 1:], previous, out=out, where=alive)
    np.subtract(out, 1.0, out=out, where=alive)
    return out


def block_return_stats(equity: FloatArray, n_blocks: int) -> FloatArray:
    """Reduce equity curves to per-time-block sufficient statistics of their daily returns.

    Parameters
    ----------
    equity
        Equity at each day's close, shape ``(n_rows, n_days)`` or ``(n_days,)`` for one curve.
    n_blocks
        Number of contiguous time blocks; the ``n_days - 1`` daily returns (see
        `daily_returns`) are cut at ``np.array_split`` boundaries. Must be between 1 and the
        number of returns, so that no block is empty.

    Returns
    -------
    FloatArray
        Shape ``(n_rows, n_blocks, 3)`` (``(n_blocks, 3)`` for 1-D input): the count, sum and
        sum of squares of the daily returns in each block.
    """
    returns = daily_returns(equity)
    n_returns = returns.shape[-1]
    if not 1 <= n_blocks <= n_returns:
        raise ValueError(
            f"n_blocks must be between 1 and the number of daily returns ({n_returns}), "
            f"got {n_blocks}"
        )
    rows = returns.reshape(-1, n_returns)
    # Same boundaries as np.array_split: the first n_returns % n_blocks blocks get one more day.
    size, extra = divmod(n_returns, n_blocks)
    lengths = np.full(n_blocks, size, dtype=np.int64)
    lengths[:extra] += 1
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    stats = np.empty((rows.shape[0], n_blocks, 3), dtype=np.float64)
    stats[:, :, 0] = lengths
    stats[:, :, 1] = np.add.reduceat(rows, starts, axis=1)
    stats[:, :, 2] = np.add.reduceat(rows * rows, starts, axis=1)
    return stats.reshape(*returns.shape[:-1], n_blocks, 3)


def sharpe_from_block_stats(stats: FloatArray, mask: npt.ArrayLike) -> FloatArray:
    """Compute the Sharpe ratio of the concatenated returns of a set of time blocks.

    Parameters
    ----------
    stats
        Block statistics from `block_return_stats`, shape ``(n_rows, n_blocks, 3)`` or
        ``(n_blocks, 3)``.
    mask
        Boolean, shape ``(n_blocks,)`` for one set of blocks or ``(n_sets, n_blocks)`` for
        several; ``True`` marks the blocks whose returns are concatenated.

    Returns
    -------
    FloatArray
        Per-period Sharpe ratio (mean / std with ``ddof=1``, risk-free 0) of each row over the
        selected blocks, shape ``mask.shape[:-1] + stats.shape[:-2]``. It is 0 when the standard
        deviation is 0 or within the rounding error of the sums (e.g. constant returns), and when
        fewer than two returns are selected.
    """
    values = _checked_stats(stats, ndims=(2, 3))
    masks = np.asarray(mask, dtype=np.bool_)
    n_blocks = values.shape[-2]
    if masks.ndim not in (1, 2) or masks.shape[-1] != n_blocks:
        raise ValueError(f"mask must have shape (n_sets, {n_blocks}), got {masks.shape}")
    block_sums = _BlockSums(values.reshape(-1, n_blocks, 3))
    sets = masks.reshape(-1, n_blocks)
    sharpe = block_sums.sharpe(sets, _Workspace.allocate(sets.shape[0], block_sums.n_rows))
    return sharpe.reshape(masks.shape[:-1] + values.shape[:-2])


@dataclass(frozen=True, eq=False)
class PBOResult:
    """Outcome of combinatorially symmetric cross-validation (CSCV) over a sweep.

    Attributes
    ----------
    pbo
        Probability of backtest overfitting: share of splits whose logit is ``<= 0``, i.e. in
        which the in-sample best row ranks at or below the median out of sample.
    n_splits
        Number of in-sample/out-of-sample splits evaluated.
    n_blocks
        Number of time blocks ``S``; each split puts ``S / 2`` of them in sample.
    logits
        ``ln(w / (1 - w))`` per split, with ``w = rank / (n_rows + 1)`` the out-of-sample
        relative rank of the in-sample best row (average rank for ties), in the order of
        `splits`.
    performance_degradation_slope
        OLS slope of the in-sample best row's out-of-sample Sharpe on its in-sample Sharpe across
        splits; NaN when the in-sample Sharpes do not vary.
    prob_oos_loss
        Share of splits in which the in-sample best row has an out-of-sample Sharpe below 0.
    splits
        In-sample block masks, shape ``(n_splits, n_blocks)``, in lexicographic order of the
        in-sample block index sets (a sample keeps that order).
    best_index
        Row index of the in-sample best row per split (ties go to the lowest index).
    in_sample_sharpe
        In-sample Sharpe of the in-sample best row per split.
    out_of_sample_sharpe
        Out-of-sample Sharpe of the in-sample best row per split.
    """

    pbo: float
    n_splits: int
    n_blocks: int
    logits: FloatArray
    performance_degradation_slope: float
    prob_oos_loss: float
    splits: BoolArray
    best_index: IntArray
    in_sample_sharpe: FloatArray
    out_of_sample_sharpe: FloatArray


def probability_of_backtest_overfitting(
    stats: FloatArray, *, max_splits: int | None = 5000, seed: int = 0
) -> PBOResult:
    """Estimate the probability of backtest overfitting by CSCV on block statistics.

    For each split of the ``S`` time blocks into ``S / 2`` in-sample and ``S / 2``
    out-of-sample blocks: compute every row's in-sample Sharpe, pick the in-sample best row
    (ties: lowest row index), rank its out-of-sample Sharpe among all rows' out-of-sample
    Sharpes and take the logit of that relative rank.

    Parameters
    ----------
    stats
        Block statistics from `block_return_stats`, shape ``(n_rows, S, 3)``, one row per
        parameter combination. Needs ``n_rows >= 2``, ``S`` even in ``[2, 62]``, finite values.
    max_splits
        Evaluate all ``C(S, S / 2)`` splits when there are at most this many (or when None).
        Otherwise evaluate ``max_splits`` distinct splits: a uniform sample, drawn with `seed`,
        of ``ceil(max_splits / 2)`` complementary pairs of splits (each split together with the
        split that swaps its in- and out-of-sample blocks, as in the full CSCV), the complement
        of the last pair dropped when ``max_splits`` is odd.
    seed
        Seed of the split sample; unused when all splits are evaluated.

    Returns
    -------
    PBOResult
        PBO, per-split logits and the in-sample best row's in- and out-of-sample Sharpes.
    """
    values = _checked_stats(stats, ndims=(3,))
    n_rows, n_blocks, _ = values.shape
    if n_rows < 2:
        raise ValueError(f"CSCV needs at least 2 rows (combinations), got {n_rows}")
    if n_blocks < 2 or n_blocks % 2 or n_blocks > _MAX_BLOCKS:
        raise ValueError(
            f"CSCV needs an even number of blocks between 2 and {_MAX_BLOCKS}, got {n_blocks}"
        )
    if max_splits is not None and max_splits < 1:
        raise ValueError(f"max_splits must be >= 1 or None, got {max_splits}")

    pairs, n_splits = _pair_masks(n_blocks, max_splits, seed)
    block_sums = _BlockSums(values)
    # Both splits of a pair use the same two Sharpe arrays (in-sample of one is out-of-sample
    # of the other), so each block set's Sharpe ratios are computed once.
    n_pairs = pairs.shape[0]
    chunk = max(_MIN_CHUNK_PAIRS, _CHUNK_BYTES // (16 * n_rows))
    work = _Workspace.allocate(2 * chunk, n_rows)
    flags = np.empty((chunk, n_rows), dtype=np.bool_)
    best = np.empty((2, n_pairs), dtype=np.int64)
    in_sample = np.empty((2, n_pairs), dtype=np.float64)
    out_of_sample = np.empty((2, n_pairs), dtype=np.float64)
    rank = np.empty((2, n_pairs), dtype=np.float64)
    for start in range(0, n_pairs, chunk):
        part = slice(start, start + chunk)
        n_part = pairs[part].shape[0]
        sharpe = block_sums.sharpe(np.concatenate((pairs[part], ~pairs[part])), work)
        side, other = sharpe[:n_part], sharpe[n_part:]
        for orientation, (is_sharpe, oos_sharpe) in enumerate(((side, other), (other, side))):
            (
                best[orientation, part],
                in_sample[orientation, part],
                out_of_sample[orientation, part],
                rank[orientation, part],
            ) = _rank_in_sample_best(is_sharpe, oos_sharpe, flags[: is_sharpe.shape[0]])

    # Splits in lexicographic order of their in-sample block sets; an odd sample size drops
    # the complement split of the last sampled pair.
    splits = np.concatenate((pairs, ~pairs))[:n_splits]
    order = _lexicographic_order(splits)
    splits = splits[order]
    best = best.reshape(-1)[:n_splits][order]
    in_sample = in_sample.reshape(-1)[:n_splits][order]
    out_of_sample = out_of_sample.reshape(-1)[:n_splits][order]
    rank = rank.reshape(-1)[:n_splits][order]
    relative_rank = rank / (n_rows + 1)
    logits = np.log(relative_rank / (1.0 - relative_rank))
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        n_splits=n_splits,
        n_blocks=n_blocks,
        logits=logits,
        performance_degradation_slope=_ols_slope(in_sample, out_of_sample),
        prob_oos_loss=float(np.mean(out_of_sample < 0.0)),
        splits=splits,
        best_index=best,
        in_sample_sharpe=in_sample,
        out_of_sample_sharpe=out_of_sample,
    )


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe ratio of skill-less trials (Bailey & López de Prado 2014, eq. 5).

    Parameters
    ----------
    n_trials
        Number of independent trials ``N >= 1``.
    sharpe_variance
        Variance across the trials of their estimated Sharpe ratios, in the units (per period)
        of the Sharpe ratio the result is compared with.

    Returns
    -------
    float
        ``sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))`` with ``g`` the
        Euler-Mascheroni constant and ``Z^-1`` the standard normal quantile; 0 for one trial
        (the expected Sharpe of a single skill-less trial).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0.0):
        raise ValueError(f"sharpe_variance must be finite and >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    quantile = (1.0 - EULER_MASCHERONI) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    quantile += EULER_MASCHERONI * _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * quantile


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio exceeds a benchmark (PSR).

    Parameters
    ----------
    sharpe
        Estimated per-period Sharpe ratio.
    benchmark
        Per-period benchmark Sharpe ratio.
    n_obs
        Number of returns the estimate is based on, ``>= 2``.
    skew
        Skewness of the returns.
    kurtosis
        Plain (non-excess) kurtosis of the returns; 3 for normal returns.

    Returns
    -------
    float
        ``Phi((SR - SR*) sqrt(n_obs - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``.
    """
    for name, value in (("sharpe", sharpe), ("benchmark", benchmark), ("skew", skew)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if not math.isfinite(kurtosis):
        raise ValueError(f"kurtosis must be finite, got {kurtosis}")
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2, got {n_obs}")
    radicand = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if radicand < 0.0:
        # Impossible for real data: any distribution has kurtosis >= skew^2 + 1.
        raise ValueError(
            f"skew {skew} and kurtosis {kurtosis} give a negative Sharpe variance at "
            f"Sharpe {sharpe}; kurtosis must be >= skew**2 + 1"
        )
    excess = sharpe - benchmark
    if radicand == 0.0:
        # The Sharpe estimate has no sampling error (two-point returns at this exact Sharpe).
        return 1.0 if excess > 0.0 else 0.0 if excess < 0.0 else 0.5
    return _NORMAL.cdf(excess * math.sqrt(n_obs - 1) / math.sqrt(radicand))


@dataclass(frozen=True)
class DSRResult:
    """Deflated Sharpe ratio of a sweep's best combination and its inputs.

    Attributes
    ----------
    dsr
        PSR against `expected_max_sharpe`: probability that the true Sharpe exceeds the best
        Sharpe expected from ``n_trials`` skill-less trials.
    psr_zero
        PSR against a benchmark of 0 (no selection correction).
    expected_max_sharpe
        The benchmark of `dsr`, per period.
    sharpe
        Per-period Sharpe ratio of the returns (mean / std with ``ddof=1``).
    n_trials
        Number of trials the best was selected from.
    n_obs
        Number of returns.
    skew
        Skewness of the returns (biased moment estimator, ``m3 / m2**1.5``).
    kurtosis
        Plain kurtosis of the returns (biased moment estimator, ``m4 / m2**2``).
    """

    dsr: float
    psr_zero: float
    expected_max_sharpe: float
    sharpe: float
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float


def deflated_sharpe_ratio(
    returns: FloatArray, *, n_trials: int, sharpe_variance: float
) -> DSRResult:
    """Compute the deflated Sharpe ratio of the best of ``n_trials`` combinations.

    Parameters
    ----------
    returns
        Per-period returns of the selected (best) combination, 1-D, at least 2, finite.
    n_trials
        Number of combinations tried.
    sharpe_variance
        Variance across the trials of their per-period Sharpe ratios.

    Returns
    -------
    DSRResult
        DSR, PSR against 0, the deflating benchmark and the moments used. Constant returns have
        Sharpe 0 and are given the normal skew 0 and kurtosis 3.
    """
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] < 2:
        raise ValueError(f"returns must be 1-D with at least 2 values, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("returns must be finite")
    n_obs = values.shape[0]
    deviation = values - values.mean()
    m2 = float(np.mean(deviation**2))
    if m2 > 0.0:
        sharpe = float(values.mean()) / math.sqrt(m2 * n_obs / (n_obs - 1))
        skew = float(np.mean(deviation**3)) / m2**1.5
        kurtosis = float(np.mean(deviation**4)) / m2**2
    else:
        sharpe, skew, kurtosis = 0.0, 0.0, 3.0
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return DSRResult(
        dsr=probabilistic_sharpe_ratio(sharpe, benchmark, n_obs, skew, kurtosis),
        psr_zero=probabilistic_sharpe_ratio(sharpe, 0.0, n_obs, skew, kurtosis),
        expected_max_sharpe=benchmark,
        sharpe=sharpe,
        n_trials=n_trials,
        n_obs=n_obs,
        skew=skew,
        kurtosis=kurtosis,
    )


def _checked_stats(stats: FloatArray, ndims: tuple[int, ...]) -> FloatArray:
    """Block statistics as float64, or ValueError if their shape or values are impossible."""
    values = np.asarray(stats, dtype=np.float64)
    if values.ndim not in ndims or values.shape[-1] != 3:
        raise ValueError(f"stats must have shape (n_rows, n_blocks, 3), got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("stats must be finite")
    if (values[..., 0] < 0.0).any() or (values[..., 2] < 0.0).any():
        raise ValueError("stats must have counts and sums of squares >= 0")
    return values


class _BlockSums:
    """Block statistics laid out for Sharpe ratios of many block sets at once.

    Sums and sums of squares are stored as one (S, 2 * n_rows) matrix, so that the sums of a
    chunk of block sets are a single matrix product with their (K, S) masks. Counts are kept
    per block only when every row has the same block lengths (always so for a sweep on one
    calendar), which saves a third of the product and of the Sharpe arithmetic.
    """

    def __init__(self, stats: FloatArray) -> None:
        n_rows, n_blocks, _ = stats.shape
        self.n_rows = n_rows
        self.moments = np.ascontiguousarray(stats[:, :, 1:].transpose(1, 2, 0)).reshape(
            n_blocks, 2 * n_rows
        )
        counts = stats[:, :, 0].T
        common = bool((counts == counts[:, :1]).all())
        self.counts = np.ascontiguousarray(counts[:, :1] if common else counts)

    def sharpe(self, masks: BoolArray, work: _Workspace) -> FloatArray:
        """Sharpe of every row over each block set: (K, S) masks -> (K, n_rows), in `work`."""
        n_sets, n_rows = masks.shape[0], self.n_rows
        weights = masks.astype(np.float64)
        sums = np.matmul(weights, self.moments, out=work.sums[:n_sets])
        total, squares = sums[:, :n_rows], sums[:, n_rows:]
        count = weights @ self.counts
        if (count < 1.0).any():
            raise ValueError("every block set needs at least one return")
        mean = np.divide(total, count, out=work.mean[:n_sets])
        # q - s^2/n cancels; below the rounding error of the summed squares it is noise, not
        # spread (e.g. constant returns), and the Sharpe ratio is 0.
        tolerance = np.multiply(squares, 4.0 * _EPS * count, out=work.tolerance[:n_sets])
        centred = np.subtract(squares, np.multiply(total, mean, out=total), out=squares)
        flat = np.less_equal(centred, tolerance, out=work.flat[:n_sets])
        if (count < 2.0).any():
            flat |= count < 2.0
        # Unmasked ufuncs are several times faster than `where=`; flat entries are reset after.
        np.copyto(centred, 1.0, where=flat)
        scale = np.sqrt(np.maximum(count - 1.0, 1.0))
        out = work.sharpe[:n_sets]
        np.divide(np.multiply(mean, scale, out=mean), np.sqrt(centred, out=centred), out=out)
        np.copyto(out, 0.0, where=flat)
        return out


@dataclass
class _Workspace:
    """Reused buffers for `_BlockSums.sharpe`: fresh large temporaries cost page faults."""

    sums: FloatArray
    mean: FloatArray
    tolerance: FloatArray
    flat: BoolArray
    sharpe: FloatArray

    @classmethod
    def allocate(cls, n_sets: int, n_rows: int) -> _Workspace:
        def buffer() -> FloatArray:
            return np.empty((n_sets, n_rows), dtype=np.float64)

        return cls(
            sums=np.empty((n_sets, 2 * n_rows), dtype=np.float64),
            mean=buffer(),
            tolerance=buffer(),
            flat=np.empty((n_sets, n_rows), dtype=np.bool_),
            sharpe=buffer(),
        )


def _rank_in_sample_best(
    is_sharpe: FloatArray, oos_sharpe: FloatArray, flags: BoolArray
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """Per split (row): in-sample best row, its in- and out-of-sample Sharpe, its OOS rank.

    The rank is 1-based among the out-of-sample Sharpes, averaged over ties; `flags` is a
    buffer of the Sharpe arrays' shape.
    """
    best = np.argmax(is_sharpe, axis=1)
    taken = np.arange(best.shape[0])
    oos_best = oos_sharpe[taken, best]
    below = np.count_nonzero(np.less(oos_sharpe, oos_best[:, None], out=flags), axis=1)
    tied = np.count_nonzero(np.equal(oos_sharpe, oos_best[:, None], out=flags), axis=1)
    return best, is_sharpe[taken, best], oos_best, below + (tied + 1) / 2.0


def _pair_masks(n_blocks: int, max_splits: int | None, seed: int) -> tuple[BoolArray, int]:
    """In-sample masks of one side of each complementary pair of splits, and the split count.

    Each pair is represented by its block set that contains block 0; the other split of the
    pair is its complement. All pairs when ``C(S, S/2) <= max_splits`` (or None), else a
    seeded uniform sample of ``ceil(max_splits / 2)`` distinct pairs.
    """
    half = n_blocks // 2
    total = math.comb(n_blocks, half)
    n_pairs = total // 2
    if max_splits is None or total <= max_splits:
        rests: Iterable[Sequence[int]] = itertools.combinations(range(n_blocks - 1), half - 1)
        n_splits = total
    else:
        drawn = np.random.default_rng(seed).choice(n_pairs, size=-(-max_splits // 2), replace=False)
        rests = [_unrank_combination(int(r), n_blocks - 1, half - 1) for r in np.sort(drawn)]
        n_splits = max_splits
    masks = np.zeros(((n_splits + 1) // 2, n_blocks), dtype=np.bool_)
    masks[:, 0] = True
    for i, rest in enumerate(rests):
        masks[i, [block + 1 for block in rest]] = True
    return masks, n_splits


def _unrank_combination(rank: int, n: int, k: int) -> list[int]:
    """The `rank`-th k-subset of range(n) in lexicographic (itertools.combinations) order."""
    chosen: list[int] = []
    candidate = 0
    while len(chosen) < k:
        # Subsets that start with `candidate` here: choose the rest from the larger elements.
        with_candidate = math.comb(n - candidate - 1, k - len(chosen) - 1)
        if rank < with_candidate:
            chosen.append(candidate)
        else:
            rank -= with_candidate
        candidate += 1
    return chosen


def _lexicographic_order(masks: BoolArray) -> IntArray:
    """Order of equal-size block sets as their sorted index tuples sort lexicographically.

    Reading a mask as a binary number with block 0 as the most significant bit, a set that
    comes first lexicographically is the larger number.
    """
    weights = 2 ** np.arange(masks.shape[1] - 1, -1, -1, dtype=np.int64)
    return np.argsort(-(masks.astype(np.int64) @ weights), kind="stable")


def _ols_slope(x: FloatArray, y: FloatArray) -> float:
    """OLS slope of y on x; NaN when x does not vary."""
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx <= 0.0:
        return float("nan")
    return float(dx @ (y - y.mean())) / sxx
