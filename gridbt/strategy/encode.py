"""Strategy spec -> packed float64 parameter vector (the kernel's only view of a strategy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data.features import FEATURE_NAMES
from gridbt.data.pack import RIGHT_CALL, RIGHT_PUT
from gridbt.kernel.contract import (
    FILTER_SIZE,
    LEG,
    LEG_SIZE,
    N_PARAMS,
    P_FILTER0,
    P_LEG0,
    P_SCEN0,
    SCEN_SIZE,
    F,
    P,
    S,
)
from gridbt.kernel.enums import ExitReason, HedgeBand, MarginModel, SelectBy, SignalKind
from gridbt.strategy.spec import (
    SelectDelta,
    SelectMoneyness,
    SelectOffset,
    SignalZScore,
    SpecError,
    StrategySpec,
)
from gridbt.strategy.stress import scenarios

__all__ = ["STANDARD_FEATURES", "FeatureSource", "encode_spec", "reentry_mask"]


class FeatureSource(Protocol):
    """What encoding needs of a chain: the names of its daily features, in order."""

    @property
    def feature_names(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class _FeatureNames:
    feature_names: tuple[str, ...]


#: The features of every chain gridbt packs (`gridbt.data.features`): encoding for a sweep or
#: a study needs no chain at hand.
STANDARD_FEATURES: FeatureSource = _FeatureNames(FEATURE_NAMES)

_NEVER_REENTER = {"expiry", "signal", "end_of_data"}


def reentry_mask(same_day: bool | Sequence[str]) -> int:
    """Bit r set = same-day re-entry allowed after exit reason r."""
    if same_day is True:
        reasons = [r for r in ExitReason.NAMES if r not in _NEVER_REENTER]
    elif same_day is False:
        reasons = []
    else:
        reasons = list(same_day)
    return sum(1 << ExitReason.NAMES.index(r) for r in set(reasons))


def _opt(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _feature_index(packed: FeatureSource, name: str, where: str) -> int:
    if name not in packed.feature_names:
        raise SpecError(
            f"{where}: unknown feature {name!r}; available: {', '.join(packed.feature_names)}"
        )
    return packed.feature_names.index(name)


def encode_spec(spec: StrategySpec, packed: FeatureSource) -> FloatArray:
    """Return the parameter vector of `spec` for backtests over `packed`."""
    p = np.zeros(N_PARAMS, dtype=np.float64)
    st = spec.structure
    p[P.capital] = spec.capital
    p[P.multiplier] = spec.multiplier
    p[P.dte_target], p[P.dte_min], p[P.dte_max] = st.dte.target, st.dte.min, st.dte.max
    far = st.dte_far or st.dte
    p[P.far_target], p[P.far_min], p[P.far_max] = far.target, far.min, far.max
    p[P.n_legs] = len(st.legs)
    for i, leg in enumerate(st.legs):
        base = P_LEG0 + i * LEG_SIZE
        p[base + LEG.right] = RIGHT_CALL if leg.right == "C" else RIGHT_PUT
        p[base + LEG.side] = 1.0 if leg.side == "long" else -1.0
        p[base + LEG.qty] = leg.qty
        sel = leg.select
        if isinstance(sel, SelectDelta):
            p[base + LEG.select_by] = SelectBy.DELTA
        elif isinstance(sel, SelectMoneyness):
            p[base + LEG.select_by] = SelectBy.MONEYNESS
        elif isinstance(sel, SelectOffset):
            p[base + LEG.select_by] = SelectBy.OFFSET
            p[base + LEG.of] = sel.of
            p[base + LEG.points] = sel.points
        p[base + LEG.target] = getattr(sel, "target", math.nan)
        p[base + LEG.tolerance] = sel.tolerance
        p[base + LEG.group] = leg.expiry_group
        p[base + LEG.min_oi] = leg.min_open_interest
        p[base + LEG.min_volume] = leg.min_volume
        p[base + LEG.max_spread] = _opt(leg.max_relative_spread)
    entry = spec.entry
    p[P.weekday_mask] = sum(1 << d for d in set(entry.weekdays))
    p[P.every_n_days] = entry.every_n_days
    p[P.n_filters] = len(entry.filters)
    for f, flt in enumerate(entry.filters):
        base = P_FILTER0 + f * FILTER_SIZE
        p[base + F.feature] = _feature_index(packed, flt.feature, f"entry.filters[{f}].feature")
        p[base + F.min] = -math.inf if flt.min is None else flt.min
        p[base + F.max] = math.inf if flt.max is None else flt.max
    sig = entry.signal
    if isinstance(sig, SignalZScore):
        p[P.signal_kind] = SignalKind.ZSCORE
        p[P.signal_direction] = 1.0
        p[P.z_feature] = _feature_index(packed, sig.feature, "entry.signal.feature")
        p[P.z_window] = sig.window
        p[P.z_entry] = sig.entry
        p[P.z_exit] = sig.exit
        p[P.z_inverted] = float(sig.inverted)
    else:
        p[P.signal_kind] = SignalKind.ALWAYS
        p[P.signal_direction] = 1.0 if sig.direction == "long" else -1.0
    ex = spec.exit
    p[P.profit_target] = _opt(ex.profit_target)
    p[P.stop_loss] = _opt(ex.stop_loss)
    p[P.dte_exit] = _opt(ex.dte)
    p[P.max_holding] = _opt(ex.max_holding_days)
    p[P.rebalance] = _opt(ex.rebalance_days)
    p[P.delta_breach] = _opt(ex.delta_breach)
    p[P.period_trading] = float(ex.period_unit == "trading")
    p[P.reentry_mask] = reentry_mask(spec.reentry.same_day)
    p[P.slippage] = spec.execution.slippage
    p[P.slippage_per_contract] = spec.execution.slippage_per_contract
    p[P.commission] = spec.execution.commission_per_contract
    p[P.contracts] = spec.sizing.contracts
    # the whole chain: a spec has no day window (the optimizer sets these columns on its rows)
    p[P.window_first] = 0.0
    p[P.window_end] = math.nan
    _encode_risk(p, spec)
    return p


_MARGIN_MODELS = {"none": MarginModel.NONE, "regt": MarginModel.REGT, "pm": MarginModel.PM}
_HEDGE_BANDS = {"none": HedgeBand.NONE, "fixed": HedgeBand.FIXED, "ww": HedgeBand.WW}


def _encode_risk(p: FloatArray, spec: StrategySpec) -> None:
    """Sizing, stress, margin, account and hedge blocks (docs/semantics.md, Risk layer)."""
    sz, risk, hedge = spec.sizing, spec.risk, spec.hedge
    p[P.rate] = risk.rate
    p[P.dividend] = risk.dividend
    p[P.risk_budget] = _opt(sz.risk_budget)
    p[P.risk_hedged] = float(sz.risk_basis == "entry_hedged")
    p[P.margin_budget] = _opt(sz.margin_budget)
    p[P.kelly_fraction] = _opt(sz.kelly_fraction)
    p[P.kelly_min_trades] = sz.kelly_min_trades
    p[P.vol_target] = _opt(sz.vol_target)
    p[P.min_contracts] = sz.min_contracts
    p[P.max_contracts] = _opt(sz.max_contracts)
    m = risk.margin
    p[P.margin_model] = _MARGIN_MODELS[m.model]
    p[P.margin_broad] = float(m.broad_index)
    p[P.margin_min_underlying] = m.min_underlying_pct
    p[P.margin_min_put] = m.min_put_pct
    p[P.margin_house_mult] = m.house_multiplier
    p[P.margin_house_floor] = m.house_floor
    p[P.margin_pm_mult] = m.stress_multiplier
    p[P.margin_pm_min] = m.minimum
    a = risk.account
    p[P.maint_ratio] = a.maintenance_ratio
    p[P.grace_days] = a.grace_days
    p[P.liq_target] = float(a.liquidation == "target")
    p[P.liq_buffer] = a.liquidation_buffer
    p[P.cash_rate] = a.cash_rate
    p[P.borrow_rate] = a.borrow_rate
    p[P.hedge_on] = float(hedge.enabled)
    p[P.hedge_band] = _HEDGE_BANDS[hedge.band]
    p[P.hedge_band_position] = float(hedge.band_units == "position")
    p[P.hedge_half_width] = hedge.half_width
    p[P.hedge_ww_c] = hedge.ww_c
    p[P.hedge_ww_min] = hedge.ww_min
    p[P.hedge_ww_max] = hedge.ww_max
    p[P.hedge_ww_fee] = hedge.slippage_bps / 1e4 if hedge.ww_fee is None else hedge.ww_fee
    p[P.hedge_to_boundary] = float(hedge.rebalance_to == "boundary")
    p[P.hedge_every] = _opt(hedge.every_days)
    p[P.hedge_and] = float(hedge.combine == "and")
    p[P.hedge_target] = hedge.target_delta
    p[P.hedge_at_entry] = float(hedge.at_entry)
    p[P.hedge_min_trade] = hedge.min_trade
    p[P.hedge_max_trade] = _opt(hedge.max_trade)
    p[P.hedge_commission] = hedge.commission_per_share
    p[P.hedge_bps] = hedge.slippage_bps
    points = scenarios(risk.stress)
    p[P.n_scenarios] = len(points)
    for k, sc in enumerate(points):
        base = P_SCEN0 + k * SCEN_SIZE
        p[base + S.spot] = sc.spot
        p[base + S.vol] = sc.vol
        p[base + S.rr] = sc.risk_reversal
        p[base + S.rate] = sc.rate
        p[base + S.years] = sc.time_days / 365.0
