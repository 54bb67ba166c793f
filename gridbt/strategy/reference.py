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
from gridbt.kernel.contract import N_DAILY_COLS, D, leg_dt, trade_dt
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SizingBinding, SkipReason
from gridbt.kernel.result import BacktestResult, window_bounds
from gridbt.strategy.reference_risk import (
    RiskLeg,
    floor_count,
    kelly_optimal_fraction,
    mean_vol,
    pm_margin,
    regt_margin,
    stress_worst,
    vol_target_count,
    ww_half_width,
)
from gridbt.strategy.stress import scenarios

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
    iv: float = math.nan
    gamma: float = math.nan
    vega: float = math.nan
    theta: float = math.nan
    quoted_today: bool = True
    settled: bool = False
    exit_fill: float = 0.0


@dataclass
class _Sizing:
    """The sizing fields a trade records (copied onto its partial-liquidation rows)."""

    binding: int = SizingBinding.FIXED
    risk_per_contract: float = math.nan
    worst_scenario: int = -1
    margin_per_contract: float = 0.0
    risk_contracts: float = math.nan
    margin_contracts: float = math.nan


@dataclass
class _Position:
    entry_day: int
    direction: int
    contracts: int
    legs: list[_Leg]
    value_entry: float
    premium: float
    entry_flows: list[float]
    commissions: list[float]
    sizing: _Sizing
    margin_per_contract: float = 0.0  # IMc, refreshed on fully quoted days
    exit_flows: list[float] = field(default_factory=list)
    hedge_flows: list[float] = field(default_factory=list)
    hedge_costs: list[float] = field(default_factory=list)
    financing: list[float] = field(default_factory=list)
    shares: float = 0.0
    last_hedge_day: int = 0
    call_days: int = 0
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


def _known(x: float) -> float:
    """A greek that has never been finite counts as 0."""
    return x if math.isfinite(x) else 0.0


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


class _Backtest:
    """State of one backtest walking the days of a packed chain."""

    def __init__(
        self, packed: PackedChain, spec: StrategySpec, window: tuple[int, int] | None = None
    ) -> None:
        self.packed = packed
        self.spec = spec
        # Day window: days [first, end) are walked; end - 1 is the window's end of data
        self.first, self.end = window_bounds(window, packed.n_days)
        self.m = spec.multiplier
        self.slip = spec.execution.slippage
        self.slip_per_option = spec.execution.slippage_per_contract
        self.fee = spec.execution.commission_per_contract
        self.signal = _signal(packed, spec.entry.signal)
        self.filters = [(packed.feature(f.feature), f.min, f.max) for f in spec.entry.filters]
        self.shocks = scenarios(spec.risk.stress)
        self.margin_on = spec.risk.margin.model != "none"
        self.cash: list[float] = [spec.capital]
        self.position: _Position | None = None
        self.rows: list[tuple[dict[str, float], list[dict[str, float]]]] = []
        self.row_pnls: list[float] = []
        self.skips = np.zeros(len(SkipReason.NAMES), dtype=np.int64)
        self.missing_quote_days = 0
        self.stale_fills = 0
        self.day_costs: list[float] = []  # paid against mid today (spread, commissions, hedge)
        self.day_financing = 0.0

    # -- helpers of the risk layer ---------------------------------------------------------

    def spot(self, d: int) -> float:
        return float(self.packed.day_spot[d])

    def risk_legs(self, legs: list[_Leg], d: int) -> list[RiskLeg]:
        today = int(self.packed.day_date[d])
        return [
            RiskLeg(leg.units, leg.right, leg.strike, (leg.expiry - today) / 365.0, leg.iv,
                    leg.mark)
            for leg in legs
        ]

    def delta_per_contract(self, legs: list[_Leg]) -> float:
        return sum(leg.units * self.m * _known(leg.delta) for leg in legs)

    def gamma_per_contract(self, legs: list[_Leg]) -> float:
        return sum(leg.units * self.m * _known(leg.gamma) for leg in legs)

    def worst_loss(self, legs: list[_Leg], d: int, hedge_delta: float = 0.0) -> tuple[float, int]:
        risk = self.spec.risk
        return stress_worst(self.risk_legs(legs, d), self.spot(d), self.m, risk.rate,
                            risk.dividend, self.shocks, hedge_delta)

    def initial_margin(self, legs: list[_Leg], d: int) -> float | None:
        """IMc per contract at today's marks; None when the pm stress cannot be computed."""
        config = self.spec.risk.margin
        if config.model == "regt":
            return regt_margin(self.risk_legs(legs, d), [leg.expiry for leg in legs],
                               self.spot(d), self.m, config)
        if config.model == "pm":
            worst, _ = self.worst_loss(legs, d)
            return pm_margin(worst, config) if math.isfinite(worst) else None
        return 0.0

    def open_equity(self, d: int) -> float:
        """cash + legs + H * S."""
        pos = self.position
        if pos is None:
            return math.fsum(self.cash)
        return math.fsum(self.cash) + self.open_value() + pos.shares * self.spot(d)

    def hedge_trade(self, d: int, q: float, clip: bool) -> tuple[list[float], float]:
        """Trade `q` shares of the underlying; return its cash flows and its cost."""
        hedge = self.spec.hedge
        if clip:
            if hedge.max_trade is not None and abs(q) > hedge.max_trade:
                q = _sign(q) * hedge.max_trade
            if abs(q) < hedge.min_trade or q == 0:
                return [], 0.0
        elif q == 0:
            return [], 0.0
        pos = self.position
        assert pos is not None
        spot = self.spot(d)
        fill = spot * (1.0 + _sign(q) * hedge.slippage_bps / 1e4)
        flows = [-q * fill, -abs(q) * hedge.commission_per_share]
        cost = abs(q) * spot * hedge.slippage_bps / 1e4 + abs(q) * hedge.commission_per_share
        self.cash += flows
        self.day_costs.append(cost)
        pos.shares += q
        return flows, cost

    def fill(self, bid: float, ask: float, buying: bool) -> float:
        """Steps 1.4 and 2.8: the price of one option bought or sold at these quotes, the
        fraction of the half spread and the slippage per option against the trader; a sale
        never fills below 0."""
        mid = (bid + ask) / 2
        if buying:
            return mid + self.slip * (ask - mid) + self.slip_per_option
        return max(mid - self.slip * (mid - bid) - self.slip_per_option, 0.0)

    def option_fill(self, leg: _Leg, n: int) -> tuple[float, float, float]:
        """Close `n` contracts of a leg at its last known quote: (fill, cash flow, commission)."""
        mid = (leg.bid + leg.ask) / 2
        fill = self.fill(leg.bid, leg.ask, buying=leg.units < 0)
        if not leg.quoted_today:
            self.stale_fills += 1
        # closing reverses the entry's -u * fill: a long sold brings cash in
        flow = leg.units * n * self.m * fill
        commission = self.fee * leg.qty * n
        self.cash += [flow, -commission]
        self.day_costs += [abs(fill - mid) * abs(leg.units) * n * self.m, commission]
        return fill, flow, commission

    # -- 1. open position ------------------------------------------------------------------

    def mark(self, d: int) -> bool:
        """Step 1a: mark or settle every leg; return whether some leg settled."""
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
                for name, column in (("delta", packed.quote_delta), ("iv", packed.quote_iv),
                                     ("gamma", packed.quote_gamma), ("vega", packed.quote_vega),
                                     ("theta", packed.quote_theta)):
                    value = float(column[q])
                    if _finite(value):
                        setattr(leg, name, value)
            else:
                missing = True
        if missing:
            self.missing_quote_days += 1
        value = sum(leg.units * leg.mark for leg in pos.legs)
        excursion = (value - pos.value_entry) * pos.contracts * self.m
        pos.mae, pos.mfe = min(pos.mae, excursion), max(pos.mfe, excursion)
        return settled

    def exit_reason(self, d: int, settled: bool) -> int | None:
        """Step 1b: the first planned exit rule that fires on `d`, if any."""
        pos = self.position
        assert pos is not None
        rules, packed = self.spec.exit, self.packed
        today = int(packed.day_date[d])
        pnl = sum(leg.units * leg.mark for leg in pos.legs) - pos.value_entry
        premium = abs(pos.value_entry)
        held = self.days_since(pos.entry_day, d)
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
        if d == self.end - 1:
            return ExitReason.END_OF_DATA
        return None

    def days_since(self, start: int, d: int) -> int:
        """Days from `start` to `d` in `exit.period_unit`."""
        if self.spec.exit.period_unit == "trading":
            return d - start
        return int(self.packed.day_date[d]) - int(self.packed.day_date[start])

    def close(self, d: int, reason: int) -> None:
        """Fill every unsettled leg at its last known quote, unwind the hedge, record the trade."""
        pos = self.position
        assert pos is not None
        n = pos.contracts
        for leg in pos.legs:
            if leg.settled:
                continue
            leg.exit_fill, flow, commission = self.option_fill(leg, n)
            pos.exit_flows.append(flow)
            pos.commissions.append(commission)
        flows, cost = self.hedge_trade(d, -pos.shares, clip=False)
        pos.hedge_flows += flows
        pos.hedge_costs.append(cost)
        commissions = math.fsum(pos.commissions)
        pnl = math.fsum(pos.entry_flows + pos.exit_flows + [-c for c in pos.commissions]
                        + pos.hedge_flows + pos.financing)
        self.record(pos, d, reason, n, pos.premium, math.fsum(pos.entry_flows),
                    math.fsum(pos.exit_flows), commissions, pnl, pos.mae, pos.mfe,
                    math.fsum(pos.hedge_flows), math.fsum(pos.hedge_costs),
                    math.fsum(pos.financing), [leg.exit_fill for leg in pos.legs])
        self.position = None

    def record(
        self, pos: _Position, exit_day: int, reason: int, contracts: int, premium: float,
        entry_cash: float, exit_cash: float, commissions: float, pnl: float, mae: float,
        mfe: float, hedge_pnl: float, hedge_cost: float, financing: float,
        exit_fills: list[float],
    ) -> None:
        dates = self.packed.day_date
        sizing = pos.sizing
        trade: dict[str, float] = {
            "entry_day": pos.entry_day, "exit_day": exit_day, "exit_reason": reason,
            "direction": pos.direction, "contracts": float(contracts), "n_legs": len(pos.legs),
            "entry_premium": premium, "entry_cash": entry_cash, "exit_cash": exit_cash,
            "commissions": commissions, "pnl": pnl, "mae": mae, "mfe": mfe,
            "days_held": int(dates[exit_day]) - int(dates[pos.entry_day]),
            "hedge_pnl": hedge_pnl, "hedge_cost": hedge_cost, "financing": financing,
            "sizing_binding": sizing.binding, "risk_per_contract": sizing.risk_per_contract,
            "worst_scenario": sizing.worst_scenario,
            "margin_per_contract": sizing.margin_per_contract,
            "risk_contracts": sizing.risk_contracts, "margin_contracts": sizing.margin_contracts,
        }
        legs: list[dict[str, float]] = [
            {"right": leg.right, "strike": leg.strike, "expiry": leg.expiry, "units": leg.units,
             "entry_fill": leg.entry_fill, "exit_fill": fill, "settled": int(leg.settled)}
            for leg, fill in zip(pos.legs, exit_fills, strict=True)
        ]
        self.rows.append((trade, legs))
        self.row_pnls.append(pnl)

    def hedge_step(self, d: int) -> None:
        """Step 1c: rebalance the delta hedge when its band or its period fires."""
        pos, hedge = self.position, self.spec.hedge
        assert pos is not None
        n = pos.contracts
        net = self.delta_per_contract(pos.legs) + pos.shares / n
        target = hedge.target_delta
        # a band for the whole position (its gamma for ww) is half / N per contract
        whole = hedge.band_units == "position"
        if hedge.band == "ww":
            fee = hedge.ww_fee if hedge.ww_fee is not None else hedge.slippage_bps / 1e4
            sigma = mean_vol(self.risk_legs(pos.legs, d))
            gamma = self.gamma_per_contract(pos.legs)
            half = ww_half_width(hedge.ww_c, fee, n * gamma if whole else gamma, sigma,
                                 self.spot(d), hedge.ww_min, hedge.ww_max)
        else:
            half = hedge.half_width
        half = half / n if whole else half
        band = hedge.band != "none" and abs(net - target) > half
        timed = hedge.every_days is not None and (
            self.days_since(pos.last_hedge_day, d) >= hedge.every_days
        )
        if hedge.band == "none":
            fires = timed
        elif hedge.every_days is None:
            fires = band
        elif hedge.combine == "or":
            fires = band or timed
        else:
            fires = band and timed
        if not fires:
            return
        if band and hedge.rebalance_to == "boundary":
            desired = target + half if net > target else target - half
        else:
            desired = target
        pos.last_hedge_day = d
        flows, cost = self.hedge_trade(d, n * (desired - net), clip=True)
        pos.hedge_flows += flows
        pos.hedge_costs.append(cost)

    def margin_step(self, d: int) -> int | None:
        """Step 1c: refresh IMc, judge the margin call, liquidate past the grace days."""
        pos = self.position
        assert pos is not None
        if all(leg.quoted_today for leg in pos.legs):
            imc = self.initial_margin(pos.legs, d)
            if imc is not None:
                pos.margin_per_contract = imc
        account = self.spec.risk.account
        equity = self.open_equity(d)
        maintenance = pos.margin_per_contract * pos.contracts * account.maintenance_ratio
        pos.call_days = pos.call_days + 1 if maintenance > equity else 0
        if pos.call_days <= account.grace_days:
            return None
        if account.liquidation == "target":
            denominator = account.maintenance_ratio * pos.margin_per_contract * (
                1 + account.liquidation_buffer
            )
            keep = math.floor(max(equity, 0.0) / denominator) if denominator > 0 else 0
            if keep > 0:
                self.partial_close(d, keep)
                return ExitReason.MARGIN_PARTIAL
        self.close(d, ExitReason.MARGIN_CALL)
        return ExitReason.MARGIN_CALL

    def partial_close(self, d: int, keep: int) -> None:
        """Close N - K contracts as a margin_partial row; the position goes on with K."""
        pos = self.position
        assert pos is not None
        n = pos.contracts
        closing = n - keep
        f = closing / n
        rest = 1 - f
        fills: list[float] = []
        flows: list[float] = []
        commissions: list[float] = []
        for leg in pos.legs:
            if leg.settled:
                fills.append(leg.exit_fill)
                continue
            fill, flow, commission = self.option_fill(leg, closing)
            fills.append(fill)
            flows.append(flow)
            commissions.append(commission)
        hedge_flows, hedge_cost = self.hedge_trade(d, -pos.shares * (n - keep) / n, clip=False)

        def split(values: list[float]) -> tuple[float, list[float]]:
            total = math.fsum(values)
            return total * f, [total * rest]

        entry_cash, pos.entry_flows = split(pos.entry_flows)
        exit_part, pos.exit_flows = split(pos.exit_flows)
        commission_part, pos.commissions = split(pos.commissions)
        hedge_part, pos.hedge_flows = split(pos.hedge_flows)
        cost_part, pos.hedge_costs = split(pos.hedge_costs)
        financing, pos.financing = split(pos.financing)
        exit_cash = math.fsum([exit_part, *flows])
        commission_total = math.fsum([commission_part, *commissions])
        hedge_pnl = math.fsum([hedge_part, *hedge_flows])
        hedge_costs = math.fsum([cost_part, hedge_cost])
        pnl = math.fsum([entry_cash, exit_cash, -commission_total, hedge_pnl, financing])
        self.record(pos, d, ExitReason.MARGIN_PARTIAL, closing, pos.premium * f, entry_cash,
                    exit_cash, commission_total, pnl, pos.mae * f, pos.mfe * f, hedge_pnl,
                    hedge_costs, financing, fills)
        pos.premium *= rest
        pos.mae *= rest
        pos.mfe *= rest
        pos.contracts = keep
        pos.call_days = 0

    # -- 2. flat: entry --------------------------------------------------------------------

    def size(self, d: int, opened: list[_Leg]) -> tuple[int, _Sizing, float] | int:
        """Sizing (step 2.7): (contracts, sizing fields, IMc), or the skip reason."""
        spec = self.spec
        sizing, hedge = spec.sizing, spec.hedge
        equity = math.fsum(self.cash)
        spot = self.spot(d)
        hedged = sizing.risk_basis == "entry_hedged"
        delta = self.delta_per_contract(opened)
        needs_worst = (sizing.risk_budget is not None or sizing.kelly_fraction is not None
                       or spec.risk.margin.model == "pm")
        worst, scenario = math.nan, -1
        if needs_worst:
            worst, scenario = self.worst_loss(
                opened, d, hedge.target_delta - delta if hedged else 0.0
            )
            if not math.isfinite(worst):
                return SkipReason.INVALID_MARKET
        sigma = math.nan
        if sizing.vol_target is not None:
            sigma = mean_vol(self.risk_legs(opened, d))
            if not math.isfinite(sigma):
                return SkipReason.INVALID_MARKET
        imc = self.initial_margin(opened, d)
        if imc is None:
            return SkipReason.INVALID_MARKET

        risk = margin = kelly = vol = math.inf
        if sizing.risk_budget is not None:
            risk = floor_count(equity, sizing.risk_budget, worst)
        if sizing.margin_budget is not None:
            margin = floor_count(equity, sizing.margin_budget, imc)
        if sizing.kelly_fraction is not None and len(self.row_pnls) >= sizing.kelly_min_trades:
            optimal = kelly_optimal_fraction(self.row_pnls)
            kelly = floor_count(equity, sizing.kelly_fraction * max(optimal, 0.0), worst)
        if sizing.vol_target is not None:
            vol = vol_target_count(
                equity, sizing.vol_target, hedge.target_delta if hedged else delta,
                self.gamma_per_contract(opened), spot, sigma,
            )
        best, binding = math.inf, SizingBinding.FIXED
        for count, code in ((risk, SizingBinding.RISK_BUDGET),
                            (margin, SizingBinding.MARGIN_BUDGET),
                            (kelly, SizingBinding.KELLY), (vol, SizingBinding.VOL_TARGET)):
            if count < best:  # ties keep the earlier budget
                best, binding = count, code
        n = float(sizing.contracts) if best == math.inf else best
        if sizing.max_contracts is not None and n > sizing.max_contracts:
            n, binding = float(sizing.max_contracts), SizingBinding.MAX_CONTRACTS
        if n < sizing.min_contracts:
            n, binding = float(sizing.min_contracts), SizingBinding.MIN_CONTRACTS
        if n < 1:
            return SkipReason.SIZING
        fields = _Sizing(
            binding=binding,
            risk_per_contract=worst,
            worst_scenario=scenario,
            margin_per_contract=imc,
            risk_contracts=risk if math.isfinite(risk) else math.nan,
            margin_contracts=margin if math.isfinite(margin) else math.nan,
        )
        return int(n), fields, imc

    def try_entry(self, d: int) -> int | None:
        """Steps 2.3-2.8: open a position on `d` (then hedge it), or return why not."""
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

        opened: list[_Leg] = []
        for leg, q in zip(legs, rows, strict=True):
            bid, ask = float(packed.quote_bid[q]), float(packed.quote_ask[q])
            mid = (bid + ask) / 2
            units = float((1 if leg.side == "long" else -1) * direction * leg.qty)
            fill = self.fill(bid, ask, buying=units > 0)
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
                    iv=float(packed.quote_iv[q]),
                    gamma=float(packed.quote_gamma[q]),
                    vega=float(packed.quote_vega[q]),
                    theta=float(packed.quote_theta[q]),
                )
            )
        sized = self.size(d, opened)
        if isinstance(sized, int):
            return sized
        n, sizing, imc = sized
        flows = [-leg.units * n * self.m * leg.entry_fill for leg in opened]
        commissions = [self.fee * leg.qty * n for leg in opened]
        equity = math.fsum(self.cash)
        # the net debit: a credit received on some legs pays for the legs bought
        debit = max(-math.fsum(flows), 0.0) + math.fsum(commissions)
        if equity <= 0 or debit > equity or (self.margin_on and imc * n > equity):
            return SkipReason.CAPITAL

        self.cash += flows + [-c for c in commissions]
        for new, commission in zip(opened, commissions, strict=True):
            self.day_costs += [abs(new.entry_fill - new.mark) * abs(new.units) * n * self.m,
                               commission]
        value_entry = sum(leg.units * leg.mark for leg in opened)
        self.position = _Position(
            entry_day=d,
            direction=direction,
            contracts=n,
            legs=opened,
            value_entry=value_entry,
            premium=value_entry * n * self.m,
            entry_flows=flows,
            commissions=commissions,
            sizing=sizing,
            margin_per_contract=imc,
            last_hedge_day=d,
        )
        hedge = spec.hedge
        if hedge.enabled and hedge.at_entry:
            pos = self.position
            shares = n * (hedge.target_delta - self.delta_per_contract(opened))
            hedge_flows, cost = self.hedge_trade(d, shares, clip=True)
            pos.hedge_flows += hedge_flows
            pos.hedge_costs.append(cost)
        return None

    # -- 3. financing, 4. equity and the daily row -----------------------------------------

    def finance(self, d: int) -> None:
        """Step 3: interest on equity above margin, borrowing cost on margin above equity."""
        pos, account = self.position, self.spec.risk.account
        if pos is None or (account.cash_rate == 0 and account.borrow_rate == 0):
            return
        equity = self.open_equity(d)
        margin = pos.margin_per_contract * pos.contracts
        fin = (max(equity - margin, 0.0) * account.cash_rate / 252
               - max(margin - equity, 0.0) * account.borrow_rate / 252)
        self.cash.append(fin)
        pos.financing.append(fin)
        self.day_financing = fin

    def end_of_day(self, row: np.ndarray) -> list[tuple[_Leg, float, float]]:
        """Write the end-of-day greeks, hedge and margin; return each open leg's vega exposure
        and iv for tomorrow's vega attribution."""
        pos = self.position
        if pos is None:
            return []
        n, m = pos.contracts, self.m
        delta = sum(leg.units * m * n * _known(leg.delta) for leg in pos.legs)
        row[D.contracts] = n
        row[D.delta] = delta
        row[D.hedge_shares] = pos.shares
        row[D.net_delta] = delta + pos.shares
        row[D.gamma] = sum(leg.units * m * n * _known(leg.gamma) for leg in pos.legs)
        row[D.vega] = sum(leg.units * m * n * _known(leg.vega) for leg in pos.legs)
        row[D.theta] = sum(leg.units * m * n * _known(leg.theta) for leg in pos.legs)
        row[D.initial_margin] = pos.margin_per_contract * n
        row[D.maintenance_margin] = row[D.initial_margin] * self.spec.risk.account.maintenance_ratio
        row[D.margin_call_days] = pos.call_days
        return [(leg, leg.units * m * n * _known(leg.vega), leg.iv) for leg in pos.legs]

    def attribute(
        self, d: int, row: np.ndarray, before: np.ndarray | None, pnl: float,
        vegas: list[tuple[_Leg, float, float]],
    ) -> None:
        """Split the day's P&L with yesterday's greeks (all 0 when flat then)."""
        packed = self.packed
        if before is not None:
            move = float(packed.day_spot[d]) - float(packed.day_spot[d - 1])
            days = int(packed.day_date[d]) - int(packed.day_date[d - 1])
            row[D.pnl_delta] = before[D.net_delta] * move
            row[D.pnl_gamma] = 0.5 * before[D.gamma] * move**2
            vega = 0.0
            for leg, exposure, iv in vegas:
                change = leg.iv - iv
                if math.isfinite(change):
                    vega += exposure * change * 100
            row[D.pnl_vega] = vega
            row[D.pnl_theta] = before[D.theta] * days
        row[D.pnl_costs] = -math.fsum(self.day_costs)
        row[D.pnl_financing] = self.day_financing
        explained = (row[D.pnl_delta] + row[D.pnl_gamma] + row[D.pnl_vega] + row[D.pnl_theta]
                     + row[D.pnl_costs] + row[D.pnl_financing])
        row[D.pnl_residual] = pnl - explained

    # -- the daily loop --------------------------------------------------------------------

    def run(self) -> BacktestResult:
        packed, entry, spec = self.packed, self.spec.entry, self.spec
        n_days = packed.n_days
        equity = np.empty(n_days)
        in_market = np.zeros(n_days, dtype=np.bool_)
        daily = np.zeros((n_days, N_DAILY_COLS))
        vegas: list[tuple[_Leg, float, float]] = []
        previous = spec.capital
        first, end = self.first, self.end
        # Day window: capital before the window (the signal already runs from day 0)
        equity[:first] = spec.capital
        for d in range(first, end):
            self.day_costs, self.day_financing = [], 0.0
            held_before = self.position is not None
            exited: int | None = None
            if self.position is not None:
                settled = self.mark(d)  # 1a
                exited = self.exit_reason(d, settled)  # 1b
                if exited is not None:
                    self.close(d, exited)
                else:  # 1c
                    if spec.hedge.enabled:
                        self.hedge_step(d)
                    if self.margin_on:
                        exited = self.margin_step(d)
            if (  # 2
                self.position is None
                and d < end - 1
                and _reentry_allowed(exited, spec.reentry)
                and int(packed.day_weekday[d]) in entry.weekdays
                and (d - first) % entry.every_n_days == 0
            ):
                skipped = self.try_entry(d)
                if skipped is not None:
                    self.skips[skipped] += 1
            self.finance(d)  # 3
            equity[d] = self.open_equity(d)  # 4
            in_market[d] = self.position is not None
            before = daily[d - 1] if held_before else None
            self.attribute(d, daily[d], before, equity[d] - previous, vegas)
            vegas = self.end_of_day(daily[d])
            previous = equity[d]
        # Day window: flat at the window's last equity after it (the book is flat at end - 1)
        equity[end:] = previous
        trades, legs = self.records()
        return BacktestResult(
            equity=equity,
            trades=trades,
            legs=legs,
            skips=self.skips,
            missing_quote_days=self.missing_quote_days,
            stale_fills=self.stale_fills,
            in_market=in_market,
            daily=daily,
            window=(first, end),
        )

    def open_value(self) -> float:
        pos = self.position
        if pos is None:
            return 0.0
        return math.fsum(leg.units * pos.contracts * self.m * leg.mark for leg in pos.legs)

    def records(self) -> tuple[np.ndarray, np.ndarray]:
        trades = np.zeros(len(self.rows), dtype=trade_dt)
        legs = np.zeros(len(self.rows) * MAX_LEGS, dtype=leg_dt)
        for t, (trade, leg_rows) in enumerate(self.rows):
            for name, value in trade.items():
                trades[t][name] = value
            for i, leg_row in enumerate(leg_rows):
                for name, value in leg_row.items():
                    legs[t * MAX_LEGS + i][name] = value
        return trades, legs


def run_reference(
    packed: PackedChain, spec: StrategySpec, *, window: tuple[int, int] | None = None
) -> BacktestResult:
    """Run one backtest of `spec` over `packed` in plain Python (the kernel's test oracle).

    Parameters
    ----------
    packed
        The packed chain; filters and z-score signals read its daily features by name.
    spec
        The strategy.
    window
        Day window `(first, end)`: a fresh backtest over days `[first, end)` only, clamped to
        the chain (docs/semantics.md, Day window); None = the whole chain.

    Returns
    -------
    BacktestResult
        Daily equity, closed trades with their legs, skip counters and data-gap counters.
    """
    return _Backtest(packed, spec, window).run()
