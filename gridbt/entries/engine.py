"""The seam between a strategy and the candidate kernels: encode the structure and the exit
rules into arrays, find every candidate entry, walk each under every rule (docs/entries.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from gridbt._typing import FloatArray, Int32Array, IntArray
from gridbt.data.pack import PackedChain
from gridbt.entries import candidates_nb as nb
from gridbt.kernel.dispatch import chain_arrays
from gridbt.kernel.enums import MAX_LEGS, SelectBy
from gridbt.strategy.spec import (
    DteWindow,
    ExitConfig,
    SelectDelta,
    SelectMoneyness,
    SelectOffset,
    SignalAlways,
    StrategySpec,
)

__all__ = ["Candidates", "encode_legs", "encode_rules", "find_candidates"]


@dataclass(frozen=True)
class Candidates:
    """Every candidate entry and its outcome per exit rule (arrays indexed by candidate `k`;
    per-rule arrays (n_rules, n_candidates)); money per structure contract, in currency."""

    day_start: IntArray  # (n_days + 1): day d's candidates are day_start[d] .. day_start[d + 1]
    day: Int32Array  # entry day index
    rows: IntArray  # (n, MAX_LEGS) entry quote rows, -1 past the structure's legs
    entry_cash: FloatArray  # fills and commissions at entry (> 0 = credit received)
    risk: FloatArray  # unit of risk (docs/entries.md), NaN when none
    pnl: FloatArray  # (n_rules, n)
    exit_day: Int32Array  # (n_rules, n)
    exit_reason: np.ndarray  # (n_rules, n) int8 ExitReason

    @property
    def count(self) -> int:
        return int(self.day.shape[0])


def encode_legs(spec: StrategySpec) -> FloatArray:
    """The structure's legs as the (n_legs, N_LEG_FIELDS) rows the kernels read."""
    signal = spec.entry.signal
    direction = -1.0 if isinstance(signal, SignalAlways) and signal.direction == "short" else 1.0
    legs = np.zeros((len(spec.structure.legs), nb.N_LEG_FIELDS))
    for i, leg in enumerate(spec.structure.legs):
        row = legs[i]
        row[nb.LEG_RIGHT] = 1.0 if leg.right == "C" else -1.0
        row[nb.LEG_UNITS] = (1.0 if leg.side == "long" else -1.0) * direction * leg.qty
        select = leg.select
        if isinstance(select, SelectDelta):
            row[nb.LEG_SELECT_BY] = SelectBy.DELTA
            row[nb.LEG_TARGET] = select.target
        elif isinstance(select, SelectMoneyness):
            row[nb.LEG_SELECT_BY] = SelectBy.MONEYNESS
            row[nb.LEG_TARGET] = select.target
        else:
            assert isinstance(select, SelectOffset)
            row[nb.LEG_SELECT_BY] = SelectBy.OFFSET
            row[nb.LEG_OF] = select.of
            row[nb.LEG_POINTS] = select.points
        row[nb.LEG_TOLERANCE] = select.tolerance
        row[nb.LEG_GROUP] = leg.expiry_group
        row[nb.LEG_MIN_OI] = leg.min_open_interest
        row[nb.LEG_MIN_VOLUME] = leg.min_volume
        spread = leg.max_relative_spread
        row[nb.LEG_MAX_SPREAD] = np.nan if spread is None else spread
    return legs


def encode_rules(rules: Sequence[ExitConfig]) -> FloatArray:
    """Exit rules as the (n_rules, N_RULE_FIELDS) rows the kernels read (NaN = off)."""

    def opt(value: float | None) -> float:
        return np.nan if value is None else float(value)

    out = np.zeros((len(rules), nb.N_RULE_FIELDS))
    for r, rule in enumerate(rules):
        out[r, nb.RULE_PROFIT_TARGET] = opt(rule.profit_target)
        out[r, nb.RULE_STOP_LOSS] = opt(rule.stop_loss)
        out[r, nb.RULE_DTE] = opt(rule.dte)
        out[r, nb.RULE_MAX_HOLDING] = opt(rule.max_holding_days)
        out[r, nb.RULE_REBALANCE] = opt(rule.rebalance_days)
        out[r, nb.RULE_DELTA_BREACH] = opt(rule.delta_breach)
        out[r, nb.RULE_PERIOD_TRADING] = 1.0 if rule.period_unit == "trading" else 0.0
    return out


def _window(window: DteWindow | None) -> IntArray:
    if window is None:
        return np.array([0, 0, -1], dtype=np.int64)
    return np.array([window.target, window.min, window.max], dtype=np.int64)


def _ranges(n: int, parts: int) -> list[int]:
    """Bounds of `parts` (at most `n`) nearly equal ranges covering `0 .. n`."""
    return [int(b) for b in np.linspace(0, n, max(min(parts, n), 1) + 1).astype(np.int64)]


def _run(task: Callable[[int, int], None], bounds: list[int]) -> None:
    """`task(bounds[i], bounds[i + 1])` for each range, on one thread per range (the kernels
    release the GIL) when there are several."""
    if len(bounds) == 2:
        task(bounds[0], bounds[1])
        return
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        list(pool.map(task, bounds[:-1], bounds[1:]))


def find_candidates(
    packed: PackedChain, spec: StrategySpec, rules: Sequence[ExitConfig], *, threads: int = 1
) -> Candidates:
    """Every candidate entry of `spec`'s structure over the whole chain (every trading day but
    the last), with its outcome per rule of `rules`. With `threads` > 1 the days are searched,
    and the candidates walked, in that many ranges at once (same results: each day and each
    candidate is handled alone)."""
    if threads < 1:
        raise ValueError(f"threads: {threads} is not a positive number of threads")
    chain = chain_arrays(packed)
    legs = encode_legs(spec)
    n_legs = legs.shape[0]
    need = np.zeros((2, 2), dtype=np.int64)
    for leg in spec.structure.legs:
        need[leg.expiry_group, 0 if leg.right == "C" else 1] = 1
    near = _window(spec.structure.dte)
    far = _window(spec.structure.dte_far)
    n_days = packed.n_days
    day_start = np.zeros(n_days + 1, dtype=np.int64)
    empty = np.zeros((0, MAX_LEGS), dtype=np.int64)

    def select(out: np.ndarray) -> Callable[[int, int], None]:
        def days(first: int, end: int) -> None:  # days [first, end): disjoint writes
            nb.candidates_nb(chain, legs, n_legs, near, far, need, first, end, day_start, out)

        return days

    day_bounds = _ranges(max(n_days - 1, 0), threads)  # no entry on the last day
    _run(select(empty), day_bounds)  # counts per day
    np.cumsum(day_start, out=day_start)
    n = int(day_start[-1])
    rows = np.full((n, MAX_LEGS), -1, dtype=np.int64)
    if n:
        _run(select(rows), day_bounds)
    day = np.repeat(np.arange(n_days, dtype=np.int32), np.diff(day_start))
    execution = spec.execution
    encoded = encode_rules(rules)
    pnl = np.full((len(rules), n), np.nan)
    exit_day = np.full((len(rules), n), -1, dtype=np.int32)
    exit_reason = np.full((len(rules), n), -1, dtype=np.int8)
    entry_cash = np.zeros(n)
    units = np.ascontiguousarray(legs[:, nb.LEG_UNITS])

    def walk(k_first: int, k_end: int) -> None:
        nb.outcomes_nb(chain, day, rows, units, n_legs, encoded, execution.slippage,
                       execution.slippage_per_contract, execution.commission_per_contract,
                       spec.multiplier, n_days, pnl, exit_day, exit_reason, entry_cash,
                       k_first, k_end)

    _run(walk, _ranges(n, threads))
    risk = np.full(n, np.nan)
    nb.risk_nb(chain, rows, units, n_legs, spec.multiplier, entry_cash, risk)
    return Candidates(day_start=day_start, day=day, rows=rows, entry_cash=entry_cash, risk=risk,
                      pnl=pnl, exit_day=exit_day, exit_reason=exit_reason)
