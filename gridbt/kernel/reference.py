"""Plain-Python reference implementation of one backtest: the test oracle of the numba kernel.

Written for clarity, not speed. It follows docs/semantics.md step by step; the comments name
the step they implement. Cash is summed exactly with `math.fsum` over every cash flow so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gridbt.data.pack import RIGHT_CALL, RIGHT_PUT, PackedChain
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SkipReason, leg_dt, trade_dt
from gridbt.kernel.result import BacktestResult

if TYPE_CHECKING:
    from gridbt.strategy.spec import (
        DteWindow,
        LegSpec,
        ReentryConfig,
        SignalAlways,
        SignalZScore,
        StrategySpec,
    )

__all__ = ["run_reference"]

_SPREAD_WEIGHT = 0.25
_DEPTH_WEIGHT = 0.10
_NO_SAME_DAY_REENTRY = (ExitReason.EXPIRY, ExitReason.SIGNAL, ExitReason.END_OF_DATA)


@dataclass
class _Leg:
    contract: int
    right: int
    strike: float
    expiry: int
    qty: int
    units: float
    entry_fill: float
    mark: float
    bid: float
    ask: float
    delta: float
    quoted_today: bool = True
    settled: bool = False
    exit_fill: float = 0.0


@dataclass
class _Position:
    entry_day: int
    direction: int
    contracts: int
    legs: list[_Leg]
    value_entry: float
    entry_flows: list[float]
    commissions: list[float]
    exit_flows: list[float] = field(default_factory=list)
    mae: float = 0.0
    mfe: float = 0.0


@dataclass
class _Signal:
    direction: list[int]
    exit: list[bool]


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _zscore(x: np.ndarray, d: int, window: int) -> float | None:
    """z of x(d) against the `window` prior values, or None when undefined."""
    if d < window:
        return None
    prior = [float(v) for v in x[d - window : d]]
    today = float(x[d])
    if not all(_finite(v) for v in prior) or not _finite(today):
        return None
    mean = math.fsum(prior) / window
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in prior) / (window - 1))
    if std == 0.0:
        return None
    return (today - mean) / std


def _signal(packed: PackedChain, signal: SignalAlways | SignalZScore) -> _Signal:
    n = packed.n_days
    if signal.kind == "always":
        return _Signal([1 if signal.direction == "long" else -1] * n, [False] * n)
    x = packed.feature(signal.feature)
    direction, exits = [0] * n, [False] * n
    state = 0
    for d in range(n):
        z = _zscore(x, d, signal.window)
        if z is not None:
            if state == 0:
                if z < -signal.entry:
                    state = 1
                elif z > signal.entry:
                    state = -1
            elif state == 1 and z >= -signal.exit:
                state, exits[d] = 0, True
            elif state == -1 and z <= signal.exit:
                state, exits[d] = 0, True
        direction[d] = -state if signal.inverted else state
    return _Signal(direction, exits)


def _quote_row(packed: PackedChain, contract: int, d: int) -> int | None:
    """The quote row of `contract` on day `d`, if it was quoted that day."""
    lo, hi = int(packed.contract_row_start[contract]), int(packed.contract_row_start[contract + 1])
    days = packed.contract_row_day[lo:hi]
    i = int(np.searchsorted(days, d))
    if i < hi - lo and int(days[i]) == d:
        return int(packed.contract_rows[lo + i])
    return None


def _day_groups(packed: PackedChain, d: int, right: int) -> range:
    if right == RIGHT_CALL:
        return range(int(packed.day_group_start[d]), int(packed.day_put_group_start[d]))
    return range(int(packed.day_put_group_start[d]), int(packed.day_group_start[d + 1]))


def _group_rows(packed: PackedChain, d: int, right: int, expiry: int) -> range:
    for g in _day_groups(packed, d, right):
        if int(packed.group_expiry[g]) == expiry:
            return range(int(packed.group_quote_start[g]), int(packed.group_quote_start[g + 1]))
    return range(0)


def _choose_expiry(packed: PackedChain, d: int, window: DteWindow, rights: set[int]) -> int | None:
    """Expiry nearest `window.target` quoted on `d` in every right, ties to the earlier one."""
    today = int(packed.day_date[d])
    quoted = [
        {int(packed.group_expiry[g]) for g in _day_groups(packed, d, right)} for right in rights
    ]
    best: int | None = None
    for expiry in sorted(set.intersection(*quoted)):
        dte = expiry - today
        if expiry <= today or not window.min <= dte <= window.max:
            continue
        if best is None or abs(dte - window.target) < abs(best - today - window.target):
            best = expiry
    return best


def _count(value: int) -> int:
    """Volume or open interest with a missing value (-1) counted as 0."""
    return max(value, 0)


def _liquid(packed: PackedChain, q: int, leg: LegSpec) -> bool:
    bid, ask = float(packed.quote_bid[q]), float(packed.quote_ask[q])
    if _count(int(packed.quote_open_interest[q])) < leg.min_open_interest:
        return False
    if _count(int(packed.quote_volume[q])) < leg.min_volume:
        return False
    cap = leg.max_relative_spread
    return cap is None or (ask - bid) / ((bid + ask) / 2) <= cap


def _ratio(x: float, top: float) -> float:
    return x / top if top > 0 else 0.0


def _delta_scores(packed: PackedChain, rows: list[tuple[int, float]], tol: float) -> list[float]:
    """Seed-engine leg scores: delta distance + 0.25 spread_norm + 0.10 (1 - depth_norm)."""
    rel = [
        (float(packed.quote_ask[q]) - float(packed.quote_bid[q]))
        / ((float(packed.quote_bid[q]) + float(packed.quote_ask[q])) / 2)
        for q, _ in rows
    ]
    oi = [math.log1p(_count(int(packed.quote_open_interest[q]))) for q, _ in rows]
    vol = [math.log1p(_count(int(packed.quote_volume[q]))) for q, _ in rows]
    max_rel, max_oi, max_vol = max(rel), max(oi), max(vol)
    scores = []
    for (_, dist), r, o, v in zip(rows, rel, oi, vol, strict=True):
        depth = (_ratio(o, max_oi) + _ratio(v, max_vol)) / 2
        spread = _ratio(r, max_rel)
        scores.append(dist / tol + _SPREAD_WEIGHT * spread + _DEPTH_WEIGHT * (1 - depth))
    return scores


def _select_strike(
    packed: PackedChain, rows: range, leg: LegSpec, spot: float, strikes: Sequence[float]
) -> tuple[int | None, int]:
    """The chosen quote row of one leg, or None and the skip reason (step 2.6)."""
    sel = leg.select
    in_range: list[tuple[int, float]] = []
    for q in rows:
        bid, ask = float(packed.quote_bid[q]), float(packed.quote_ask[q])
        if not (_finite(bid) and _finite(ask)) or not (bid + ask) / 2 > 0:
            continue
        strike = float(packed.quote_strike[q])
        if sel.by == "delta":
            delta = float(packed.quote_delta[q])
            if not _finite(delta):
                continue
            dist = abs(abs(delta) - sel.target)
        elif sel.by == "moneyness":
            dist = abs(strike / spot - sel.target)
        else:
            dist = abs(strike - (strikes[sel.of] + sel.points))
        if dist <= sel.tolerance:
            in_range.append((q, dist))
    if not in_range:
        return None, SkipReason.NO_STRIKE
    liquid = [(q, dist) for q, dist in in_range if _liquid(packed, q, leg)]
    if not liquid:
        return None, SkipReason.LIQUIDITY
    if sel.by == "delta":
        scores = _delta_scores(packed, liquid, sel.tolerance)
    else:
        scores = [dist for _, dist in liquid]
    best = 0
    for i in range(1, len(liquid)):
        if scores[i] < scores[best]:  # rows ascend by strike: ties keep the lower strike
            best = i
    return liquid[best][0], -1


def _reentry_allowed(reason: int | None, same_day: ReentryConfig) -> bool:
    if reason is None:
        return True
    allowed = same_day.same_day
    if isinstance(allowed, bool):
        return allowed and reason not in _NO_SAME_DAY_REENTRY
    return ExitReason.NAMES[reason] in allowed


class _Backtest:
    """State of one backtest walking the days of a packed chain."""

    def __init__(self, packed: PackedChain, spec: StrategySpec) -> None:
        self.packed = packed
        self.spec = spec
        self.m = spec.multiplier
        self.slip = spec.execution.slippage
        self.fee = spec.execution.commission_per_contract
        self.signal = _signal(packed, spec.entry.signal)
        self.filters = [(packed.feature(f.feature), f.min, f.max) for f in spec.entry.filters]
        self.cash: list[float] = [spec.capital]
        self.position: _Position | None = None
        self.trades: list[tuple[_Position, int, int]] = []
        self.skips = np.zeros(len(SkipReason.NAMES), dtype=np.int64)
        self.missing_quote_days = 0
        self.stale_fills = 0

    # -- 1. open position ------------------------------------------------------------------

    def mark(self, d: int) -> bool:
        """Step 1.1-1.2: mark or settle every leg; return whether some leg settled."""
        pos = self.position
        assert pos is not None
        packed = self.packed
        today, spot = int(packed.day_date[d]), float(packed.day_spot[d])
        settled = missing = False
        for leg in pos.legs:
            if leg.expiry <= today:
                intrinsic = max(leg.right * (spot - leg.strike), 0.0)
                flow = leg.units * pos.contracts * self.m * intrinsic
                self.cash.append(flow)
                pos.exit_flows.append(flow)
                leg.mark = leg.exit_fill = intrinsic
                leg.settled = settled = True
                continue
            q = _quote_row(packed, leg.contract, d)
            bid = float(packed.quote_bid[q]) if q is not None else math.nan
            ask = float(packed.quote_ask[q]) if q is not None else math.nan
            leg.quoted_today = q is not None and _finite(bid) and _finite(ask)
            if leg.quoted_today:
                assert q is not None
                leg.bid, leg.ask, leg.mark = bid, ask, (bid + ask) / 2
                delta = float(packed.quote_delta[q])
                if _finite(delta):
                    leg.delta = delta
            else:
                missing = True
        if missing:
            self.missing_quote_days += 1
        value = sum(leg.units * leg.mark for leg in pos.legs)
        excursion = (value - pos.value_entry) * pos.contracts * self.m
        pos.mae, pos.mfe = min(pos.mae, excursion), max(pos.mfe, excursion)
        return settled

    def exit_reason(self, d: int, settled: bool) -> int | None:
        """Step 1.3: the first exit rule that fires on `d`, if any."""
        pos = self.position
        assert pos is not None
        rules, packed = self.spec.exit, self.packed
        today = int(packed.day_date[d])
        pnl = sum(leg.units * leg.mark for leg in pos.legs) - pos.value_entry
        premium = abs(pos.value_entry)
        if rules.period_unit == "trading":
            held = d - pos.entry_day
        else:
            held = today - int(packed.day_date[pos.entry_day])
        if settled:
            return ExitReason.EXPIRY
        if rules.stop_loss is not None and premium > 0 and pnl <= -rules.stop_loss * premium:
            return ExitReason.STOP_LOSS
        if rules.profit_target is not None and premium > 0 and pnl >= rules.profit_target * premium:
            return ExitReason.PROFIT_TARGET
        if rules.dte is not None and min(leg.expiry for leg in pos.legs) - today <= rules.dte:
            return ExitReason.DTE
        if rules.max_holding_days is not None and held >= rules.max_holding_days:
            return ExitReason.MAX_HOLDING
        if rules.rebalance_days is not None and held >= rules.rebalance_days:
            return ExitReason.REBALANCE
        if rules.delta_breach is not None and any(
            leg.units < 0 and abs(leg.delta) >= rules.delta_breach for leg in pos.legs
        ):
            return ExitReason.DELTA_BREACH
        if self.signal.exit[d]:
            return ExitReason.SIGNAL
        if d == packed.n_days - 1:
            return ExitReason.END_OF_DATA
        return None

    def close(self, d: int, reason: int) -> None:
        """Step 1.4: fill every unsettled leg at its last known quote and record the trade."""
        pos = self.position
        assert pos is not None
        n = pos.contracts
        for leg in pos.legs:
            if leg.settled:
                continue
            mid = (leg.bid + leg.ask) / 2
            if leg.units > 0:
                fill = mid - self.slip * (mid - leg.bid)
            else:
                fill = mid + self.slip * (leg.ask - mid)
            if not leg.quoted_today:
                self.stale_fills += 1
            leg.exit_fill = fill
            # closing reverses the entry's -u * fill: a long sold brings cash in
            flow = leg.units * n * self.m * fill
            commission = self.fee * leg.qty * n
            self.cash += [flow, -commission]
            pos.exit_flows.append(flow)
            pos.commissions.append(commission)
        self.trades.append((pos, d, reason))
        self.position = None

    # -- 2. flat: entry --------------------------------------------------------------------

    def try_entry(self, d: int) -> int | None:
        """Steps 2.3-2.8: open a position on `d`, or return why not."""
        packed, spec = self.packed, self.spec
        for values, lo, hi in self.filters:
            x = float(values[d])
            if not _finite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
                return SkipReason.FILTER
        direction = self.signal.direction[d]
        if direction == 0:
            return SkipReason.SIGNAL

        legs = spec.structure.legs
        expiries: dict[int, int] = {}
        for group, window in ((0, spec.structure.dte), (1, spec.structure.dte_far)):
            rights = {RIGHT_CALL if leg.right == "C" else RIGHT_PUT
                      for leg in legs if leg.expiry_group == group}
            if not rights:
                continue
            assert window is not None
            expiry = _choose_expiry(packed, d, window, rights)
            if expiry is None:
                return SkipReason.NO_EXPIRY
            expiries[group] = expiry

        spot = float(packed.day_spot[d])
        rows: list[int] = []
        strikes: list[float] = []
        for leg in legs:
            right = RIGHT_CALL if leg.right == "C" else RIGHT_PUT
            candidates = _group_rows(packed, d, right, expiries[leg.expiry_group])
            q, reason = _select_strike(packed, candidates, leg, spot, strikes)
            if q is None:
                return reason
            rows.append(q)
            strikes.append(float(packed.quote_strike[q]))

        n = spec.sizing.contracts
        opened: list[_Leg] = []
        for leg, q in zip(legs, rows, strict=True):
            bid, ask = float(packed.quote_bid[q]), float(packed.quote_ask[q])
            mid = (bid + ask) / 2
            units = float((1 if leg.side == "long" else -1) * direction * leg.qty)
            fill = mid + self.slip * (ask - mid) if units > 0 else mid - self.slip * (mid - bid)
            opened.append(
                _Leg(
                    contract=int(packed.quote_contract[q]),
                    right=int(packed.quote_right[q]),
                    strike=float(packed.quote_strike[q]),
                    expiry=int(packed.quote_expiry[q]),
                    qty=leg.qty,
                    units=units,
                    entry_fill=fill,
                    mark=mid,
                    bid=bid,
                    ask=ask,
                    delta=float(packed.quote_delta[q]),
                )
            )
        flows = [-leg.units * n * self.m * leg.entry_fill for leg in opened]
        commissions = [self.fee * leg.qty * n for leg in opened]
        equity = math.fsum(self.cash)
        # the net debit: a credit received on some legs pays for the legs bought
        debit = max(-math.fsum(flows), 0.0) + math.fsum(commissions)
        if equity <= 0 or debit > equity:
            return SkipReason.CAPITAL

        self.cash += flows + [-c for c in commissions]
        self.position = _Position(
            entry_day=d,
            direction=direction,
            contracts=n,
            legs=opened,
            value_entry=sum(leg.units * leg.mark for leg in opened),
            entry_flows=flows,
            commissions=commissions,
        )
        return None

    # -- the daily loop --------------------------------------------------------------------

    def run(self) -> BacktestResult:
        packed, entry = self.packed, self.spec.entry
        n_days = packed.n_days
        equity = np.empty(n_days)
        in_market = np.zeros(n_days, dtype=np.bool_)
        for d in range(n_days):
            exited: int | None = None
            if self.position is not None:
                settled = self.mark(d)
                exited = self.exit_reason(d, settled)
                if exited is not None:
                    self.close(d, exited)
            if (
                self.position is None
                and d < n_days - 1
                and _reentry_allowed(exited, self.spec.reentry)
                and int(packed.day_weekday[d]) in entry.weekdays
                and d % entry.every_n_days == 0
            ):
                skipped = self.try_entry(d)
                if skipped is not None:
                    self.skips[skipped] += 1
            equity[d] = math.fsum(self.cash) + self.open_value()
            in_market[d] = self.position is not None
        trades, legs = self.records()
        return BacktestResult(
            equity=equity,
            trades=trades,
            legs=legs,
            skips=self.skips,
            missing_quote_days=self.missing_quote_days,
            stale_fills=self.stale_fills,
            in_market=in_market,
        )

    def open_value(self) -> float:
        pos = self.position
        if pos is None:
            return 0.0
        return math.fsum(leg.units * pos.contracts * self.m * leg.mark for leg in pos.legs)

    def records(self) -> tuple[np.ndarray, np.ndarray]:
        trades = np.zeros(len(self.trades), dtype=trade_dt)
        legs = np.zeros(len(self.trades) * MAX_LEGS, dtype=leg_dt)
        dates = self.packed.day_date
        for t, (pos, exit_day, reason) in enumerate(self.trades):
            commissions = math.fsum(pos.commissions)
            trades[t] = (
                pos.entry_day,
                exit_day,
                reason,
                pos.direction,
                float(pos.contracts),
                len(pos.legs),
                pos.value_entry * pos.contracts * self.m,
                math.fsum(pos.entry_flows),
                math.fsum(pos.exit_flows),
                commissions,
                math.fsum(pos.entry_flows + pos.exit_flows + [-c for c in pos.commissions]),
                pos.mae,
                pos.mfe,
                int(dates[exit_day]) - int(dates[pos.entry_day]),
            )
            for i, leg in enumerate(pos.legs):
                legs[t * MAX_LEGS + i] = (
                    leg.right, leg.strike, leg.expiry, leg.units,
                    leg.entry_fill, leg.exit_fill, int(leg.settled),
                )
        return trades, legs


def run_reference(packed: PackedChain, spec: StrategySpec) -> BacktestResult:
    """Run one backtest of `spec` over `packed` in plain Python (the kernel's test oracle).

    Parameters
    ----------
    packed
        The packed chain; filters and z-score signals read its daily features by name.
    spec
        The strategy.

    Returns
    -------
    BacktestResult
        Daily equity, closed trades with their legs, skip counters and data-gap counters.
    """
    return _Backtest(packed, spec).run()
