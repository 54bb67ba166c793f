"""Decoding of one parameter vector into the rules of a backtest (`state.Rules`).

Array contract. `params` is one float64 vector laid out by `contract.py` (NaN = rule off,
flags 0/1, enums as their codes); `n_days` is the chain's length. The rules are NamedTuples of
scalars (`state.py`); `scenarios_nb` is a view of the scenario blocks of `params`. Nothing is
allocated.
"""

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import LEG, LEG_SIZE, P_LEG0, P_SCEN0, SCEN_SIZE, P
from gridbt.kernel.enums import HedgeBand, MarginModel, SignalKind
from gridbt.kernel.state import (
    AccountRules,
    BookRules,
    EntryRules,
    ExitRules,
    HedgeRules,
    MarginRules,
    Rules,
    SignalRules,
    SizingRules,
    StressRules,
)

MARGIN_NONE = MarginModel.NONE
MARGIN_PM = MarginModel.PM
BAND_NONE = HedgeBand.NONE
BAND_WW = HedgeBand.WW
SIGNAL_ZSCORE = SignalKind.ZSCORE


@njit(cache=True, nogil=True)
def window_nb(params, n_days):
    """The day window `(first, end)` of a parameter vector, clamped to the chain
    (docs/semantics.md, Day window; same rule as `result.window_bounds`): a NaN first is 0, a
    NaN end is `n_days`, and an empty window comes back as `(first, first)`."""
    lo = params[P.window_first]
    hi = params[P.window_end]
    first = int(min(lo, n_days)) if lo > 0.0 else 0
    end = n_days
    if hi < n_days:
        end = int(hi) if hi > 0.0 else 0
    if end < first:
        end = first
    return first, end


@njit(cache=True, nogil=True, inline="always")
def decode_rules_nb(params, n_days, fill_daily):
    """Every rule of the backtest of `params` over a chain of `n_days` days (one function
    rather than one per section: each numba function costs its own compilation). Inlined: a
    called function returns the rules through stack memory that the day loop reloads after
    every store to an output array; inlined, they are values in registers."""
    model = int(params[P.margin_model])
    band = int(params[P.hedge_band])
    hedge_on = params[P.hedge_on] > 0.5
    # the book's constants, the day window and which greeks the marks must track
    first, end = window_nb(params, n_days)
    hedge_ww = hedge_on and band == BAND_WW
    book = BookRules(
        capital=params[P.capital],
        multiplier=params[P.multiplier],
        n_legs=int(params[P.n_legs]),
        slippage=params[P.slippage],
        slippage_per_contract=params[P.slippage_per_contract],
        commission=params[P.commission],
        first=first,
        end=end,
        fill_daily=fill_daily,
        track_iv=fill_daily or model == MARGIN_PM or hedge_ww,
        track_gamma=fill_daily or hedge_ww,
    )
    # the entry signal
    signal = SignalRules(
        zscore=int(params[P.signal_kind]) == SIGNAL_ZSCORE,
        direction=int(params[P.signal_direction]),
        feature=int(params[P.z_feature]),
        window=int(params[P.z_window]),
        entry=params[P.z_entry],
        exit=params[P.z_exit],
        inverted=params[P.z_inverted] > 0.5,
    )
    # schedule, filters, re-entry, and the expiry windows with the rights each group needs
    need_call_near = need_call_far = need_put_near = need_put_far = False
    for i in range(int(params[P.n_legs])):
        base = P_LEG0 + i * LEG_SIZE
        far = int(params[base + LEG.group]) == 1
        if params[base + LEG.right] > 0:
            if far:
                need_call_far = True
            else:
                need_call_near = True
        elif far:
            need_put_far = True
        else:
            need_put_near = True
    entry = EntryRules(
        weekday_mask=int(params[P.weekday_mask]),
        every_n_days=int(params[P.every_n_days]),
        n_filters=int(params[P.n_filters]),
        reentry_mask=int(params[P.reentry_mask]),
        need_call=(need_call_near, need_call_far),
        need_put=(need_put_near, need_put_far),
        dte_target=(params[P.dte_target], params[P.far_target]),
        dte_min=(params[P.dte_min], params[P.far_min]),
        dte_max=(params[P.dte_max], params[P.far_max]),
    )
    # the planned exit rules
    exit_ = ExitRules(
        profit_target=params[P.profit_target],
        stop_loss=params[P.stop_loss],
        dte=params[P.dte_exit],
        max_holding=params[P.max_holding],
        rebalance=params[P.rebalance],
        delta_breach=params[P.delta_breach],
        period_trading=params[P.period_trading] > 0.5,
    )
    # the sizing budgets and bounds
    risk_budget = params[P.risk_budget]
    kelly_fraction = params[P.kelly_fraction]
    sizing = SizingRules(
        contracts=params[P.contracts],
        risk_budget=risk_budget,
        risk_hedged=params[P.risk_hedged] > 0.5,
        margin_budget=params[P.margin_budget],
        kelly_fraction=kelly_fraction,
        kelly_min_trades=params[P.kelly_min_trades],
        vol_target=params[P.vol_target],
        min_contracts=params[P.min_contracts],
        max_contracts=params[P.max_contracts],
        need_worst=(
            risk_budget == risk_budget or kelly_fraction == kelly_fraction or model == MARGIN_PM
        ),
    )
    # pricing inputs and the stress scenarios
    stress = StressRules(
        rate=params[P.rate],
        dividend=params[P.dividend],
        n_scenarios=int(params[P.n_scenarios]),
    )
    # the margin model and its parameters
    margin = MarginRules(
        model=model,
        on=model != MARGIN_NONE,
        broad=params[P.margin_broad] > 0.5,
        min_underlying=params[P.margin_min_underlying],
        min_put=params[P.margin_min_put],
        house_multiplier=params[P.margin_house_mult],
        house_floor=params[P.margin_house_floor],
        pm_multiplier=params[P.margin_pm_mult],
        pm_minimum=params[P.margin_pm_min],
    )
    # the margin account and financing
    cash_rate = params[P.cash_rate]
    borrow_rate = params[P.borrow_rate]
    account = AccountRules(
        maintenance_ratio=params[P.maint_ratio],
        grace_days=params[P.grace_days],
        liquidate_to_target=params[P.liq_target] > 0.5,
        liquidation_buffer=params[P.liq_buffer],
        cash_rate=cash_rate,
        borrow_rate=borrow_rate,
        financing_on=cash_rate != 0.0 or borrow_rate != 0.0,
    )
    # the delta hedge
    every_days = params[P.hedge_every]
    hedge = HedgeRules(
        on=hedge_on,
        band=band,
        band_on=band != BAND_NONE,
        band_position=params[P.hedge_band_position] > 0.5,
        half_width=params[P.hedge_half_width],
        ww_c=params[P.hedge_ww_c],
        ww_min=params[P.hedge_ww_min],
        ww_max=params[P.hedge_ww_max],
        ww_fee=params[P.hedge_ww_fee],
        to_boundary=params[P.hedge_to_boundary] > 0.5,
        every_days=every_days,
        time_on=every_days == every_days,
        combine_and=params[P.hedge_and] > 0.5,
        target=params[P.hedge_target],
        at_entry=params[P.hedge_at_entry] > 0.5,
        min_trade=params[P.hedge_min_trade],
        max_trade=params[P.hedge_max_trade],
        commission=params[P.hedge_commission],
        slippage_bps=params[P.hedge_bps],
    )
    return Rules(book, signal, entry, exit_, sizing, stress, margin, account, hedge)


@njit(cache=True, nogil=True)
def scenarios_nb(params):
    """The scenario blocks in use of the parameter vector (a view)."""
    return params[P_SCEN0 : P_SCEN0 + int(params[P.n_scenarios]) * SCEN_SIZE]
