"""The payoff diagram of a trade's entry structure, as data; the entry delta of each leg and
the regime at entry, read from the chain.

At the first expiry of its legs (the legs expiring then at intrinsic value, later legs by
Black-Scholes with their remaining time) and at entry (T+0, every leg by Black-Scholes), each
leg priced with the implied volatility of its quote on the entry day (solved from its entry fill
when the chain has none), the strategy's rate and dividend yield. P&L is in account currency,
`units x contracts x multiplier x (value - entry fill)`, before commissions.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data.blackscholes import greeks, implied_vol, price
from gridbt.data.pack import PackedChain
from gridbt.results.errors import NotFound, QueryError
from gridbt.results.models import Leg, Payoff, PayoffLeg, Trade, Trades
from gridbt.results.plots import finite_or_none
from gridbt.results.series import REGIME_FEATURES
from gridbt.strategy.spec import StrategySpec

__all__ = ["MAX_PAYOFF_POINTS", "payoff_of", "with_entry_deltas", "with_entry_regimes"]

MAX_PAYOFF_POINTS = 2_000
_EPOCH = dt.date(1970, 1, 1)


def _day_number(text: str) -> int:
    return (dt.date.fromisoformat(text) - _EPOCH).days


def _entry_day(packed: PackedChain, entry: int) -> int:
    day = int(np.searchsorted(packed.day_date, entry))
    if day >= packed.n_days or int(packed.day_date[day]) != entry:
        raise NotFound(f"entry date {_EPOCH + dt.timedelta(days=entry)} is not a day of the "
                       "chain")
    return day


def _quote_iv(packed: PackedChain, day: int, right: str, expiry: int, strike: float) -> float:
    lo, hi = int(packed.day_quote_start[day]), int(packed.day_quote_start[day + 1])
    match = ((packed.quote_right[lo:hi] == (1 if right == "C" else -1))
             & (packed.quote_expiry[lo:hi] == expiry) & (packed.quote_strike[lo:hi] == strike))
    rows = np.flatnonzero(match)
    return float(packed.quote_iv[lo + rows[0]]) if len(rows) else math.nan


def _entry_vol(packed: PackedChain, day: int, spot: float, leg: Leg, years: float,
               rate: float, dividend: float) -> float:
    """The leg's implied volatility at entry: its quote's on the entry day, else solved from
    its entry fill (NaN when neither gives one)."""
    expiry = _day_number(leg.expiry)
    vol = _quote_iv(packed, day, leg.right, expiry, leg.strike)
    if not math.isfinite(vol) and years > 0:
        vol = float(implied_vol(leg.entry_fill, spot, leg.strike, years, rate, dividend,
                                leg.right == "C"))
    return vol


def _values(spots: FloatArray, strike: float, years: float, rate: float, dividend: float,
            vol: float, call: bool) -> FloatArray:
    if years <= 0 or not math.isfinite(vol):
        intrinsic: FloatArray = np.maximum(spots - strike, 0.0) if call else \
            np.maximum(strike - spots, 0.0)
        return intrinsic
    return price(spots, strike, years, rate, dividend, vol, call)


def _breakevens(spots: FloatArray, pnl: FloatArray) -> list[float]:
    out = []
    for i in range(len(spots) - 1):
        a, b = pnl[i], pnl[i + 1]
        if a == 0.0:
            out.append(float(spots[i]))
        elif a * b < 0:
            out.append(float(spots[i] - a * (spots[i + 1] - spots[i]) / (b - a)))
    return out


def _with_strikes(spots: FloatArray, at_expiry: FloatArray, legs: list[PayoffLeg], front: int,
                  rate: float, dividend: float, vols: list[float],
                  scale: float) -> tuple[FloatArray, FloatArray]:
    """The at-expiry curve with the strikes inside the range added: at the first expiry a
    one-expiry structure is linear between strikes, so its breakevens come out exact."""
    strikes = [leg.strike for leg in legs if spots[0] < leg.strike < spots[-1]]
    grid = np.unique(np.concatenate([spots, strikes]))
    if len(grid) == len(spots):
        return spots, at_expiry
    pnl = np.zeros(len(grid))
    for leg, vol in zip(legs, vols, strict=True):
        later = max(_day_number(leg.expiry) - front, 0) / 365.0
        pnl += leg.units * scale * (_values(grid, leg.strike, later, rate, dividend, vol,
                                            leg.right == "C") - leg.entry_fill)
    return grid, pnl


def payoff_of(trade: Trade, spec: StrategySpec, packed: PackedChain,
              points: int = 201) -> Payoff:
    """The payoff of `trade`'s entry structure over `points` spots around the entry spot
    (three expected moves to the first expiry either side, at least 10% and at most 90%)."""
    if not 3 <= points <= MAX_PAYOFF_POINTS:
        raise QueryError(f"points: {points} is not between 3 and {MAX_PAYOFF_POINTS:,}")
    if not trade.legs:
        raise NotFound(f"trade {trade.number} has no legs")
    entry = _day_number(trade.entry_date)
    day = _entry_day(packed, entry)
    spot = float(packed.day_spot[day])
    rate, dividend = float(spec.risk.rate), float(spec.risk.dividend)
    legs, vols = [], []
    for held in trade.legs:
        years = max(_day_number(held.expiry) - entry, 0) / 365.0
        vol = _entry_vol(packed, day, spot, held, years, rate, dividend)
        vols.append(vol)
        legs.append(PayoffLeg(right=held.right, strike=held.strike, expiry=held.expiry,
                              units=held.units, entry_fill=held.entry_fill,
                              iv=finite_or_none(vol)))
    front = min(_day_number(leg.expiry) for leg in legs)
    front_years = max(front - entry, 0) / 365.0
    finite_vols = [v for v in vols if math.isfinite(v)]
    mean_vol = float(np.mean(finite_vols)) if finite_vols else math.nan
    move = spot * mean_vol * math.sqrt(front_years) if finite_vols else math.nan
    width = min(max(3 * move / spot, 0.10), 0.90) if math.isfinite(move) else 0.25
    spots = np.linspace(spot * (1 - width), spot * (1 + width), points)
    scale = trade.contracts * float(spec.multiplier)
    at_expiry, t0 = np.zeros(points), np.zeros(points)
    for leg, vol in zip(legs, vols, strict=True):
        expiry = _day_number(leg.expiry)
        call = leg.right == "C"
        later = max(expiry - front, 0) / 365.0
        now = max(expiry - entry, 0) / 365.0
        at_expiry += leg.units * scale * (
            _values(spots, leg.strike, later, rate, dividend, vol, call) - leg.entry_fill)
        t0 += leg.units * scale * (
            _values(spots, leg.strike, now, rate, dividend, vol, call) - leg.entry_fill)
    net_calls = sum(leg.units for leg in legs if leg.right == "C")
    fine_spots, fine = _with_strikes(spots, at_expiry, legs, front, rate, dividend, vols, scale)
    return Payoff(
        entry_date=trade.entry_date, spot=spot, expiry=str(_EPOCH + dt.timedelta(days=front)),
        contracts=trade.contracts, multiplier=float(spec.multiplier), rate=rate,
        dividend=dividend, legs=legs, spots=[float(s) for s in spots],
        at_expiry=[finite_or_none(v) for v in at_expiry], t0=[finite_or_none(v) for v in t0],
        breakevens=_breakevens(fine_spots, fine),
        max_profit=finite_or_none(fine.max()), max_loss=finite_or_none(fine.min()),
        unbounded_profit=net_calls > 0, unbounded_loss=net_calls < 0,
        expected_move=finite_or_none(move),
    )


def with_entry_regimes(trades: Trades, packed: PackedChain) -> Trades:
    """`trades` with each one's `entry_regime`: the `REGIME_FEATURES` at its entry day's close
    ({} where the entry day is not one of the chain's)."""
    names = [n for n in REGIME_FEATURES if n in packed.feature_names]
    rows = [packed.features[packed.feature_names.index(n)] for n in names]
    out = []
    for trade in trades.trades:
        try:
            day = _entry_day(packed, _day_number(trade.entry_date))
        except NotFound:
            regime = {}
        else:
            regime = {n: finite_or_none(float(row[day])) for n, row in zip(names, rows,
                                                                         strict=True)}
        out.append(trade.model_copy(update={"entry_regime": regime}))
    return trades.model_copy(update={"trades": out})


def with_entry_deltas(trades: Trades, spec: StrategySpec, packed: PackedChain) -> Trades:
    """`trades` with each leg's `entry_delta`: the Black-Scholes delta of one option at entry
    (per share, before `units`), from the entry spot, days to expiry / 365, the leg's entry IV
    as the payoff takes it and the strategy's rate and dividend; None where the leg has no time
    to expiry or no IV (or the entry day is not a day of the chain)."""
    rate, dividend = float(spec.risk.rate), float(spec.risk.dividend)
    spots, strikes, years, vols, calls, where = [], [], [], [], [], []
    for t, trade in enumerate(trades.trades):
        if not trade.legs:
            continue
        entry = _day_number(trade.entry_date)
        try:
            day = _entry_day(packed, entry)
        except NotFound:
            continue
        spot = float(packed.day_spot[day])
        for k, leg in enumerate(trade.legs):
            left = max(_day_number(leg.expiry) - entry, 0) / 365.0
            vol = _entry_vol(packed, day, spot, leg, left, rate, dividend)
            if left > 0 and math.isfinite(vol) and vol > 0 and spot > 0 and leg.strike > 0:
                spots.append(spot)
                strikes.append(leg.strike)
                years.append(left)
                vols.append(vol)
                calls.append(leg.right == "C")
                where.append((t, k))
    deltas: dict[tuple[int, int], float | None] = {}
    if where:
        delta = greeks(np.array(spots), np.array(strikes), np.array(years), rate, dividend,
                       np.array(vols), np.array(calls)).delta
        deltas = {tk: finite_or_none(d) for tk, d in zip(where, delta, strict=True)}
    out = []
    for t, trade in enumerate(trades.trades):
        legs = [leg.model_copy(update={"entry_delta": deltas.get((t, k))})
                for k, leg in enumerate(trade.legs)]
        out.append(trade.model_copy(update={"legs": legs}))
    return trades.model_copy(update={"trades": out})
