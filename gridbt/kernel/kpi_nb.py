"""KPI kernel: one backtest's daily equity curve and trade list to its KPI vector.

Array contract (axis 0 = time; definitions and conventions in `metrics.py`):

- `equity`: float64[n_days], equity at each trading day's close, account currency.
- `day_date`: int[n_days], trading dates as days since 1970-01-01, strictly increasing.
- `capital`: float, equity before the first day; must be finite and > 0.
- `trade_pnl`: float64[n_trades], P&L of each closed trade, account currency.
- `trade_days_held`: int[n_trades], calendar days each trade was held.
- `in_market`: bool or int[n_days], nonzero where a position is open at the day's close.
- `margin`: float64[n_days], initial margin of the position at each day's close (0 when flat
  or without a margin model); only `return_on_margin` reads it.
- `scratch`: float64[m], work buffer (its contents are overwritten). With
  `m >= max(n_days - 1, n_trades)` the kernel allocates nothing; a shorter buffer
  (`np.empty(0)`) makes it allocate one of that size.
- `out`: float64[>= N_KPIS], written in `metrics.METRICS` order.

NaN policy: an undefined KPI is NaN and an infinite one (overflow) is NaN; a non-finite
`equity`, `capital` or `trade_pnl` value, or `capital <= 0`, makes every KPI NaN. With no days,
equity KPIs and exposure are NaN while trade KPIs are still computed.

Sums of returns and P&L are compensated (Neumaier); the variance uses the corrected two-pass
formula so it does not depend on the last bits of the mean.
"""

import math

import numpy as np

from gridbt.kernel.cache import njit

# Positions in the KPI vector. Kept here rather than imported so that numba's on-disk cache,
# keyed on this file, can never hold stale indices; test_kpis.py checks them against the
# registry in metrics.py.
I_TOTAL_RETURN = 0
I_CAGR = 1
I_ANNUAL_VOLATILITY = 2
I_SHARPE = 3
I_SORTINO = 4
I_MAX_DRAWDOWN = 5
I_MAX_DRAWDOWN_DAYS = 6
I_CALMAR = 7
I_WIN_RATE = 8
I_PROFIT_FACTOR = 9
I_AVG_TRADE_PNL = 10
I_MEDIAN_TRADE_PNL = 11
I_AVG_DAYS_HELD = 12
I_TRADE_COUNT = 13
I_EXPOSURE = 14
I_WORST_DAY = 15
I_CVAR_95 = 16
I_FINAL_EQUITY = 17
I_TOTAL_PNL = 18
I_RETURN_ON_MARGIN = 19
N_KPIS_NB = 20

ANNUALISATION_NB = 252.0
YEAR_DAYS_NB = 365.25


@njit(cache=True, nogil=True)
def neumaier_add_nb(total, comp, x):
    """One step of Neumaier summation; the sum is `total + comp`."""
    t = total + x
    if abs(total) >= abs(x):
        comp += (total - t) + x
    else:
        comp += (x - t) + total
    return t, comp


@njit(cache=True, nogil=True)
def select_nb(a, n, k):
    """Reorder `a[:n]` in place so that `a[:k] <= a[k] <= a[k+1:n]`; return `a[k]`.

    Wirth's selection (Hoare partitioning), O(n) on average, no allocation; values finite.
    """
    lo = 0
    hi = n - 1
    while lo < hi:
        x = a[k]
        i = lo
        j = hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                tmp = a[i]
                a[i] = a[j]
                a[j] = tmp
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]


@njit(cache=True, nogil=True)
def _inputs_finite_nb(equity, capital, trade_pnl):
    if not (math.isfinite(capital) and capital > 0.0):
        return False
    for t in range(equity.shape[0]):
        if not math.isfinite(equity[t]):
            return False
    for i in range(trade_pnl.shape[0]):
        if not math.isfinite(trade_pnl[i]):
            return False
    return True


@njit(cache=True, nogil=True)
def _equity_kpis_nb(equity, day_date, capital, in_market, buf, out):
    """Equity-curve KPIs; `buf` holds at least n_days - 1 values and is overwritten."""
    n_days = equity.shape[0]
    final = equity[n_days - 1]
    out[I_FINAL_EQUITY] = final
    out[I_TOTAL_PNL] = final - capital
    out[I_TOTAL_RETURN] = final / capital - 1.0

    years = (day_date[n_days - 1] - day_date[0]) / YEAR_DAYS_NB
    if final <= 0.0:
        cagr = -1.0
    elif years > 0.0:
        cagr = (final / capital) ** (1.0 / years) - 1.0
    else:
        cagr = np.nan
    out[I_CAGR] = cagr

    # Drawdown over the whole path; the high-water mark starts at capital on the first date.
    peak = capital
    peak_date = day_date[0]
    underwater = False
    max_dd = 0.0
    max_dd_days = 0
    days_in = 0
    for t in range(n_days):
        e = equity[t]
        if e >= peak:
            if underwater:
                max_dd_days = max(max_dd_days, day_date[t] - peak_date)
                underwater = False
            peak = e
            peak_date = day_date[t]
        else:
            underwater = True
            max_dd = max(max_dd, (peak - e) / peak)
        if in_market[t]:
            days_in += 1
    if underwater:
        max_dd_days = max(max_dd_days, day_date[n_days - 1] - peak_date)
    out[I_MAX_DRAWDOWN] = max_dd
    out[I_MAX_DRAWDOWN_DAYS] = max_dd_days
    out[I_CALMAR] = cagr / max_dd if max_dd > 0.0 else np.nan
    out[I_EXPOSURE] = days_in / n_days

    # Daily returns, stopping after the first day whose close is <= 0 (ruin).
    n_ret = 0
    s = 0.0
    sc = 0.0
    neg = 0.0
    negc = 0.0
    worst = np.inf
    for t in range(1, n_days):
        prev = equity[t - 1]
        if prev <= 0.0:
            break
        r = equity[t] / prev - 1.0
        buf[n_ret] = r
        n_ret += 1
        s, sc = neumaier_add_nb(s, sc, r)
        if r < 0.0:
            neg, negc = neumaier_add_nb(neg, negc, r * r)
        worst = min(worst, r)

    root = math.sqrt(ANNUALISATION_NB)
    if n_ret == 0:
        out[I_ANNUAL_VOLATILITY] = np.nan
        out[I_SHARPE] = np.nan
        out[I_SORTINO] = np.nan
        out[I_WORST_DAY] = np.nan
        out[I_CVAR_95] = np.nan
        return
    mean = (s + sc) / n_ret

    if n_ret >= 2:
        d1 = 0.0
        d1c = 0.0
        d2 = 0.0
        d2c = 0.0
        for i in range(n_ret):
            d = buf[i] - mean
            d1, d1c = neumaier_add_nb(d1, d1c, d)
            d2, d2c = neumaier_add_nb(d2, d2c, d * d)
        dsum = d1 + d1c
        var = ((d2 + d2c) - dsum * dsum / n_ret) / (n_ret - 1)
        std = math.sqrt(var) if var > 0.0 else 0.0
        out[I_ANNUAL_VOLATILITY] = std * root
        out[I_SHARPE] = mean / std * root if std > 0.0 else 0.0
    else:
        out[I_ANNUAL_VOLATILITY] = np.nan
        out[I_SHARPE] = np.nan

    downside = math.sqrt((neg + negc) / n_ret)
    if downside > 0.0:
        out[I_SORTINO] = mean / downside * root
    elif mean == 0.0:
        out[I_SORTINO] = 0.0
    else:
        out[I_SORTINO] = np.nan

    out[I_WORST_DAY] = worst
    k = (n_ret + 19) // 20  # ceil(5% of the returns)
    if k < n_ret:
        select_nb(buf, n_ret, k - 1)
    tail = 0.0
    tailc = 0.0
    for i in range(k):
        tail, tailc = neumaier_add_nb(tail, tailc, buf[i])
    out[I_CVAR_95] = (tail + tailc) / k


@njit(cache=True, nogil=True)
def _trade_kpis_nb(trade_pnl, trade_days_held, buf, out):
    """Trade-list KPIs; `buf` holds at least n_trades values and is overwritten."""
    n = trade_pnl.shape[0]
    out[I_TRADE_COUNT] = n
    if n == 0:
        out[I_WIN_RATE] = np.nan
        out[I_PROFIT_FACTOR] = np.nan
        out[I_AVG_TRADE_PNL] = np.nan
        out[I_MEDIAN_TRADE_PNL] = np.nan
        out[I_AVG_DAYS_HELD] = np.nan
        return
    wins = 0
    total = 0.0
    totalc = 0.0
    gain = 0.0
    gainc = 0.0
    loss = 0.0
    lossc = 0.0
    held = 0
    for i in range(n):
        p = trade_pnl[i]
        buf[i] = p
        total, totalc = neumaier_add_nb(total, totalc, p)
        if p > 0.0:
            wins += 1
            gain, gainc = neumaier_add_nb(gain, gainc, p)
        elif p < 0.0:
            loss, lossc = neumaier_add_nb(loss, lossc, p)
        held += trade_days_held[i]
    gross_loss = -(loss + lossc)
    out[I_WIN_RATE] = wins / n
    out[I_PROFIT_FACTOR] = (gain + gainc) / gross_loss if gross_loss > 0.0 else np.nan
    out[I_AVG_TRADE_PNL] = (total + totalc) / n
    out[I_AVG_DAYS_HELD] = held / n

    m = n // 2
    upper = select_nb(buf, n, m)
    if n % 2 == 1:
        out[I_MEDIAN_TRADE_PNL] = upper
    else:
        lower = buf[0]
        for i in range(1, m):
            lower = max(lower, buf[i])
        out[I_MEDIAN_TRADE_PNL] = (lower + upper) / 2.0


@njit(cache=True, nogil=True)
def compute_kpis_nb(
    equity, day_date, capital, trade_pnl, trade_days_held, in_market, margin, scratch, out
):
    """Write the KPI vector of one backtest into `out` (see the module's array contract)."""
    for i in range(N_KPIS_NB):
        out[i] = np.nan
    if not _inputs_finite_nb(equity, capital, trade_pnl):
        return
    need = max(equity.shape[0] - 1, trade_pnl.shape[0])
    buf = scratch if scratch.shape[0] >= need else np.empty(need)

    if equity.shape[0] > 0:
        _equity_kpis_nb(equity, day_date, capital, in_market, buf, out)
        max_margin = 0.0
        for t in range(margin.shape[0]):
            if margin[t] > max_margin:
                max_margin = margin[t]
        if max_margin > 0.0:
            out[I_RETURN_ON_MARGIN] = (equity[equity.shape[0] - 1] - capital) / max_margin
    _trade_kpis_nb(trade_pnl, trade_days_held, buf, out)

    for i in range(N_KPIS_NB):
        if math.isinf(out[i]):
            out[i] = np.nan
