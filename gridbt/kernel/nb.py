"""The single-position options backtest kernel (semantics: docs/semantics.md).

Array contract. Chain arrays follow `gridbt/data/pack.py` (axis 0 of day arrays = trading day;
dates and expiries are int days since 1970-01-01; prices in currency per option; NaN = missing
quote or greek; volume and open interest -1 = missing). `features` is (n_features, n_days).
`params` is one float64 vector laid out by `layout.py` (NaN = rule off). Outputs are written
into preallocated arrays: `equity` (n_days), `in_market` (n_days, bool), `trades`
(max_trades, N_TRADE_COLS), `legs` (max_trades * MAX_LEGS, N_LEG_COLS), `skips` (N_SKIPS),
`counters` (N_COUNTERS). Nothing is allocated per day: only per-backtest leg state.
"""

import math

import numpy as np
from numba import njit

from gridbt.kernel.enums import MAX_LEGS, ExitReason, SelectBy, SignalKind, SkipReason
from gridbt.kernel.kpi_nb import compute_kpis_nb
from gridbt.kernel.layout import (
    C_MISSING_QUOTE_DAYS,
    C_STALE_FILLS,
    F_FEATURE,
    F_MAX,
    F_MIN,
    FILTER_SIZE,
    G_ENTRY_FILL,
    G_EXIT_FILL,
    G_EXPIRY,
    G_RIGHT,
    G_SETTLED,
    G_STRIKE,
    G_UNITS,
    L_GROUP,
    L_MAX_SPREAD,
    L_MIN_OI,
    L_MIN_VOLUME,
    L_OF,
    L_POINTS,
    L_QTY,
    L_RIGHT,
    L_SELECT_BY,
    L_SIDE,
    L_TARGET,
    L_TOLERANCE,
    LEG_SIZE,
    N_LEG_COLS,
    N_TRADE_COLS,
    P_CAPITAL,
    P_COMMISSION,
    P_CONTRACTS,
    P_DELTA_BREACH,
    P_DTE_EXIT,
    P_DTE_MAX,
    P_DTE_MIN,
    P_DTE_TARGET,
    P_EVERY_N_DAYS,
    P_FAR_MAX,
    P_FAR_MIN,
    P_FAR_TARGET,
    P_FILTER0,
    P_LEG0,
    P_MAX_HOLDING,
    P_MULTIPLIER,
    P_N_FILTERS,
    P_N_LEGS,
    P_PERIOD_TRADING,
    P_PROFIT_TARGET,
    P_REBALANCE,
    P_REENTRY_MASK,
    P_SIGNAL_DIRECTION,
    P_SIGNAL_KIND,
    P_SLIPPAGE,
    P_STOP_LOSS,
    P_WEEKDAY_MASK,
    P_Z_ENTRY,
    P_Z_EXIT,
    P_Z_FEATURE,
    P_Z_INVERTED,
    P_Z_WINDOW,
    T_COMMISSIONS,
    T_CONTRACTS,
    T_DAYS_HELD,
    T_DIRECTION,
    T_ENTRY_CASH,
    T_ENTRY_DAY,
    T_ENTRY_PREMIUM,
    T_EXIT_CASH,
    T_EXIT_DAY,
    T_EXIT_REASON,
    T_MAE,
    T_MFE,
    T_N_LEGS,
    T_PNL,
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
SKIP_FILTER = SkipReason.FILTER
SKIP_SIGNAL = SkipReason.SIGNAL
SKIP_NO_EXPIRY = SkipReason.NO_EXPIRY
SKIP_NO_STRIKE = SkipReason.NO_STRIKE
SKIP_LIQUIDITY = SkipReason.LIQUIDITY
SKIP_CAPITAL = SkipReason.CAPITAL
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


@njit(cache=True, nogil=True)
def run_backtest_nb(
    day_date,
    day_spot,
    day_weekday,
    day_quote_start,
    day_group_start,
    day_put_group_start,
    group_expiry,
    group_quote_start,
    quote_strike,
    quote_bid,
    quote_ask,
    quote_iv,
    quote_delta,
    quote_gamma,
    quote_vega,
    quote_theta,
    quote_volume,
    quote_open_interest,
    quote_log1p_volume,
    quote_log1p_open_interest,
    quote_expiry,
    quote_right,
    quote_contract,
    contract_right,
    contract_expiry,
    contract_strike,
    contract_row_start,
    contract_rows,
    contract_row_day,
    features,
    params,
    equity,
    in_market,
    trades,
    legs,
    skips,
    counters,
):
    """Run one backtest; fill the outputs and return the number of trades."""
    n_days = day_date.shape[0]
    capital = params[P_CAPITAL]
    mult = params[P_MULTIPLIER]
    n_legs = int(params[P_N_LEGS])
    slip = params[P_SLIPPAGE]
    commission = params[P_COMMISSION]
    contracts = params[P_CONTRACTS]
    weekday_mask = int(params[P_WEEKDAY_MASK])
    every_n = int(params[P_EVERY_N_DAYS])
    n_filters = int(params[P_N_FILTERS])
    reentry_mask = int(params[P_REENTRY_MASK])
    pt = params[P_PROFIT_TARGET]
    sl = params[P_STOP_LOSS]
    dte_exit = params[P_DTE_EXIT]
    max_hold = params[P_MAX_HOLDING]
    rebalance = params[P_REBALANCE]
    delta_breach = params[P_DELTA_BREACH]
    period_trading = params[P_PERIOD_TRADING] > 0.5
    signal_kind = int(params[P_SIGNAL_KIND])
    signal_direction = int(params[P_SIGNAL_DIRECTION])
    z_window = int(params[P_Z_WINDOW])
    z_entry = params[P_Z_ENTRY]
    z_exit = params[P_Z_EXIT]
    z_inverted = params[P_Z_INVERTED] > 0.5
    z_series = features[int(params[P_Z_FEATURE])] if signal_kind == SIGNAL_ZSCORE else day_spot

    need_call = np.zeros(2, dtype=np.bool_)
    need_put = np.zeros(2, dtype=np.bool_)
    for i in range(n_legs):
        base = P_LEG0 + i * LEG_SIZE
        grp = int(params[base + L_GROUP])
        if params[base + L_RIGHT] > 0:
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
    leg_units = np.zeros(MAX_LEGS)
    leg_open = np.zeros(MAX_LEGS, dtype=np.bool_)
    leg_quoted = np.zeros(MAX_LEGS, dtype=np.bool_)
    leg_expiry = np.zeros(MAX_LEGS, dtype=np.int64)
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
    value_entry = 0.0
    premium = 0.0
    mae = 0.0
    mfe = 0.0
    t_entry_cash = 0.0
    t_entry_cash_c = 0.0
    t_exit_cash = 0.0
    t_exit_cash_c = 0.0
    t_commission = 0.0
    t_commission_c = 0.0

    for d in range(n_days):
        today = day_date[d]
        spot = day_spot[d]
        last_day = d == n_days - 1
        signal_exit = False
        if signal_kind == SIGNAL_ZSCORE:
            state, signal_exit = zscore_signal_nb(z_series, d, z_window, z_entry, z_exit, state)
        exit_reason = -1

        # 1. open position: mark, judge exits, fill
        if position_open:
            settled_today = False
            missing = False
            for i in range(n_legs):
                if not leg_open[i]:
                    continue
                if leg_expiry[i] <= today:
                    strike = contract_strike[leg_contract[i]]
                    if contract_right[leg_contract[i]] > 0:
                        intrinsic = max(spot - strike, 0.0)
                    else:
                        intrinsic = max(strike - spot, 0.0)
                    flow = leg_units[i] * contracts * mult * intrinsic
                    cash, cash_c = _neumaier_add(cash, cash_c, flow)
                    t_exit_cash, t_exit_cash_c = _neumaier_add(t_exit_cash, t_exit_cash_c, flow)
                    leg_mark[i] = intrinsic
                    leg_open[i] = False
                    row = n_trades * MAX_LEGS + i
                    legs[row, G_EXIT_FILL] = intrinsic
                    legs[row, G_SETTLED] = 1.0
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
                leg_quoted[i] = quoted
                if not quoted:
                    missing = True
            if missing:
                counters[C_MISSING_QUOTE_DAYS] += 1
            value = 0.0
            for i in range(n_legs):
                value += leg_units[i] * leg_mark[i]
            pnl = value - value_entry
            pnl_cash = pnl * contracts * mult
            if pnl_cash < mae:
                mae = pnl_cash
            if pnl_cash > mfe:
                mfe = pnl_cash
            held = (d - entry_day) if period_trading else (today - day_date[entry_day])
            min_dte = 1 << 40
            for i in range(n_legs):
                min_dte = min(min_dte, leg_expiry[i] - today)
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
            if exit_reason >= 0:
                for i in range(n_legs):
                    if not leg_open[i]:
                        continue
                    if not leg_quoted[i]:
                        counters[C_STALE_FILLS] += 1
                    if leg_units[i] > 0:
                        fill = _sell_fill(leg_bid[i], leg_ask[i], slip)
                    else:
                        fill = _buy_fill(leg_bid[i], leg_ask[i], slip)
                    flow = leg_units[i] * contracts * mult * fill
                    fee = commission * abs(leg_units[i]) * contracts
                    cash, cash_c = _neumaier_add(cash, cash_c, flow)
                    cash, cash_c = _neumaier_add(cash, cash_c, -fee)
                    t_exit_cash, t_exit_cash_c = _neumaier_add(t_exit_cash, t_exit_cash_c, flow)
                    t_commission, t_commission_c = _neumaier_add(t_commission, t_commission_c, fee)
                    leg_mark[i] = fill
                    leg_open[i] = False
                    legs[n_trades * MAX_LEGS + i, G_EXIT_FILL] = fill
                row = trades[n_trades]
                row[T_EXIT_DAY] = d
                row[T_EXIT_REASON] = exit_reason
                entry_cash_total = t_entry_cash + t_entry_cash_c
                exit_cash_total = t_exit_cash + t_exit_cash_c
                commission_total = t_commission + t_commission_c
                row[T_ENTRY_CASH] = entry_cash_total
                row[T_EXIT_CASH] = exit_cash_total
                row[T_COMMISSIONS] = commission_total
                row[T_PNL] = entry_cash_total + exit_cash_total - commission_total
                row[T_MAE] = mae
                row[T_MFE] = mfe
                row[T_DAYS_HELD] = today - day_date[entry_day]
                n_trades += 1
                position_open = False

        # 2. flat: entry
        if not position_open and not last_day:
            allowed = exit_reason < 0 or (reentry_mask >> exit_reason) & 1 == 1
            scheduled = (weekday_mask >> day_weekday[d]) & 1 == 1 and d % every_n == 0
            if allowed and scheduled:
                skip = -1
                for f in range(n_filters):
                    base = P_FILTER0 + f * FILTER_SIZE
                    v = features[int(params[base + F_FEATURE]), d]
                    if not (v == v and v >= params[base + F_MIN] and v <= params[base + F_MAX]):
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
                    targets = (params[P_DTE_TARGET], params[P_FAR_TARGET])
                    mins = (params[P_DTE_MIN], params[P_FAR_MIN])
                    maxs = (params[P_DTE_MAX], params[P_FAR_MAX])
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
                        right = int(params[base + L_RIGHT])
                        grp = int(params[base + L_GROUP])
                        g = find_group_nb(
                            day_group_start,
                            day_put_group_start,
                            group_expiry,
                            d,
                            right,
                            sel_expiry[grp],
                        )
                        by = int(params[base + L_SELECT_BY])
                        target = params[base + L_TARGET]
                        if by == BY_OFFSET:
                            target = (
                                quote_strike[sel_rows[int(params[base + L_OF])]]
                                + params[base + L_POINTS]
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
                            params[base + L_TOLERANCE],
                            spot,
                            params[base + L_MIN_OI],
                            params[base + L_MIN_VOLUME],
                            params[base + L_MAX_SPREAD],
                        )
                        if status == 1:
                            skip = SKIP_NO_STRIKE
                            break
                        if status == 2:
                            skip = SKIP_LIQUIDITY
                            break
                        sel_rows[i] = q
                if skip < 0:
                    equity_now = cash + cash_c
                    need = 0.0
                    fees = 0.0
                    for i in range(n_legs):
                        base = P_LEG0 + i * LEG_SIZE
                        units = params[base + L_SIDE] * dir_today * params[base + L_QTY]
                        q = sel_rows[i]
                        if units > 0:
                            fill = _buy_fill(quote_bid[q], quote_ask[q], slip)
                        else:
                            fill = _sell_fill(quote_bid[q], quote_ask[q], slip)
                        need += units * contracts * mult * fill
                        fees += commission * abs(units) * contracts
                    if equity_now <= 0.0 or max(need, 0.0) + fees > equity_now:
                        skip = SKIP_CAPITAL
                if skip >= 0:
                    skips[skip] += 1
                else:
                    # 3. open the position
                    position_open = True
                    entry_day = d
                    direction = dir_today
                    t_entry_cash = 0.0
                    t_entry_cash_c = 0.0
                    t_exit_cash = 0.0
                    t_exit_cash_c = 0.0
                    t_commission = 0.0
                    t_commission_c = 0.0
                    value_entry = 0.0
                    mae = 0.0
                    mfe = 0.0
                    for i in range(n_legs):
                        base = P_LEG0 + i * LEG_SIZE
                        units = params[base + L_SIDE] * dir_today * params[base + L_QTY]
                        q = sel_rows[i]
                        c = quote_contract[q]
                        bid = quote_bid[q]
                        ask = quote_ask[q]
                        fill = (
                            _buy_fill(bid, ask, slip) if units > 0 else _sell_fill(bid, ask, slip)
                        )
                        flow = -units * contracts * mult * fill
                        fee = commission * abs(units) * contracts
                        cash, cash_c = _neumaier_add(cash, cash_c, flow)
                        cash, cash_c = _neumaier_add(cash, cash_c, -fee)
                        t_entry_cash, t_entry_cash_c = _neumaier_add(
                            t_entry_cash, t_entry_cash_c, flow
                        )
                        t_commission, t_commission_c = _neumaier_add(
                            t_commission, t_commission_c, fee
                        )
                        leg_contract[i] = c
                        lo = contract_row_start[c]
                        hi = contract_row_start[c + 1]
                        leg_cursor[i] = lo + np.searchsorted(contract_row_day[lo:hi], d)
                        leg_end[i] = hi
                        leg_mark[i] = 0.5 * (bid + ask)
                        leg_bid[i] = bid
                        leg_ask[i] = ask
                        leg_delta[i] = quote_delta[q]
                        leg_units[i] = units
                        leg_open[i] = True
                        leg_expiry[i] = quote_expiry[q]
                        value_entry += units * leg_mark[i]
                        row = n_trades * MAX_LEGS + i
                        legs[row, G_RIGHT] = contract_right[c]
                        legs[row, G_STRIKE] = quote_strike[q]
                        legs[row, G_EXPIRY] = quote_expiry[q]
                        legs[row, G_UNITS] = units
                        legs[row, G_ENTRY_FILL] = fill
                        legs[row, G_EXIT_FILL] = np.nan
                        legs[row, G_SETTLED] = 0.0
                    for i in range(n_legs, MAX_LEGS):
                        row = n_trades * MAX_LEGS + i
                        for k in range(legs.shape[1]):
                            legs[row, k] = 0.0
                    premium = abs(value_entry)
                    tr = trades[n_trades]
                    tr[T_ENTRY_DAY] = d
                    tr[T_DIRECTION] = direction
                    tr[T_CONTRACTS] = contracts
                    tr[T_N_LEGS] = n_legs
                    tr[T_ENTRY_PREMIUM] = value_entry * contracts * mult

        # 4. equity
        total = cash + cash_c
        if position_open:
            for i in range(n_legs):
                if leg_open[i]:
                    total += leg_units[i] * contracts * mult * leg_mark[i]
        equity[d] = total
        in_market[d] = position_open
    return n_trades


@njit(cache=True, nogil=True)
def run_batch_nb(
    day_date,
    day_spot,
    day_weekday,
    day_quote_start,
    day_group_start,
    day_put_group_start,
    group_expiry,
    group_quote_start,
    quote_strike,
    quote_bid,
    quote_ask,
    quote_iv,
    quote_delta,
    quote_gamma,
    quote_vega,
    quote_theta,
    quote_volume,
    quote_open_interest,
    quote_log1p_volume,
    quote_log1p_open_interest,
    quote_expiry,
    quote_right,
    quote_contract,
    contract_right,
    contract_expiry,
    contract_strike,
    contract_row_start,
    contract_rows,
    contract_row_day,
    features,
    params,
    equity_slot,
    kpis,
    skips,
    counters,
    equity_out,
):
    """Run every row of `params` (n_combos, N_PARAMS).

    Writes `kpis` (n_combos, N_KPIS), `skips` (n_combos, N_SKIPS), `counters`
    (n_combos, N_COUNTERS); the equity curve of row r goes to `equity_out[equity_slot[r]]`
    when `equity_slot[r] >= 0`. Scratch buffers are allocated once per batch.
    """
    n_days = day_date.shape[0]
    n_rows = params.shape[0]
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    legs = np.zeros((max(n_days, 1) * MAX_LEGS, N_LEG_COLS))
    trade_pnl = np.empty(max(n_days, 1))
    trade_held = np.empty(max(n_days, 1), dtype=np.int64)
    scratch = np.empty(max(n_days, 1))
    for r in range(n_rows):
        n = run_backtest_nb(
            day_date,
            day_spot,
            day_weekday,
            day_quote_start,
            day_group_start,
            day_put_group_start,
            group_expiry,
            group_quote_start,
            quote_strike,
            quote_bid,
            quote_ask,
            quote_iv,
            quote_delta,
            quote_gamma,
            quote_vega,
            quote_theta,
            quote_volume,
            quote_open_interest,
            quote_log1p_volume,
            quote_log1p_open_interest,
            quote_expiry,
            quote_right,
            quote_contract,
            contract_right,
            contract_expiry,
            contract_strike,
            contract_row_start,
            contract_rows,
            contract_row_day,
            features,
            params[r],
            equity,
            in_market,
            trades,
            legs,
            skips[r],
            counters[r],
        )
        for t in range(n):
            trade_pnl[t] = trades[t, T_PNL]
            trade_held[t] = int(trades[t, T_DAYS_HELD])
        compute_kpis_nb(
            equity,
            day_date,
            params[r, P_CAPITAL],
            trade_pnl[:n],
            trade_held[:n],
            in_market,
            scratch,
            kpis[r],
        )
        slot = equity_slot[r]
        if slot >= 0:
            equity_out[slot, :] = equity
