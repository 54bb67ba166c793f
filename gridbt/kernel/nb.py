"""The single-position options backtest kernel (semantics: docs/semantics.md).

Array contract. `chain` is a `contract.Chain` of the arrays of `gridbt/data/pack.py` (axis 0
of day arrays = trading day; dates and expiries are int days since 1970-01-01; prices in
currency per option; NaN = missing quote or greek; volume and open interest -1 = missing).
`features` is (n_features, n_days).
`params` is one float64 vector laid out by `contract.py` (NaN = rule off). Outputs are written
into preallocated arrays: `equity` (n_days), `in_market` (n_days, bool), `trades`
(max_trades, N_TRADE_COLS), `legs` (max_trades * MAX_LEGS, N_LEG_COLS), `skips` (N_SKIPS),
`counters` (N_COUNTERS), `daily` (n_days, N_DAILY_COLS: end-of-day contracts, greeks, hedge,
margin and the day's P&L attribution). `max_trades >= n_days` always suffices: a day closes at
most one trade row. Only the days of the vector's day window (`P.window_first`,
`P.window_end`) are traded; the outputs still cover every day. Nothing is allocated per day:
only per-backtest leg state. The risk layer's scalar helpers live in `risk_nb.py`; with it at
its defaults no Black–Scholes call is made.
"""

import math

import numpy as np
from numba import njit

from gridbt.kernel.contract import (
    FILTER_SIZE,
    LEG,
    LEG_SIZE,
    N_DAILY_COLS,
    N_LEG_COLS,
    N_TRADE_COLS,
    P_FILTER0,
    P_LEG0,
    P_SCEN0,
    SCEN_SIZE,
    C,
    D,
    F,
    G,
    P,
    T,
)
from gridbt.kernel.enums import (
    MAX_LEGS,
    ExitReason,
    HedgeBand,
    MarginModel,
    SelectBy,
    SignalKind,
    SizingBinding,
    SkipReason,
)
from gridbt.kernel.kpi_nb import compute_kpis_nb
from gridbt.kernel.risk_nb import (
    MAX_COUNT,
    SQRT_252,
    floor_count_nb,
    hedge_clip_nb,
    hedge_fill_nb,
    kelly_star_nb,
    per_contract_nb,
    pm_margin_nb,
    regt_margin_nb,
    sigma_bar_nb,
    stress_worst_nb,
    vol_target_sd_nb,
    ww_half_width_nb,
)

EXPIRY = ExitReason.EXPIRY
STOP_LOSS = ExitReason.STOP_LOSS
PROFIT_TARGET = ExitReason.PROFIT_TARGET
DTE = ExitReason.DTE
MAX_HOLDING = ExitReason.MAX_HOLDING
REBALANCE = ExitReason.REBALANCE
DELTA_BREACH = ExitReason.DELTA_BREACH
SIGNAL = ExitReason.SIGNAL
END_OF_DATA = ExitReason.END_OF_DATA
MARGIN_CALL = ExitReason.MARGIN_CALL
MARGIN_PARTIAL = ExitReason.MARGIN_PARTIAL
SKIP_FILTER = SkipReason.FILTER
SKIP_SIGNAL = SkipReason.SIGNAL
SKIP_NO_EXPIRY = SkipReason.NO_EXPIRY
SKIP_NO_STRIKE = SkipReason.NO_STRIKE
SKIP_LIQUIDITY = SkipReason.LIQUIDITY
SKIP_CAPITAL = SkipReason.CAPITAL
SKIP_SIZING = SkipReason.SIZING
SKIP_INVALID_MARKET = SkipReason.INVALID_MARKET
MARGIN_NONE = MarginModel.NONE
MARGIN_REGT = MarginModel.REGT
MARGIN_PM = MarginModel.PM
BAND_NONE = HedgeBand.NONE
BAND_WW = HedgeBand.WW
BIND_FIXED = SizingBinding.FIXED
BIND_RISK = SizingBinding.RISK_BUDGET
BIND_MARGIN = SizingBinding.MARGIN_BUDGET
BIND_KELLY = SizingBinding.KELLY
BIND_VOL = SizingBinding.VOL_TARGET
BIND_MIN = SizingBinding.MIN_CONTRACTS
BIND_MAX = SizingBinding.MAX_CONTRACTS
BY_DELTA = SelectBy.DELTA
BY_MONEYNESS = SelectBy.MONEYNESS
BY_OFFSET = SelectBy.OFFSET
SIGNAL_ZSCORE = SignalKind.ZSCORE


@njit(cache=True, nogil=True, inline="always")
def _neumaier_add(total, comp, x):
    t = total + x
    if abs(total) >= abs(x):
        comp += (total - t) + x
    else:
        comp += (x - t) + total
    return t, comp


@njit(cache=True, nogil=True)
def find_group_nb(day_group_start, day_put_group_start, group_expiry, d, right, expiry):
    """Group index of (day d, right, expiry), or -1 (binary search over the day's groups)."""
    if right > 0:
        lo = day_group_start[d]
        hi = day_put_group_start[d]
    else:
        lo = day_put_group_start[d]
        hi = day_group_start[d + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if group_expiry[mid] < expiry:
            lo = mid + 1
        else:
            hi = mid
    if lo < (day_put_group_start[d] if right > 0 else day_group_start[d + 1]):
        if group_expiry[lo] == expiry:
            return lo
    return -1


@njit(cache=True, nogil=True)
def select_expiry_nb(
    day_date,
    day_group_start,
    day_put_group_start,
    group_expiry,
    d,
    need_call,
    need_put,
    target,
    dte_min,
    dte_max,
):
    """Expiry (int days) nearest `target` DTE within [dte_min, dte_max], quoted on day d in
    every needed right; ties go to the earlier expiry; -1 when none."""
    if need_call:
        lo = day_group_start[d]
        hi = day_put_group_start[d]
    else:
        lo = day_put_group_start[d]
        hi = day_group_start[d + 1]
    today = day_date[d]
    best = -1
    best_dist = np.inf
    for g in range(lo, hi):
        e = group_expiry[g]
        dte = e - today
        if dte <= 0 or dte < dte_min or dte > dte_max:
            continue
        if need_call and need_put:
            if find_group_nb(day_group_start, day_put_group_start, group_expiry, d, -1, e) < 0:
                continue
        dist = abs(dte - target)
        if dist < best_dist:
            best_dist = dist
            best = e
    return best


@njit(cache=True, nogil=True, inline="always")
def _strike_distance_nb(by, target, strike, delta, spot):
    if by == BY_DELTA:
        return abs(abs(delta) - target)  # NaN delta -> NaN -> never in range
    if by == BY_MONEYNESS:
        return abs(strike / spot - target)
    return abs(strike - target)


@njit(cache=True, nogil=True)
def select_strike_nb(
    group_quote_start,
    quote_strike,
    quote_bid,
    quote_ask,
    quote_delta,
    quote_volume,
    quote_open_interest,
    quote_log1p_volume,
    quote_log1p_open_interest,
    g,
    by,
    target,
    tolerance,
    spot,
    min_oi,
    min_volume,
    max_spread,
):
    """Return (quote row, status): status 0 = found, 1 = no strike in range, 2 = none liquid.

    `target` is |delta|, strike/spot or a strike (offset mode, already resolved)."""
    lo = group_quote_start[g]
    hi = group_quote_start[g + 1]
    max_rel = 0.0
    max_log_oi = 0.0
    max_log_vol = 0.0
    any_in_range = False
    first_liquid = hi
    last_liquid = lo - 1
    # first pass: range, liquidity, and the maxima that normalise the delta score
    for q in range(lo, hi):
        bid = quote_bid[q]
        ask = quote_ask[q]
        mid = 0.5 * (bid + ask)
        if not mid > 0.0:  # also false for NaN quotes
            continue
        if not _strike_distance_nb(by, target, quote_strike[q], quote_delta[q], spot) <= tolerance:
            continue
        any_in_range = True
        if max(quote_open_interest[q], 0) < min_oi or max(quote_volume[q], 0) < min_volume:
            continue
        rel = (ask - bid) / mid
        if rel > max_spread:  # NaN cap = off
            continue
        if q < first_liquid:
            first_liquid = q
        last_liquid = q
        max_rel = max(max_rel, rel)
        max_log_oi = max(max_log_oi, quote_log1p_open_interest[q])
        max_log_vol = max(max_log_vol, quote_log1p_volume[q])
    if not any_in_range:
        return -1, 1
    if last_liquid < first_liquid:
        return -1, 2
    best = -1
    best_score = np.inf
    for q in range(first_liquid, last_liquid + 1):
        bid = quote_bid[q]
        ask = quote_ask[q]
        mid = 0.5 * (bid + ask)
        if not mid > 0.0:
            continue
        dist = _strike_distance_nb(by, target, quote_strike[q], quote_delta[q], spot)
        if not dist <= tolerance:
            continue
        if max(quote_open_interest[q], 0) < min_oi or max(quote_volume[q], 0) < min_volume:
            continue
        rel = (ask - bid) / mid
        if rel > max_spread:
            continue
        if by == BY_DELTA:
            spread_norm = rel / max_rel if max_rel > 0.0 else 0.0
            a = quote_log1p_open_interest[q] / max_log_oi if max_log_oi > 0.0 else 0.0
            b = quote_log1p_volume[q] / max_log_vol if max_log_vol > 0.0 else 0.0
            depth_norm = (a + b) / 2.0
            score = dist / tolerance + 0.25 * spread_norm + 0.10 * (1.0 - depth_norm)
        else:
            score = dist
        if score < best_score:
            best_score = score
            best = q
    return best, 0


@njit(cache=True, nogil=True, inline="always")
def _buy_fill(bid, ask, s):
    mid = 0.5 * (bid + ask)
    return mid + s * (ask - mid)


@njit(cache=True, nogil=True, inline="always")
def _sell_fill(bid, ask, s):
    mid = 0.5 * (bid + ask)
    return mid - s * (mid - bid)


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


@njit(cache=True, nogil=True)
def zscore_signal_nb(x, d, window, entry, exit_, state):
    """Advance the z-score state machine to day d: return (new state, exit flag)."""
    if d < window:
        return state, False
    mean = 0.0
    for j in range(d - window, d):
        v = x[j]
        if not v == v:
            return state, False
        mean += v
    mean /= window
    var = 0.0
    for j in range(d - window, d):
        dv = x[j] - mean
        var += dv * dv
    std = math.sqrt(var / (window - 1))
    xd = x[d]
    if not (std > 0.0 and xd == xd):
        return state, False
    z = (xd - mean) / std
    if state == 0:
        if z < -entry:
            return 1, False
        if z > entry:
            return -1, False
        return 0, False
    if state > 0:
        if z >= -exit_:
            return 0, True
        return state, False
    if z <= exit_:
        return 0, True
    return state, False


@njit(cache=True, nogil=True, inline="always")
def _flat_day_nb(d, value, equity, in_market, daily, fill_daily):
    """A day outside the backtest's window: equity `value`, out of the market, no daily row
    (only the margin column in the batch path, which writes no more)."""
    equity[d] = value
    in_market[d] = False
    if fill_daily:
        for k in range(daily.shape[1]):
            daily[d, k] = 0.0
    else:
        daily[d, D.initial_margin] = 0.0


@njit(cache=True, nogil=True, inline="always")
def _hedge_trade_nb(q, spot, bps, commission, cash, cash_c, hp, hp_c, hc, hc_c):
    flow, fee_flow, cost = hedge_fill_nb(q, spot, bps, commission)
    cash, cash_c = _neumaier_add(cash, cash_c, flow)
    cash, cash_c = _neumaier_add(cash, cash_c, fee_flow)
    hp, hp_c = _neumaier_add(hp, hp_c, flow)
    hp, hp_c = _neumaier_add(hp, hp_c, fee_flow)
    hc, hc_c = _neumaier_add(hc, hc_c, cost)
    return cash, cash_c, hp, hp_c, hc, hc_c, cost


@njit(cache=True, nogil=True, inline="always")
def _book_value_nb(
    cash, cash_c, n_legs, leg_open, leg_units, leg_mark, n_contracts, mult, hedge_shares, spot
):
    """Equity of the book: cash, the open legs at their marks, the hedge at spot."""
    total = cash + cash_c
    for i in range(n_legs):
        if leg_open[i]:
            total += leg_units[i] * n_contracts * mult * leg_mark[i]
    return total + hedge_shares * spot


@njit(cache=True, nogil=True, inline="always")
def _close_leg_nb(
    units, bid, ask, quoted, n, mult, slip, commission, counters, cash, cash_c, ex, ex_c, cm,
    cm_c,
):
    """Close `n` contracts of one leg at its last quote (step 1.4): return the fill, the cost
    against mid (spread paid plus commission) and the updated cash, exit-cash and commission
    sums. A leg not quoted today fills stale and is counted."""
    if not quoted:
        counters[C.stale_fills] += 1
    fill = _sell_fill(bid, ask, slip) if units > 0 else _buy_fill(bid, ask, slip)
    flow = units * n * mult * fill
    fee = commission * abs(units) * n
    cash, cash_c = _neumaier_add(cash, cash_c, flow)
    cash, cash_c = _neumaier_add(cash, cash_c, -fee)
    ex, ex_c = _neumaier_add(ex, ex_c, flow)
    cm, cm_c = _neumaier_add(cm, cm_c, fee)
    cost = abs(fill - 0.5 * (bid + ask)) * abs(units) * n * mult + fee
    return fill, cost, cash, cash_c, ex, ex_c, cm, cm_c


@njit(cache=True, nogil=True)
def run_backtest_nb(chain, params, equity, in_market, trades, legs, skips, counters, daily,
                    fill_daily):
    """Run one backtest; fill the outputs and return the number of trade rows.

    With `fill_daily` false only the `D.initial_margin` column of `daily` is written (the batch
    path:
    the KPIs need no more, and the per-day greek loads are skipped unless a rule reads them).
    """
    day_date = chain.day_date
    day_spot = chain.day_spot
    day_weekday = chain.day_weekday
    day_group_start = chain.day_group_start
    day_put_group_start = chain.day_put_group_start
    group_expiry = chain.group_expiry
    group_quote_start = chain.group_quote_start
    quote_strike = chain.quote_strike
    quote_bid = chain.quote_bid
    quote_ask = chain.quote_ask
    quote_iv = chain.quote_iv
    quote_delta = chain.quote_delta
    quote_gamma = chain.quote_gamma
    quote_vega = chain.quote_vega
    quote_theta = chain.quote_theta
    quote_volume = chain.quote_volume
    quote_open_interest = chain.quote_open_interest
    quote_log1p_volume = chain.quote_log1p_volume
    quote_log1p_open_interest = chain.quote_log1p_open_interest
    quote_expiry = chain.quote_expiry
    quote_contract = chain.quote_contract
    contract_right = chain.contract_right
    contract_row_start = chain.contract_row_start
    contract_rows = chain.contract_rows
    contract_row_day = chain.contract_row_day
    features = chain.features
    n_days = day_date.shape[0]
    capital = params[P.capital]
    mult = params[P.multiplier]
    n_legs = int(params[P.n_legs])
    slip = params[P.slippage]
    commission = params[P.commission]
    fixed_contracts = params[P.contracts]
    weekday_mask = int(params[P.weekday_mask])
    every_n = int(params[P.every_n_days])
    n_filters = int(params[P.n_filters])
    reentry_mask = int(params[P.reentry_mask])
    pt = params[P.profit_target]
    sl = params[P.stop_loss]
    dte_exit = params[P.dte_exit]
    max_hold = params[P.max_holding]
    rebalance = params[P.rebalance]
    delta_breach = params[P.delta_breach]
    period_trading = params[P.period_trading] > 0.5
    signal_kind = int(params[P.signal_kind])
    signal_direction = int(params[P.signal_direction])
    z_window = int(params[P.z_window])
    z_entry = params[P.z_entry]
    z_exit = params[P.z_exit]
    z_inverted = params[P.z_inverted] > 0.5
    z_series = features[int(params[P.z_feature])] if signal_kind == SIGNAL_ZSCORE else day_spot
    # risk layer
    rate = params[P.rate]
    dividend = params[P.dividend]
    risk_budget = params[P.risk_budget]
    risk_hedged = params[P.risk_hedged] > 0.5
    margin_budget = params[P.margin_budget]
    kelly_fraction = params[P.kelly_fraction]
    kelly_min = params[P.kelly_min_trades]
    vol_target = params[P.vol_target]
    min_contracts = params[P.min_contracts]
    max_contracts = params[P.max_contracts]
    margin_model = int(params[P.margin_model])
    margin_on = margin_model != MARGIN_NONE
    broad = params[P.margin_broad] > 0.5
    min_under = params[P.margin_min_underlying]
    min_put = params[P.margin_min_put]
    house_mult = params[P.margin_house_mult]
    house_floor = params[P.margin_house_floor]
    pm_mult = params[P.margin_pm_mult]
    pm_min = params[P.margin_pm_min]
    maint_ratio = params[P.maint_ratio]
    grace_days = params[P.grace_days]
    liq_target = params[P.liq_target] > 0.5
    liq_buffer = params[P.liq_buffer]
    cash_rate = params[P.cash_rate]
    borrow_rate = params[P.borrow_rate]
    financing_on = cash_rate != 0.0 or borrow_rate != 0.0
    hedge_on = params[P.hedge_on] > 0.5
    hedge_band = int(params[P.hedge_band])
    half_width = params[P.hedge_half_width]
    ww_c = params[P.hedge_ww_c]
    ww_min = params[P.hedge_ww_min]
    ww_max = params[P.hedge_ww_max]
    ww_fee = params[P.hedge_ww_fee]
    to_boundary = params[P.hedge_to_boundary] > 0.5
    hedge_every = params[P.hedge_every]
    hedge_and = params[P.hedge_and] > 0.5
    hedge_target = params[P.hedge_target]
    hedge_at_entry = params[P.hedge_at_entry] > 0.5
    hedge_min = params[P.hedge_min_trade]
    hedge_max = params[P.hedge_max_trade]
    hedge_comm = params[P.hedge_commission]
    hedge_bps = params[P.hedge_bps]
    n_scen = int(params[P.n_scenarios])
    scen = params[P_SCEN0 : P_SCEN0 + n_scen * SCEN_SIZE]
    sizing_w = risk_budget == risk_budget or kelly_fraction == kelly_fraction
    band_on = hedge_band != BAND_NONE
    track_iv = fill_daily or margin_model == MARGIN_PM or (hedge_on and hedge_band == BAND_WW)
    track_gamma = fill_daily or (hedge_on and hedge_band == BAND_WW)
    time_on = hedge_every == hedge_every

    need_call = np.zeros(2, dtype=np.bool_)
    need_put = np.zeros(2, dtype=np.bool_)
    for i in range(n_legs):
        base = P_LEG0 + i * LEG_SIZE
        grp = int(params[base + LEG.group])
        if params[base + LEG.right] > 0:
            need_call[grp] = True
        else:
            need_put[grp] = True

    # leg state (per backtest, reused for every trade)
    leg_contract = np.zeros(MAX_LEGS, dtype=np.int64)
    leg_cursor = np.zeros(MAX_LEGS, dtype=np.int64)
    leg_end = np.zeros(MAX_LEGS, dtype=np.int64)
    leg_mark = np.zeros(MAX_LEGS)
    leg_bid = np.zeros(MAX_LEGS)
    leg_ask = np.zeros(MAX_LEGS)
    leg_delta = np.zeros(MAX_LEGS)
    leg_gamma = np.zeros(MAX_LEGS)
    leg_vega = np.zeros(MAX_LEGS)
    leg_theta = np.zeros(MAX_LEGS)
    leg_iv = np.zeros(MAX_LEGS)
    leg_units = np.zeros(MAX_LEGS)
    leg_right = np.zeros(MAX_LEGS)
    leg_strike = np.zeros(MAX_LEGS)
    leg_open = np.zeros(MAX_LEGS, dtype=np.bool_)
    leg_quoted = np.zeros(MAX_LEGS, dtype=np.bool_)
    leg_expiry = np.zeros(MAX_LEGS, dtype=np.int64)
    prev_vega_exposure = np.zeros(MAX_LEGS)
    sel_rows = np.zeros(MAX_LEGS, dtype=np.int64)
    sel_expiry = np.zeros(2, dtype=np.int64)

    for k in range(skips.shape[0]):
        skips[k] = 0
    for k in range(counters.shape[0]):
        counters[k] = 0

    cash = capital
    cash_c = 0.0
    position_open = False
    n_trades = 0
    state = 0
    entry_day = 0
    direction = 0
    n_contracts = 0.0
    value_entry = 0.0
    premium = 0.0
    premium_cash = 0.0
    mae = 0.0
    mfe = 0.0
    t_entry_cash = 0.0
    t_entry_cash_c = 0.0
    t_exit_cash = 0.0
    t_exit_cash_c = 0.0
    t_commission = 0.0
    t_commission_c = 0.0
    t_hedge_pnl = 0.0
    t_hedge_pnl_c = 0.0
    t_hedge_cost = 0.0
    t_hedge_cost_c = 0.0
    t_financing = 0.0
    t_financing_c = 0.0
    hedge_shares = 0.0
    last_hedge_day = 0
    imc = 0.0
    call_days = 0
    # Kelly statistics over closed trade rows
    k_rows = 0
    k_wins = 0
    k_losses = 0
    k_sum_wins = 0.0
    k_sum_wins_c = 0.0
    k_sum_losses = 0.0
    k_sum_losses_c = 0.0
    # end of the previous day, for the attribution
    prev_equity = capital
    prev_open = False
    prev_spot = 0.0
    prev_date = 0
    prev_net_delta = 0.0
    prev_gamma = 0.0
    prev_theta = 0.0

    # Day window: days [w_first, w_end) are a fresh backtest; before it equity is capital and
    # the book is flat, while the z-score state (a property of the chain) runs from day 0
    w_first, w_end = window_nb(params, n_days)
    for d in range(w_first):
        if signal_kind == SIGNAL_ZSCORE:
            state, _ = zscore_signal_nb(z_series, d, z_window, z_entry, z_exit, state)
        _flat_day_nb(d, capital, equity, in_market, daily, fill_daily)

    for d in range(w_first, w_end):
        today = day_date[d]
        spot = day_spot[d]
        last_day = d == w_end - 1  # the window's end of data
        signal_exit = False
        if signal_kind == SIGNAL_ZSCORE:
            state, signal_exit = zscore_signal_nb(z_series, d, z_window, z_entry, z_exit, state)
        exit_reason = -1
        day_cost = 0.0
        day_financing = 0.0
        pnl_vega = 0.0

        # 1a. open position: mark (and settle)
        if position_open:
            settled_today = False
            missing = False
            for i in range(n_legs):
                if not leg_open[i]:
                    continue
                if leg_expiry[i] <= today:
                    strike = leg_strike[i]
                    if leg_right[i] > 0:
                        intrinsic = max(spot - strike, 0.0)
                    else:
                        intrinsic = max(strike - spot, 0.0)
                    flow = leg_units[i] * n_contracts * mult * intrinsic
                    cash, cash_c = _neumaier_add(cash, cash_c, flow)
                    t_exit_cash, t_exit_cash_c = _neumaier_add(t_exit_cash, t_exit_cash_c, flow)
                    leg_mark[i] = intrinsic
                    leg_open[i] = False
                    row = n_trades * MAX_LEGS + i
                    legs[row, G.exit_fill] = intrinsic
                    legs[row, G.settled] = 1.0
                    settled_today = True
                    continue
                cur = leg_cursor[i]
                end = leg_end[i]
                while cur < end and contract_row_day[cur] < d:
                    cur += 1
                leg_cursor[i] = cur
                quoted = False
                if cur < end and contract_row_day[cur] == d:
                    q = contract_rows[cur]
                    bid = quote_bid[q]
                    ask = quote_ask[q]
                    if bid == bid and ask == ask:
                        quoted = True
                        leg_bid[i] = bid
                        leg_ask[i] = ask
                        leg_mark[i] = 0.5 * (bid + ask)
                        if quote_delta[q] == quote_delta[q]:
                            leg_delta[i] = quote_delta[q]
                        # greeks and iv only where an output or a rule reads them: each is
                        # one more cache miss per leg and day
                        if track_gamma and quote_gamma[q] == quote_gamma[q]:
                            leg_gamma[i] = quote_gamma[q]
                        if fill_daily:
                            if quote_vega[q] == quote_vega[q]:
                                leg_vega[i] = quote_vega[q]
                            if quote_theta[q] == quote_theta[q]:
                                leg_theta[i] = quote_theta[q]
                        if track_iv:
                            iv = quote_iv[q]
                            if iv == iv:
                                change = iv - leg_iv[i]
                                if change == change:
                                    pnl_vega += prev_vega_exposure[i] * change * 100.0
                                leg_iv[i] = iv
                leg_quoted[i] = quoted
                if not quoted:
                    missing = True
            if missing:
                counters[C.missing_quote_days] += 1
            value = 0.0
            for i in range(n_legs):
                value += leg_units[i] * leg_mark[i]
            pnl = value - value_entry
            pnl_cash = pnl * n_contracts * mult
            if pnl_cash < mae:
                mae = pnl_cash
            if pnl_cash > mfe:
                mfe = pnl_cash
            held = (d - entry_day) if period_trading else (today - day_date[entry_day])
            min_dte = 1 << 40
            for i in range(n_legs):
                min_dte = min(min_dte, leg_expiry[i] - today)
            # 1b. planned exits
            if settled_today:
                exit_reason = EXPIRY
            elif premium > 0.0 and sl == sl and pnl <= -sl * premium:
                exit_reason = STOP_LOSS
            elif premium > 0.0 and pt == pt and pnl >= pt * premium:
                exit_reason = PROFIT_TARGET
            elif dte_exit == dte_exit and min_dte <= dte_exit:
                exit_reason = DTE
            elif max_hold == max_hold and held >= max_hold:
                exit_reason = MAX_HOLDING
            elif rebalance == rebalance and held >= rebalance:
                exit_reason = REBALANCE
            else:
                if delta_breach == delta_breach:
                    for i in range(n_legs):
                        if leg_units[i] < 0 and abs(leg_delta[i]) >= delta_breach:
                            exit_reason = DELTA_BREACH
                            break
                if exit_reason < 0:
                    if signal_exit:
                        exit_reason = SIGNAL
                    elif last_day:
                        exit_reason = END_OF_DATA

            # 1c. hedge step, margin refresh, margin account
            if exit_reason < 0 and hedge_on:
                delta_c = per_contract_nb(leg_units, leg_delta, n_legs, mult)
                net = delta_c + hedge_shares / n_contracts
                band_fired = False
                hw = 0.0
                if band_on:
                    if hedge_band == BAND_WW:
                        hw = ww_half_width_nb(
                            ww_c,
                            ww_fee,
                            per_contract_nb(leg_units, leg_gamma, n_legs, mult),
                            sigma_bar_nb(leg_units, leg_iv, n_legs),
                            spot,
                            ww_min,
                            ww_max,
                        )
                    else:
                        hw = half_width
                    band_fired = abs(net - hedge_target) > hw
                time_fired = False
                if time_on:
                    if period_trading:
                        since = d - last_hedge_day
                    else:
                        since = today - day_date[last_hedge_day]
                    time_fired = since >= hedge_every
                if band_on and time_on:
                    fired = (band_fired and time_fired) if hedge_and else (band_fired or time_fired)
                else:
                    fired = band_fired or time_fired
                if fired:
                    desired = hedge_target
                    if band_fired and to_boundary:
                        desired = hedge_target + hw if net > hedge_target else hedge_target - hw
                    qh = hedge_clip_nb(n_contracts * (desired - net), hedge_min, hedge_max)
                    last_hedge_day = d
                    if qh != 0.0:
                        (
                            cash, cash_c, t_hedge_pnl, t_hedge_pnl_c, t_hedge_cost,
                            t_hedge_cost_c, cost,
                        ) = _hedge_trade_nb(
                            qh, spot, hedge_bps, hedge_comm, cash, cash_c, t_hedge_pnl,
                            t_hedge_pnl_c, t_hedge_cost, t_hedge_cost_c,
                        )
                        hedge_shares += qh
                        day_cost += cost
            if exit_reason < 0 and margin_on:
                all_quoted = True
                for i in range(n_legs):
                    if not leg_quoted[i]:
                        all_quoted = False
                if all_quoted:
                    if margin_model == MARGIN_REGT:
                        imc = regt_margin_nb(
                            spot, leg_units, leg_right, leg_strike, leg_expiry, leg_mark,
                            n_legs, mult, broad, min_under, min_put, house_mult, house_floor,
                        )
                    else:
                        w_pm, _ = stress_worst_nb(
                            spot, today, leg_units, leg_right, leg_strike, leg_expiry, leg_iv,
                            n_legs, mult, rate, dividend, scen, n_scen, False, 0.0,
                        )
                        if w_pm == w_pm:
                            imc = pm_margin_nb(w_pm, pm_mult, pm_min, house_mult, house_floor)
                e_cur = _book_value_nb(cash, cash_c, n_legs, leg_open, leg_units, leg_mark,
                                       n_contracts, mult, hedge_shares, spot)
                mm = imc * n_contracts * maint_ratio
                if mm > e_cur:
                    call_days += 1
                else:
                    call_days = 0
                if call_days > grace_days:
                    keep_n = 0.0
                    if liq_target:
                        denominator = maint_ratio * imc * (1.0 + liq_buffer)
                        if denominator > 0.0:
                            keep_n = min(np.floor(max(e_cur, 0.0) / denominator), MAX_COUNT)
                    if keep_n <= 0.0:
                        exit_reason = MARGIN_CALL
                    else:
                        # partial liquidation: N - K contracts close as their own trade row
                        n_close = n_contracts - keep_n
                        frac = n_close / n_contracts
                        keep = 1.0 - frac
                        r_entry = (t_entry_cash + t_entry_cash_c) * frac
                        r_exit = (t_exit_cash + t_exit_cash_c) * frac
                        r_exit_c = 0.0
                        r_comm = (t_commission + t_commission_c) * frac
                        r_comm_c = 0.0
                        r_hp = (t_hedge_pnl + t_hedge_pnl_c) * frac
                        r_hp_c = 0.0
                        r_hc = (t_hedge_cost + t_hedge_cost_c) * frac
                        r_hc_c = 0.0
                        r_fin = (t_financing + t_financing_c) * frac
                        t_entry_cash = (t_entry_cash + t_entry_cash_c) * keep
                        t_entry_cash_c = 0.0
                        t_exit_cash = (t_exit_cash + t_exit_cash_c) * keep
                        t_exit_cash_c = 0.0
                        t_commission = (t_commission + t_commission_c) * keep
                        t_commission_c = 0.0
                        t_hedge_pnl = (t_hedge_pnl + t_hedge_pnl_c) * keep
                        t_hedge_pnl_c = 0.0
                        t_hedge_cost = (t_hedge_cost + t_hedge_cost_c) * keep
                        t_hedge_cost_c = 0.0
                        t_financing = (t_financing + t_financing_c) * keep
                        t_financing_c = 0.0
                        # the open trade's leg rows move to the next trade index
                        for i in range(MAX_LEGS):
                            src = n_trades * MAX_LEGS + i
                            dst = src + MAX_LEGS
                            for k in range(legs.shape[1]):
                                legs[dst, k] = legs[src, k]
                        for i in range(n_legs):
                            if not leg_open[i]:
                                continue
                            fill, cost, cash, cash_c, r_exit, r_exit_c, r_comm, r_comm_c = (
                                _close_leg_nb(
                                    leg_units[i], leg_bid[i], leg_ask[i], leg_quoted[i],
                                    n_close, mult, slip, commission, counters, cash, cash_c,
                                    r_exit, r_exit_c, r_comm, r_comm_c,
                                )
                            )
                            day_cost += cost
                            legs[n_trades * MAX_LEGS + i, G.exit_fill] = fill
                        if hedge_shares != 0.0:
                            qh = -hedge_shares * (n_contracts - keep_n) / n_contracts
                            cash, cash_c, r_hp, r_hp_c, r_hc, r_hc_c, cost = _hedge_trade_nb(
                                qh, spot, hedge_bps, hedge_comm, cash, cash_c, r_hp, r_hp_c,
                                r_hc, r_hc_c,
                            )
                            hedge_shares += qh
                            day_cost += cost
                        row = trades[n_trades]
                        row_entry = r_entry
                        row_exit = r_exit + r_exit_c
                        row_comm = r_comm + r_comm_c
                        row_hp = r_hp + r_hp_c
                        row[T.exit_day] = d
                        row[T.exit_reason] = MARGIN_PARTIAL
                        row[T.contracts] = n_close
                        row[T.entry_premium] = premium_cash * frac
                        row[T.entry_cash] = row_entry
                        row[T.exit_cash] = row_exit
                        row[T.commissions] = row_comm
                        row[T.hedge_pnl] = row_hp
                        row[T.hedge_cost] = r_hc + r_hc_c
                        row[T.financing] = r_fin
                        row_pnl = row_entry + row_exit - row_comm + row_hp + r_fin
                        row[T.pnl] = row_pnl
                        row[T.mae] = mae * frac
                        row[T.mfe] = mfe * frac
                        row[T.days_held] = today - day_date[entry_day]
                        nxt = trades[n_trades + 1]
                        for k in range(N_TRADE_COLS):
                            nxt[k] = row[k]
                        n_trades += 1
                        k_rows += 1
                        if row_pnl > 0.0:
                            k_wins += 1
                            k_sum_wins, k_sum_wins_c = _neumaier_add(
                                k_sum_wins, k_sum_wins_c, row_pnl
                            )
                        elif row_pnl < 0.0:
                            k_losses += 1
                            k_sum_losses, k_sum_losses_c = _neumaier_add(
                                k_sum_losses, k_sum_losses_c, row_pnl
                            )
                        n_contracts = keep_n
                        premium_cash = premium_cash * keep
                        mae = mae * keep
                        mfe = mfe * keep
                        call_days = 0

            # fill a full exit (planned or margin call)
            if exit_reason >= 0:
                for i in range(n_legs):
                    if not leg_open[i]:
                        continue
                    (
                        fill, cost, cash, cash_c, t_exit_cash, t_exit_cash_c, t_commission,
                        t_commission_c,
                    ) = _close_leg_nb(
                        leg_units[i], leg_bid[i], leg_ask[i], leg_quoted[i], n_contracts, mult,
                        slip, commission, counters, cash, cash_c, t_exit_cash, t_exit_cash_c,
                        t_commission, t_commission_c,
                    )
                    day_cost += cost
                    leg_mark[i] = fill
                    leg_open[i] = False
                    legs[n_trades * MAX_LEGS + i, G.exit_fill] = fill
                if hedge_shares != 0.0:
                    (
                        cash, cash_c, t_hedge_pnl, t_hedge_pnl_c, t_hedge_cost, t_hedge_cost_c,
                        cost,
                    ) = _hedge_trade_nb(
                        -hedge_shares, spot, hedge_bps, hedge_comm, cash, cash_c, t_hedge_pnl,
                        t_hedge_pnl_c, t_hedge_cost, t_hedge_cost_c,
                    )
                    hedge_shares = 0.0
                    day_cost += cost
                row = trades[n_trades]
                row[T.exit_day] = d
                row[T.exit_reason] = exit_reason
                row[T.contracts] = n_contracts
                row[T.entry_premium] = premium_cash
                entry_cash_total = t_entry_cash + t_entry_cash_c
                exit_cash_total = t_exit_cash + t_exit_cash_c
                commission_total = t_commission + t_commission_c
                hedge_pnl_total = t_hedge_pnl + t_hedge_pnl_c
                financing_total = t_financing + t_financing_c
                row[T.entry_cash] = entry_cash_total
                row[T.exit_cash] = exit_cash_total
                row[T.commissions] = commission_total
                row[T.hedge_pnl] = hedge_pnl_total
                row[T.hedge_cost] = t_hedge_cost + t_hedge_cost_c
                row[T.financing] = financing_total
                row_pnl = (
                    entry_cash_total
                    + exit_cash_total
                    - commission_total
                    + hedge_pnl_total
                    + financing_total
                )
                row[T.pnl] = row_pnl
                row[T.mae] = mae
                row[T.mfe] = mfe
                row[T.days_held] = today - day_date[entry_day]
                n_trades += 1
                k_rows += 1
                if row_pnl > 0.0:
                    k_wins += 1
                    k_sum_wins, k_sum_wins_c = _neumaier_add(k_sum_wins, k_sum_wins_c, row_pnl)
                elif row_pnl < 0.0:
                    k_losses += 1
                    k_sum_losses, k_sum_losses_c = _neumaier_add(
                        k_sum_losses, k_sum_losses_c, row_pnl
                    )
                position_open = False
                call_days = 0
                imc = 0.0

        # 2. flat: entry
        if not position_open and not last_day:
            allowed = exit_reason < 0 or (reentry_mask >> exit_reason) & 1 == 1
            scheduled = (
                (weekday_mask >> day_weekday[d]) & 1 == 1 and (d - w_first) % every_n == 0
            )
            if allowed and scheduled:
                skip = -1
                for f in range(n_filters):
                    base = P_FILTER0 + f * FILTER_SIZE
                    v = features[int(params[base + F.feature]), d]
                    if not (v == v and v >= params[base + F.min] and v <= params[base + F.max]):
                        skip = SKIP_FILTER
                        break
                dir_today = 0
                if skip < 0:
                    if signal_kind == SIGNAL_ZSCORE:
                        dir_today = -state if z_inverted else state
                    else:
                        dir_today = signal_direction
                    if dir_today == 0:
                        skip = SKIP_SIGNAL
                if skip < 0:
                    targets = (params[P.dte_target], params[P.far_target])
                    mins = (params[P.dte_min], params[P.far_min])
                    maxs = (params[P.dte_max], params[P.far_max])
                    for grp in range(2):
                        sel_expiry[grp] = -1
                        if need_call[grp] or need_put[grp]:
                            e = select_expiry_nb(
                                day_date,
                                day_group_start,
                                day_put_group_start,
                                group_expiry,
                                d,
                                need_call[grp],
                                need_put[grp],
                                targets[grp],
                                mins[grp],
                                maxs[grp],
                            )
                            if e < 0:
                                skip = SKIP_NO_EXPIRY
                                break
                            sel_expiry[grp] = e
                if skip < 0:
                    for i in range(n_legs):
                        base = P_LEG0 + i * LEG_SIZE
                        right = int(params[base + LEG.right])
                        grp = int(params[base + LEG.group])
                        g = find_group_nb(
                            day_group_start,
                            day_put_group_start,
                            group_expiry,
                            d,
                            right,
                            sel_expiry[grp],
                        )
                        by = int(params[base + LEG.select_by])
                        target = params[base + LEG.target]
                        if by == BY_OFFSET:
                            target = (
                                quote_strike[sel_rows[int(params[base + LEG.of])]]
                                + params[base + LEG.points]
                            )
                        q, status = select_strike_nb(
                            group_quote_start,
                            quote_strike,
                            quote_bid,
                            quote_ask,
                            quote_delta,
                            quote_volume,
                            quote_open_interest,
                            quote_log1p_volume,
                            quote_log1p_open_interest,
                            g,
                            by,
                            target,
                            params[base + LEG.tolerance],
                            spot,
                            params[base + LEG.min_oi],
                            params[base + LEG.min_volume],
                            params[base + LEG.max_spread],
                        )
                        if status == 1:
                            skip = SKIP_NO_STRIKE
                            break
                        if status == 2:
                            skip = SKIP_LIQUIDITY
                            break
                        sel_rows[i] = q
                if skip < 0:
                    # candidate leg state (the book is flat: leg state is free)
                    for i in range(n_legs):
                        base = P_LEG0 + i * LEG_SIZE
                        q = sel_rows[i]
                        leg_units[i] = params[base + LEG.side] * dir_today * params[base + LEG.qty]
                        leg_right[i] = contract_right[quote_contract[q]]
                        leg_strike[i] = quote_strike[q]
                        leg_expiry[i] = quote_expiry[q]
                        leg_bid[i] = quote_bid[q]
                        leg_ask[i] = quote_ask[q]
                        leg_mark[i] = 0.5 * (quote_bid[q] + quote_ask[q])
                        leg_delta[i] = quote_delta[q]
                        leg_iv[i] = quote_iv[q]
                        g_ = quote_gamma[q]
                        leg_gamma[i] = g_ if g_ == g_ else 0.0
                        g_ = quote_vega[q]
                        leg_vega[i] = g_ if g_ == g_ else 0.0
                        g_ = quote_theta[q]
                        leg_theta[i] = g_ if g_ == g_ else 0.0
                    equity_now = cash + cash_c
                    size = fixed_contracts
                    binding = BIND_FIXED
                    w_risk = np.nan
                    w_index = -1
                    imc_entry = 0.0
                    risk_n = np.nan
                    margin_n = np.nan
                    delta_c = 0.0
                    need_w = sizing_w or margin_model == MARGIN_PM
                    if need_w or hedge_on or vol_target == vol_target:
                        delta_c = per_contract_nb(leg_units, leg_delta, n_legs, mult)
                    if need_w:
                        # the trade records this W (with the risk basis) whenever W is needed
                        w_risk, w_index = stress_worst_nb(
                            spot, today, leg_units, leg_right, leg_strike, leg_expiry, leg_iv,
                            n_legs, mult, rate, dividend, scen, n_scen, risk_hedged,
                            hedge_target - delta_c,
                        )
                        if not w_risk == w_risk:
                            skip = SKIP_INVALID_MARKET
                    if skip < 0 and margin_model == MARGIN_PM:
                        w_pm = w_risk
                        if risk_hedged:
                            w_pm, _ = stress_worst_nb(
                                spot, today, leg_units, leg_right, leg_strike, leg_expiry,
                                leg_iv, n_legs, mult, rate, dividend, scen, n_scen, False, 0.0,
                            )
                        if not w_pm == w_pm:
                            skip = SKIP_INVALID_MARKET
                        else:
                            imc_entry = pm_margin_nb(w_pm, pm_mult, pm_min, house_mult, house_floor)
                    elif margin_model == MARGIN_REGT:
                        imc_entry = regt_margin_nb(
                            spot, leg_units, leg_right, leg_strike, leg_expiry, leg_mark,
                            n_legs, mult, broad, min_under, min_put, house_mult, house_floor,
                        )
                    sigma_bar = np.nan
                    if skip < 0 and vol_target == vol_target:
                        sigma_bar = sigma_bar_nb(leg_units, leg_iv, n_legs)
                        if not math.isfinite(sigma_bar):
                            skip = SKIP_INVALID_MARKET
                    if skip < 0:
                        best = np.inf
                        if risk_budget == risk_budget:
                            raw = floor_count_nb(equity_now, risk_budget, w_risk)
                            if raw < best:
                                best = raw
                                binding = BIND_RISK
                            if math.isfinite(raw):
                                risk_n = raw
                        if margin_budget == margin_budget:
                            raw = floor_count_nb(equity_now, margin_budget, imc_entry)
                            if raw < best:
                                best = raw
                                binding = BIND_MARGIN
                            if math.isfinite(raw):
                                margin_n = raw
                        if kelly_fraction == kelly_fraction and k_rows >= kelly_min:
                            f_star = kelly_star_nb(
                                k_rows,
                                k_wins,
                                k_losses,
                                k_sum_wins + k_sum_wins_c,
                                k_sum_losses + k_sum_losses_c,
                            )
                            raw = floor_count_nb(
                                equity_now, kelly_fraction * max(f_star, 0.0), w_risk
                            )
                            if raw < best:
                                best = raw
                                binding = BIND_KELLY
                        if vol_target == vol_target:
                            d_vol = hedge_target if risk_hedged else delta_c
                            sd = vol_target_sd_nb(
                                d_vol,
                                per_contract_nb(leg_units, leg_gamma, n_legs, mult),
                                spot,
                                sigma_bar,
                            )
                            raw = floor_count_nb(equity_now, vol_target, sd * SQRT_252)
                            if raw < best:
                                best = raw
                                binding = BIND_VOL
                        if best < np.inf:
                            size = best
                        if size > max_contracts:
                            size = max_contracts
                            binding = BIND_MAX
                        if size < min_contracts:
                            size = min_contracts
                            binding = BIND_MIN
                        if size < 1.0:
                            skip = SKIP_SIZING
                    if skip < 0:
                        need = 0.0
                        fees = 0.0
                        for i in range(n_legs):
                            units = leg_units[i]
                            if units > 0:
                                fill = _buy_fill(leg_bid[i], leg_ask[i], slip)
                            else:
                                fill = _sell_fill(leg_bid[i], leg_ask[i], slip)
                            need += units * size * mult * fill
                            fees += commission * abs(units) * size
                        if equity_now <= 0.0 or max(need, 0.0) + fees > equity_now:
                            skip = SKIP_CAPITAL
                        elif margin_on and imc_entry * size > equity_now:
                            skip = SKIP_CAPITAL
                if skip >= 0:
                    skips[skip] += 1
                else:
                    # 3. open the position
                    position_open = True
                    entry_day = d
                    direction = dir_today
                    n_contracts = size
                    imc = imc_entry
                    call_days = 0
                    t_entry_cash = 0.0
                    t_entry_cash_c = 0.0
                    t_exit_cash = 0.0
                    t_exit_cash_c = 0.0
                    t_commission = 0.0
                    t_commission_c = 0.0
                    t_hedge_pnl = 0.0
                    t_hedge_pnl_c = 0.0
                    t_hedge_cost = 0.0
                    t_hedge_cost_c = 0.0
                    t_financing = 0.0
                    t_financing_c = 0.0
                    value_entry = 0.0
                    mae = 0.0
                    mfe = 0.0
                    for i in range(n_legs):
                        units = leg_units[i]
                        q = sel_rows[i]
                        c = quote_contract[q]
                        bid = leg_bid[i]
                        ask = leg_ask[i]
                        fill = (
                            _buy_fill(bid, ask, slip) if units > 0 else _sell_fill(bid, ask, slip)
                        )
                        flow = -units * n_contracts * mult * fill
                        fee = commission * abs(units) * n_contracts
                        cash, cash_c = _neumaier_add(cash, cash_c, flow)
                        cash, cash_c = _neumaier_add(cash, cash_c, -fee)
                        t_entry_cash, t_entry_cash_c = _neumaier_add(
                            t_entry_cash, t_entry_cash_c, flow
                        )
                        t_commission, t_commission_c = _neumaier_add(
                            t_commission, t_commission_c, fee
                        )
                        day_cost += abs(fill - leg_mark[i]) * abs(units) * n_contracts * mult + fee
                        leg_contract[i] = c
                        lo = contract_row_start[c]
                        hi = contract_row_start[c + 1]
                        leg_cursor[i] = lo + np.searchsorted(contract_row_day[lo:hi], d)
                        leg_end[i] = hi
                        leg_open[i] = True
                        leg_quoted[i] = True
                        value_entry += units * leg_mark[i]
                        row = n_trades * MAX_LEGS + i
                        legs[row, G.right] = contract_right[c]
                        legs[row, G.strike] = quote_strike[q]
                        legs[row, G.expiry] = quote_expiry[q]
                        legs[row, G.units] = units
                        legs[row, G.entry_fill] = fill
                        legs[row, G.exit_fill] = np.nan
                        legs[row, G.settled] = 0.0
                    for i in range(n_legs, MAX_LEGS):
                        row = n_trades * MAX_LEGS + i
                        for k in range(legs.shape[1]):
                            legs[row, k] = 0.0
                    premium = abs(value_entry)
                    premium_cash = value_entry * n_contracts * mult
                    tr = trades[n_trades]
                    tr[T.entry_day] = d
                    tr[T.direction] = direction
                    tr[T.contracts] = n_contracts
                    tr[T.n_legs] = n_legs
                    tr[T.entry_premium] = premium_cash
                    tr[T.sizing_binding] = binding
                    tr[T.risk_per_contract] = w_risk
                    tr[T.worst_scenario] = w_index
                    tr[T.margin_per_contract] = imc_entry
                    tr[T.risk_contracts] = risk_n
                    tr[T.margin_contracts] = margin_n
                    hedge_shares = 0.0
                    if hedge_on:
                        last_hedge_day = d
                        if hedge_at_entry:
                            qh = hedge_clip_nb(
                                n_contracts * (hedge_target - delta_c), hedge_min, hedge_max
                            )
                            if qh != 0.0:
                                (
                                    cash, cash_c, t_hedge_pnl, t_hedge_pnl_c, t_hedge_cost,
                                    t_hedge_cost_c, cost,
                                ) = _hedge_trade_nb(
                                    qh, spot, hedge_bps, hedge_comm, cash, cash_c, t_hedge_pnl,
                                    t_hedge_pnl_c, t_hedge_cost, t_hedge_cost_c,
                                )
                                hedge_shares += qh
                                day_cost += cost

        # 3. financing
        if position_open and financing_on:
            e_end = _book_value_nb(cash, cash_c, n_legs, leg_open, leg_units, leg_mark,
                                   n_contracts, mult, hedge_shares, spot)
            im = imc * n_contracts
            day_financing = (
                max(e_end - im, 0.0) * cash_rate / 252.0
                - max(im - e_end, 0.0) * borrow_rate / 252.0
            )
            cash, cash_c = _neumaier_add(cash, cash_c, day_financing)
            t_financing, t_financing_c = _neumaier_add(t_financing, t_financing_c, day_financing)

        # 4. equity and the daily row
        total = cash + cash_c
        if position_open:
            total = _book_value_nb(cash, cash_c, n_legs, leg_open, leg_units, leg_mark,
                                   n_contracts, mult, hedge_shares, spot)
        equity[d] = total
        in_market[d] = position_open
        if not fill_daily:
            daily[d, D.initial_margin] = imc * n_contracts if position_open else 0.0
            continue
        out = daily[d]
        pnl_delta = 0.0
        pnl_gamma = 0.0
        pnl_theta = 0.0
        if prev_open:
            move = spot - prev_spot
            pnl_delta = prev_net_delta * move
            pnl_gamma = 0.5 * prev_gamma * move**2
            pnl_theta = prev_theta * (today - prev_date)
        else:
            pnl_vega = 0.0
        pnl_costs = -day_cost
        out[D.pnl_delta] = pnl_delta
        out[D.pnl_gamma] = pnl_gamma
        out[D.pnl_vega] = pnl_vega
        out[D.pnl_theta] = pnl_theta
        out[D.pnl_costs] = pnl_costs
        out[D.pnl_financing] = day_financing
        out[D.pnl_residual] = (total - prev_equity) - (
            pnl_delta + pnl_gamma + pnl_vega + pnl_theta + pnl_costs + day_financing
        )
        if position_open:
            o_delta = 0.0
            o_gamma = 0.0
            o_vega = 0.0
            o_theta = 0.0
            for i in range(n_legs):
                scale = leg_units[i] * mult * n_contracts
                dl = leg_delta[i]
                if dl == dl:
                    o_delta += scale * dl
                o_gamma += scale * leg_gamma[i]
                exposure = scale * leg_vega[i]
                prev_vega_exposure[i] = exposure
                o_vega += exposure
                o_theta += scale * leg_theta[i]
            im = imc * n_contracts
            out[D.contracts] = n_contracts
            out[D.delta] = o_delta
            out[D.hedge_shares] = hedge_shares
            out[D.net_delta] = o_delta + hedge_shares
            out[D.gamma] = o_gamma
            out[D.vega] = o_vega
            out[D.theta] = o_theta
            out[D.initial_margin] = im
            out[D.maintenance_margin] = im * maint_ratio
            out[D.margin_call_days] = call_days
            prev_net_delta = o_delta + hedge_shares
            prev_gamma = o_gamma
            prev_theta = o_theta
        else:
            for k in range(D.pnl_delta):
                out[k] = 0.0
        prev_open = position_open
        prev_equity = total
        prev_spot = spot
        prev_date = today

    # after the window: flat at its last equity (the book closed on its last day)
    final = equity[w_end - 1] if w_end > w_first else capital
    for d in range(w_end, n_days):
        _flat_day_nb(d, final, equity, in_market, daily, fill_daily)
    return n_trades


@njit(cache=True, nogil=True)
def run_batch_nb(chain, params, equity_slot, kpis, skips, counters, equity_out):
    """Run every row of `params` (n_combos, N_PARAMS).

    Writes `kpis` (n_combos, N_KPIS), `skips` (n_combos, N_SKIPS), `counters`
    (n_combos, N_COUNTERS); the equity curve of row r goes to `equity_out[equity_slot[r]]`
    when `equity_slot[r] >= 0`. Scratch buffers (the daily rows included) are allocated once
    per batch.
    """
    n_days = chain.day_date.shape[0]
    n_rows = params.shape[0]
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    daily = np.zeros((n_days, N_DAILY_COLS))
    margin = np.empty(n_days)
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    legs = np.zeros((max(n_days, 1) * MAX_LEGS, N_LEG_COLS))
    trade_pnl = np.empty(max(n_days, 1))
    trade_held = np.empty(max(n_days, 1), dtype=np.int64)
    scratch = np.empty(max(n_days, 1))
    for r in range(n_rows):
        n = run_backtest_nb(
            chain,
            params[r],
            equity,
            in_market,
            trades,
            legs,
            skips[r],
            counters[r],
            daily,
            False,
        )
        for t in range(n):
            trade_pnl[t] = trades[t, T.pnl]
            trade_held[t] = int(trades[t, T.days_held])
        # KPIs over the day window only (the whole chain unless the row sets one)
        w_first, w_end = window_nb(params[r], n_days)
        for t in range(w_first, w_end):
            margin[t] = daily[t, D.initial_margin]
        compute_kpis_nb(
            equity[w_first:w_end],
            chain.day_date[w_first:w_end],
            params[r, P.capital],
            trade_pnl[:n],
            trade_held[:n],
            in_market[w_first:w_end],
            margin[w_first:w_end],
            scratch,
            kpis[r],
        )
        slot = equity_slot[r]
        if slot >= 0:
            equity_out[slot, :] = equity
