"""The kernel's rules decoded from an encoded parameter vector (`rules_nb.decode_rules_nb`)
equal the spec they were encoded from: a spec with a distinctive value in every field, and
one with every rule at its default (off)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from gridbt.kernel.contract import P
from gridbt.kernel.enums import HedgeBand, MarginModel
from gridbt.kernel.rules_nb import decode_rules_nb, scenarios_nb, window_nb
from gridbt.kernel.state import Rules
from gridbt.strategy.encode import encode_spec, reentry_mask
from gridbt.strategy.spec import StrategySpec, parse_strategy
from gridbt.strategy.stress import scenarios

N_DAYS = 500


@dataclass(frozen=True)
class _Features:
    feature_names: tuple[str, ...] = ("iv_rank", "vrp", "noise")


DISTINCT: dict[str, Any] = {
    "capital": 123_456.0,
    "multiplier": 50.0,
    "structure": {
        "dte": {"target": 41, "min": 17, "max": 63},
        "dte_far": {"target": 88, "min": 70, "max": 120},
        "legs": [
            {"right": "P", "side": "short", "select": {"by": "delta", "target": 0.21}},
            {"right": "C", "side": "long", "qty": 2, "expiry_group": 1,
             "select": {"by": "moneyness", "target": 1.07, "tolerance": 0.03}},
        ],
    },
    "entry": {
        "weekdays": [0, 2, 4],
        "every_n_days": 3,
        "filters": [{"feature": "vrp", "min": -1.5}, {"feature": "iv_rank", "max": 0.8}],
        "signal": {"kind": "zscore", "feature": "noise", "window": 9, "entry": 1.3,
                   "exit": 0.4, "inverted": True},
    },
    "exit": {"profit_target": 0.55, "stop_loss": 1.75, "dte": 11, "max_holding_days": 23,
             "rebalance_days": 31, "delta_breach": 0.61, "period_unit": "trading"},
    "reentry": {"same_day": ["stop_loss", "dte"]},
    "execution": {"slippage": 0.35, "slippage_per_contract": 0.015,
                  "commission_per_contract": 0.85},
    "sizing": {"contracts": 4, "risk_budget": 0.07, "risk_basis": "entry_hedged",
               "margin_budget": 0.45, "kelly_fraction": 0.33, "kelly_min_trades": 6,
               "vol_target": 0.12, "min_contracts": 2, "max_contracts": 17},
    "risk": {
        "rate": 0.031, "dividend": 0.014,
        "stress": {"spot": [-0.2, 0.0, 0.1], "vol": [0.0, 0.05], "time_days": [0.0, 3.0]},
        "margin": {"model": "pm", "broad_index": False, "min_underlying_pct": 0.11,
                   "min_put_pct": 0.09, "house_multiplier": 1.4, "house_floor": 55.0,
                   "stress_multiplier": 1.6, "minimum": 120.0},
        "account": {"maintenance_ratio": 0.8, "grace_days": 2, "liquidation": "target",
                    "liquidation_buffer": 0.15, "cash_rate": 0.021, "borrow_rate": 0.065},
    },
    "hedge": {"enabled": True, "band": "ww", "band_units": "position", "half_width": 7.0,
              "ww_c": 1.9, "ww_min": 0.6, "ww_max": 33.0, "ww_fee": 0.0015,
              "rebalance_to": "boundary", "every_days": 4,
              "combine": "and", "target_delta": 12.0, "at_entry": True, "min_trade": 3.0,
              "max_trade": 250.0, "commission_per_share": 0.004, "slippage_bps": 2.5},
}

DEFAULTS: dict[str, Any] = {
    "structure": {
        "dte": {"target": 30, "min": 20, "max": 40},
        "legs": [{"right": "C", "side": "long", "select": {"by": "delta", "target": 0.5}}],
    },
}


def _decode(spec: StrategySpec, fill_daily: bool = False) -> tuple[Rules, np.ndarray]:
    params = encode_spec(spec, _Features())
    rules = decode_rules_nb(params, N_DAYS, fill_daily)
    assert isinstance(rules, Rules)
    return rules, params


def _nan_or(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_book_signal_entry_exit_rules_equal_the_spec() -> None:
    spec = parse_strategy(DISTINCT)
    rules, _ = _decode(spec)
    book, signal, entry, exits = rules.book, rules.signal, rules.entry, rules.exit
    assert (book.capital, book.multiplier, book.n_legs) == (123_456.0, 50.0, 2)
    assert (book.slippage, book.slippage_per_contract, book.commission) == (0.35, 0.015, 0.85)
    assert (book.first, book.end) == (0, N_DAYS)
    assert (book.fill_daily, book.track_iv, book.track_gamma) == (False, True, True)
    assert signal.zscore and signal.inverted
    assert (signal.feature, signal.window, signal.entry, signal.exit) == (2, 9, 1.3, 0.4)
    assert entry.weekday_mask == 0b10101
    assert (entry.every_n_days, entry.n_filters) == (3, 2)
    assert entry.reentry_mask == reentry_mask(spec.reentry.same_day)
    assert entry.need_call == (False, True) and entry.need_put == (True, False)
    assert entry.dte_target == (41.0, 88.0)
    assert entry.dte_min == (17.0, 70.0) and entry.dte_max == (63.0, 120.0)
    assert (exits.profit_target, exits.stop_loss, exits.dte) == (0.55, 1.75, 11.0)
    assert (exits.max_holding, exits.rebalance, exits.delta_breach) == (23.0, 31.0, 0.61)
    assert exits.period_trading


def test_risk_rules_equal_the_spec() -> None:
    spec = parse_strategy(DISTINCT)
    rules, params = _decode(spec)
    sizing, stress, margin, account, hedge = (
        rules.sizing, rules.stress, rules.margin, rules.account, rules.hedge
    )
    assert (sizing.contracts, sizing.risk_budget, sizing.margin_budget) == (4.0, 0.07, 0.45)
    assert (sizing.kelly_fraction, sizing.kelly_min_trades, sizing.vol_target) == (
        0.33, 6.0, 0.12
    )
    assert (sizing.min_contracts, sizing.max_contracts) == (2.0, 17.0)
    assert sizing.risk_hedged and sizing.need_worst
    assert (stress.rate, stress.dividend) == (0.031, 0.014)
    points = scenarios(spec.risk.stress)
    assert stress.n_scenarios == len(points) == 12
    block = scenarios_nb(params).reshape(len(points), -1)
    assert [tuple(row) for row in block] == [
        (p.spot, p.vol, p.risk_reversal, p.rate, p.time_days / 365.0) for p in points
    ]
    assert margin.model == MarginModel.PM and margin.on and not margin.broad
    assert (margin.min_underlying, margin.min_put) == (0.11, 0.09)
    assert (margin.house_multiplier, margin.house_floor) == (1.4, 55.0)
    assert (margin.pm_multiplier, margin.pm_minimum) == (1.6, 120.0)
    assert (account.maintenance_ratio, account.grace_days) == (0.8, 2.0)
    assert account.liquidate_to_target and account.liquidation_buffer == 0.15
    assert (account.cash_rate, account.borrow_rate, account.financing_on) == (
        0.021, 0.065, True
    )
    assert hedge.on and hedge.band == HedgeBand.WW and hedge.band_on and hedge.band_position
    assert (hedge.half_width, hedge.ww_c, hedge.ww_min, hedge.ww_max, hedge.ww_fee) == (
        7.0, 1.9, 0.6, 33.0, 0.0015
    )
    assert hedge.to_boundary and hedge.time_on and hedge.combine_and and hedge.at_entry
    assert (hedge.every_days, hedge.target, hedge.min_trade, hedge.max_trade) == (
        4.0, 12.0, 3.0, 250.0
    )
    assert (hedge.commission, hedge.slippage_bps) == (0.004, 2.5)


def test_defaults_decode_as_rules_off() -> None:
    spec = parse_strategy(DEFAULTS)
    rules, _ = _decode(spec, fill_daily=True)
    book, exits, sizing = rules.book, rules.exit, rules.sizing
    assert (book.fill_daily, book.track_iv, book.track_gamma) == (True, True, True)
    assert not rules.signal.zscore and rules.signal.direction == 1
    assert rules.entry.need_call == (True, False) and rules.entry.need_put == (False, False)
    for rule, value in zip(exits[:6], (spec.exit.profit_target, spec.exit.stop_loss,
                                      spec.exit.dte, spec.exit.max_holding_days,
                                      spec.exit.rebalance_days, spec.exit.delta_breach),
                           strict=True):
        assert _same(rule, _nan_or(value))
    assert not exits.period_trading
    assert all(math.isnan(x) for x in (sizing.risk_budget, sizing.margin_budget,
                                       sizing.kelly_fraction, sizing.vol_target,
                                       sizing.max_contracts))
    assert not sizing.need_worst
    assert rules.margin.model == MarginModel.NONE and not rules.margin.on
    assert not rules.account.financing_on
    assert not rules.hedge.on and not rules.hedge.time_on and not rules.hedge.band_position
    assert rules.book.slippage_per_contract == 0.0


@pytest.mark.parametrize(
    ("first", "end", "expected"),
    [(0.0, math.nan, (0, N_DAYS)), (math.nan, 100.0, (0, 100)), (40.7, 80.2, (40, 80)),
     (-5.0, 10_000.0, (0, N_DAYS)), (90.0, 30.0, (90, 90)), (900.0, 1_000.0, (N_DAYS, N_DAYS))],
)
def test_day_window_is_clamped_to_the_chain(
    first: float, end: float, expected: tuple[int, int]
) -> None:
    params = encode_spec(parse_strategy(DEFAULTS), _Features())
    params[P.window_first], params[P.window_end] = first, end
    assert window_nb(params, N_DAYS) == expected
    rules = decode_rules_nb(params, N_DAYS, False)
    assert (rules.book.first, rules.book.end) == expected
