"""Strategy spec -> packed float64 parameter vector (the kernel's only view of a strategy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data.pack import RIGHT_CALL, RIGHT_PUT
from gridbt.kernel import layout as L
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

__all__ = ["FeatureSource", "encode_spec", "reentry_mask"]


class FeatureSource(Protocol):
    """What encoding needs of a chain: the names of its daily features, in order."""

    @property
    def feature_names(self) -> tuple[str, ...]: ...

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
    p = np.zeros(L.N_PARAMS, dtype=np.float64)
    st = spec.structure
    p[L.P_CAPITAL] = spec.capital
    p[L.P_MULTIPLIER] = spec.multiplier
    p[L.P_DTE_TARGET], p[L.P_DTE_MIN], p[L.P_DTE_MAX] = st.dte.target, st.dte.min, st.dte.max
    far = st.dte_far or st.dte
    p[L.P_FAR_TARGET], p[L.P_FAR_MIN], p[L.P_FAR_MAX] = far.target, far.min, far.max
    p[L.P_N_LEGS] = len(st.legs)
    for i, leg in enumerate(st.legs):
        base = L.P_LEG0 + i * L.LEG_SIZE
        p[base + L.L_RIGHT] = RIGHT_CALL if leg.right == "C" else RIGHT_PUT
        p[base + L.L_SIDE] = 1.0 if leg.side == "long" else -1.0
        p[base + L.L_QTY] = leg.qty
        sel = leg.select
        if isinstance(sel, SelectDelta):
            p[base + L.L_SELECT_BY] = SelectBy.DELTA
        elif isinstance(sel, SelectMoneyness):
            p[base + L.L_SELECT_BY] = SelectBy.MONEYNESS
        elif isinstance(sel, SelectOffset):
            p[base + L.L_SELECT_BY] = SelectBy.OFFSET
            p[base + L.L_OF] = sel.of
            p[base + L.L_POINTS] = sel.points
        p[base + L.L_TARGET] = getattr(sel, "target", math.nan)
        p[base + L.L_TOLERANCE] = sel.tolerance
        p[base + L.L_GROUP] = leg.expiry_group
        p[base + L.L_MIN_OI] = leg.min_open_interest
        p[base + L.L_MIN_VOLUME] = leg.min_volume
        p[base + L.L_MAX_SPREAD] = _opt(leg.max_relative_spread)
    entry = spec.entry
    p[L.P_WEEKDAY_MASK] = sum(1 << d for d in set(entry.weekdays))
    p[L.P_EVERY_N_DAYS] = entry.every_n_days
    p[L.P_N_FILTERS] = len(entry.filters)
    for f, flt in enumerate(entry.filters):
        base = L.P_FILTER0 + f * L.FILTER_SIZE
        p[base + L.F_FEATURE] = _feature_index(packed, flt.feature, f"entry.filters[{f}].feature")
        p[base + L.F_MIN] = -math.inf if flt.min is None else flt.min
        p[base + L.F_MAX] = math.inf if flt.max is None else flt.max
    sig = entry.signal
    if isinstance(sig, SignalZScore):
        p[L.P_SIGNAL_KIND] = SignalKind.ZSCORE
        p[L.P_SIGNAL_DIRECTION] = 1.0
        p[L.P_Z_FEATURE] = _feature_index(packed, sig.feature, "entry.signal.feature")
        p[L.P_Z_WINDOW] = sig.window
        p[L.P_Z_ENTRY] = sig.entry
        p[L.P_Z_EXIT] = sig.exit
        p[L.P_Z_INVERTED] = float(sig.inverted)
    else:
        p[L.P_SIGNAL_KIND] = SignalKind.ALWAYS
        p[L.P_SIGNAL_DIRECTION] = 1.0 if sig.direction == "long" else -1.0
    ex = spec.exit
    p[L.P_PROFIT_TARGET] = _opt(ex.profit_target)
    p[L.P_STOP_LOSS] = _opt(ex.stop_loss)
    p[L.P_DTE_EXIT] = _opt(ex.dte)
    p[L.P_MAX_HOLDING] = _opt(ex.max_holding_days)
    p[L.P_REBALANCE] = _opt(ex.rebalance_days)
    p[L.P_DELTA_BREACH] = _opt(ex.delta_breach)
    p[L.P_PERIOD_TRADING] = float(ex.period_unit == "trading")
    p[L.P_REENTRY_MASK] = reentry_mask(spec.reentry.same_day)
    p[L.P_SLIPPAGE] = spec.execution.slippage
    p[L.P_COMMISSION] = spec.execution.commission_per_contract
    p[L.P_CONTRACTS] = spec.sizing.contracts
    # the whole chain: a spec has no day window (the optimizer sets these columns on its rows)
    p[L.P_WINDOW_FIRST] = 0.0
    p[L.P_WINDOW_END] = math.nan
    _encode_risk(p, spec)
    return p


_MARGIN_MODELS = {"none": MarginModel.NONE, "regt": MarginModel.REGT, "pm": MarginModel.PM}
_HEDGE_BANDS = {"none": HedgeBand.NONE, "fixed": HedgeBand.FIXED, "ww": HedgeBand.WW}


def _encode_risk(p: FloatArray, spec: StrategySpec) -> None:
    """Sizing, stress, margin, account and hedge blocks (docs/semantics.md, Risk layer)."""
    sz, risk, hedge = spec.sizing, spec.risk, spec.hedge
    p[L.P_RATE] = risk.rate
    p[L.P_DIVIDEND] = risk.dividend
    p[L.P_RISK_BUDGET] = _opt(sz.risk_budget)
    p[L.P_RISK_HEDGED] = float(sz.risk_basis == "entry_hedged")
    p[L.P_MARGIN_BUDGET] = _opt(sz.margin_budget)
    p[L.P_KELLY_FRACTION] = _opt(sz.kelly_fraction)
    p[L.P_KELLY_MIN_TRADES] = sz.kelly_min_trades
    p[L.P_VOL_TARGET] = _opt(sz.vol_target)
    p[L.P_MIN_CONTRACTS] = sz.min_contracts
    p[L.P_MAX_CONTRACTS] = _opt(sz.max_contracts)
    m = risk.margin
    p[L.P_MARGIN_MODEL] = _MARGIN_MODELS[m.model]
    p[L.P_MARGIN_BROAD] = float(m.broad_index)
    p[L.P_MARGIN_MIN_UNDERLYING] = m.min_underlying_pct
    p[L.P_MARGIN_MIN_PUT] = m.min_put_pct
    p[L.P_MARGIN_HOUSE_MULT] = m.house_multiplier
    p[L.P_MARGIN_HOUSE_FLOOR] = m.house_floor
    p[L.P_MARGIN_PM_MULT] = m.stress_multiplier
    p[L.P_MARGIN_PM_MIN] = m.minimum
    a = risk.account
    p[L.P_MAINT_RATIO] = a.maintenance_ratio
    p[L.P_GRACE_DAYS] = a.grace_days
    p[L.P_LIQ_TARGET] = float(a.liquidation == "target")
    p[L.P_LIQ_BUFFER] = a.liquidation_buffer
    p[L.P_CASH_RATE] = a.cash_rate
    p[L.P_BORROW_RATE] = a.borrow_rate
    p[L.P_HEDGE_ON] = float(hedge.enabled)
    p[L.P_HEDGE_BAND] = _HEDGE_BANDS[hedge.band]
    p[L.P_HEDGE_HALF_WIDTH] = hedge.half_width
    p[L.P_HEDGE_WW_C] = hedge.ww_c
    p[L.P_HEDGE_WW_MIN] = hedge.ww_min
    p[L.P_HEDGE_WW_MAX] = hedge.ww_max
    p[L.P_HEDGE_WW_FEE] = hedge.slippage_bps / 1e4 if hedge.ww_fee is None else hedge.ww_fee
    p[L.P_HEDGE_TO_BOUNDARY] = float(hedge.rebalance_to == "boundary")
    p[L.P_HEDGE_EVERY] = _opt(hedge.every_days)
    p[L.P_HEDGE_AND] = float(hedge.combine == "and")
    p[L.P_HEDGE_TARGET] = hedge.target_delta
    p[L.P_HEDGE_AT_ENTRY] = float(hedge.at_entry)
    p[L.P_HEDGE_MIN_TRADE] = hedge.min_trade
    p[L.P_HEDGE_MAX_TRADE] = _opt(hedge.max_trade)
    p[L.P_HEDGE_COMMISSION] = hedge.commission_per_share
    p[L.P_HEDGE_BPS] = hedge.slippage_bps
    points = scenarios(risk.stress)
    p[L.P_N_SCENARIOS] = len(points)
    for k, sc in enumerate(points):
        base = L.P_SCEN0 + k * L.SCEN_SIZE
        p[base + L.S_SPOT] = sc.spot
        p[base + L.S_VOL] = sc.vol
        p[base + L.S_RR] = sc.risk_reversal
        p[base + L.S_RATE] = sc.rate
        p[base + L.S_YEARS] = sc.time_days / 365.0
