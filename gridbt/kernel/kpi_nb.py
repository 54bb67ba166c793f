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

Sums of returns and P&L are compensated (Neumaier's, as branch-free TwoSum); the sums of
squared losses and of deviations from the mean are plain (positive terms, or a small
correction), good to a few ulps. The variance uses the corrected two-pass formula so it does
not depend on the last bits of the mean.

Structure: it runs once per backtest in every sweep, on curves whose ups and downs (and trade
lists whose wins and losses) no branch predictor can learn, so the passes avoid branching on
the data. Over the days: finite check, ruin and exposure as counts (vectorised); the one
sequential pass, the high-water mark and drawdown durations, with selects; drawdown depths and
returns as vectorised divisions into `scratch`; the return sums over four interleaved lanes.
CVaR and the median trade select with a branch-free quickselect, CVaR among only the returns
that can be in the tail (`_tail_mean_nb`).
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
    """One step of Neumaier summation; the sum is `total + comp`.

    The rounding error of `total + x` is taken exactly by Knuth's branch-free TwoSum rather
    than by comparing magnitudes (Fast2Sum): the same error, hence the same sums, without the
    mispredictions of a branch on a sign-changing running sum.
    """
    t = total + x
    z = t - total
    return t, comp + ((total - (t - z)) + (x - z))


@njit(cache=True, nogil=True)
def select_nb(a, n, k):
    """Reorder `a[:n]` in place so that `a[:k] <= a[k] <= a[k+1:n]`; return `a[k]`.

    Quickselect, O(n) on average, no allocation; values not NaN. Partitions without branching
    on the values (`_partition_nb`): on unsorted data a branch per comparison mispredicts half
    the time, which cost more than the comparisons.
    """
    lo = 0
    hi = n
    while hi - lo > 1:
        pivot = _median3_nb(a[lo], a[(lo + hi) // 2], a[hi - 1])
        below = _partition_nb(a, lo, hi, pivot, False)  # a[lo:below] < pivot
        if k < below:
            hi = below
            continue
        upto = _partition_nb(a, below, hi, pivot, True)  # a[below:upto] == pivot
        if k < upto:
            return pivot
        lo = upto
    return a[k]


@njit(cache=True, nogil=True)
def _median3_nb(x, y, z):
    return max(min(x, y), min(max(x, y), z))


@njit(cache=True, nogil=True)
def _partition_nb(a, lo, hi, pivot, or_equal):
    """Move the values of `a[lo:hi]` below `pivot` (at or below it if `or_equal`) to the front
    of the range; return the end of that part. Branch-free Lomuto: every value is swapped with
    the first one not moved, which advances only past a moved value."""
    j = lo
    if or_equal:
        for i in range(lo, hi):
            x = a[i]
            a[i] = a[j]
            a[j] = x
            j += x <= pivot
    else:
        for i in range(lo, hi):
            x = a[i]
            a[i] = a[j]
            a[j] = x
            j += x < pivot
    return j


@njit(cache=True, nogil=True)
def _finite_nb(x):
    """Whether every value of `x` is finite (no early exit: a branch-free, vectorised pass)."""
    ok = True
    for i in range(x.shape[0]):
        ok &= math.isfinite(x[i])
    return ok


@njit(cache=True, nogil=True)
def _scan_nb(equity, in_market):
    """Whether every close is finite, the first close <= 0 (ruin; n_days if none) and the
    days in the market. Counts and flags only, no early exit: vectorised passes."""
    n_days = equity.shape[0]
    finite = True
    n_ruined = 0
    days_in = 0
    for t in range(n_days):
        e = equity[t]
        finite &= math.isfinite(e)
        n_ruined += e <= 0.0
    for t in range(n_days):
        days_in += in_market[t] != 0
    ruin = n_days
    if n_ruined > 0:
        for t in range(n_days):
            if equity[t] <= 0.0:
                ruin = t
                break
    return finite, ruin, days_in


@njit(cache=True, nogil=True)
def _peaks_nb(equity, day_date, capital, buf):
    """The one sequential pass: the high-water mark after each day t >= 1 into `buf[t - 1]`
    (from capital before the first day), and the longest drawdown in days. Branch-free
    (selects), since a curve's ups and downs are unpredictable."""
    n_days = equity.shape[0]
    peak = max(capital, equity[0])
    peak_date = day_date[0]
    was_under = equity[0] < capital
    max_dd_days = 0
    for t in range(1, n_days):
        e = equity[t]
        date = day_date[t]
        under = e < peak
        # Every day of a drawdown, and the day it ends, bounds its length from below; the last
        # of them (the recovery, or the last date if none) attains it.
        max_dd_days = max(max_dd_days, date - peak_date if under | was_under else 0)
        peak = peak if under else e
        peak_date = peak_date if under else date
        was_under = under
        buf[t - 1] = peak
    return max_dd_days


@njit(cache=True, nogil=True, error_model="numpy")
def _drawdowns_nb(equity, buf):
    """Replace each high-water mark `buf[t - 1]` by day t's drawdown below it (a vectorised
    division: the peak is > 0)."""
    for i in range(equity.shape[0] - 1):
        p = buf[i]
        buf[i] = (p - equity[i + 1]) / p


@njit(cache=True, nogil=True)
def _max_nb(a, n, start):
    """The largest of `start` and the values of `a[:n]`, NaN ignored, over four lanes (four
    short dependency chains rather than one long one)."""
    m0 = m1 = m2 = m3 = start
    n4 = n - n % 4
    for i in range(0, n4, 4):
        m0 = _larger_nb(m0, a[i])
        m1 = _larger_nb(m1, a[i + 1])
        m2 = _larger_nb(m2, a[i + 2])
        m3 = _larger_nb(m3, a[i + 3])
    for i in range(n4, n):
        m0 = _larger_nb(m0, a[i])
    return _larger_nb(_larger_nb(m0, m1), _larger_nb(m2, m3))


@njit(cache=True, nogil=True)
def _larger_nb(m, x):
    return x if x > m else m


@njit(cache=True, nogil=True, error_model="numpy")
def _returns_nb(equity, n_ret, buf):
    """Daily returns into `buf[:n_ret]`: a plain vectorised loop (division is the slow step)."""
    for i in range(n_ret):
        buf[i] = equity[i + 1] / equity[i] - 1.0


@njit(cache=True, nogil=True)
def _return_sums_nb(buf, n_ret):
    """The sum of the returns (compensated: a mean near 0 is a small difference of large
    sums), the plain sum of the squared losses (positive terms: relative error <= n/4 ulps),
    the worst return and the counts of losing and flat days. Four interleaved lanes: independent
    dependency chains the CPU overlaps, combined at the end."""
    s0 = s1 = s2 = s3 = 0.0
    c0 = c1 = c2 = c3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    worst = np.inf
    n_neg = 0
    n_zero = 0
    n4 = n_ret - n_ret % 4
    for i in range(0, n4, 4):
        r0 = buf[i]
        r1 = buf[i + 1]
        r2 = buf[i + 2]
        r3 = buf[i + 3]
        s0, c0 = neumaier_add_nb(s0, c0, r0)
        s1, c1 = neumaier_add_nb(s1, c1, r1)
        s2, c2 = neumaier_add_nb(s2, c2, r2)
        s3, c3 = neumaier_add_nb(s3, c3, r3)
        m0 = min(r0, 0.0)
        m1 = min(r1, 0.0)
        m2 = min(r2, 0.0)
        m3 = min(r3, 0.0)
        q0 += m0 * m0
        q1 += m1 * m1
        q2 += m2 * m2
        q3 += m3 * m3
        worst = min(worst, min(min(r0, r1), min(r2, r3)))
        n_neg += (r0 < 0.0) + (r1 < 0.0) + (r2 < 0.0) + (r3 < 0.0)
        n_zero += (r0 == 0.0) + (r1 == 0.0) + (r2 == 0.0) + (r3 == 0.0)
    for i in range(n4, n_ret):
        r = buf[i]
        s0, c0 = neumaier_add_nb(s0, c0, r)
        m = min(r, 0.0)
        q0 += m * m
        worst = min(worst, r)
        n_neg += r < 0.0
        n_zero += r == 0.0
    s = _combine_nb(s0, c0, s1, c1, s2, c2, s3, c3)
    q = (q0 + q1) + (q2 + q3)
    return s, q, worst, n_neg, n_zero


@njit(cache=True, nogil=True)
def _combine_nb(s0, c0, s1, c1, s2, c2, s3, c3):
    """The sum of four Neumaier lanes, compensated."""
    s, c = neumaier_add_nb(s0, c0 + c1 + c2 + c3, s1)
    s, c = neumaier_add_nb(s, c, s2)
    s, c = neumaier_add_nb(s, c, s3)
    return s + c


@njit(cache=True, nogil=True)
def deviation_sums_nb(buf, n_ret, mean):
    """Sums of `r - mean` and of its square, over four lanes. Plain sums suffice: the squares
    are all positive (relative error <= n/4 ulps), and the first sum, of values centred on 0,
    only enters the variance as its square / n, a small correction."""
    d0 = d1 = d2 = d3 = 0.0
    e0 = e1 = e2 = e3 = 0.0
    n4 = n_ret - n_ret % 4
    for i in range(0, n4, 4):
        x0 = buf[i] - mean
        x1 = buf[i + 1] - mean
        x2 = buf[i + 2] - mean
        x3 = buf[i + 3] - mean
        d0 += x0
        d1 += x1
        d2 += x2
        d3 += x3
        e0 += x0 * x0
        e1 += x1 * x1
        e2 += x2 * x2
        e3 += x3 * x3
    for i in range(n4, n_ret):
        x = buf[i] - mean
        d0 += x
        e0 += x * x
    return (d0 + d1) + (d2 + d3), (e0 + e1) + (e2 + e3)


@njit(cache=True, nogil=True)
def _tail_bound_nb(buf, n_ret, k, worst):
    """A bound with at least k returns at or below it, but few more: the tail's candidates.

    Counts the returns at or below `worst` times 2**(-j/2), j = 1..8, in one vectorised pass
    (integer counts only) and returns the tightest bound that still holds k, as (True, bound);
    (False, 0.0) if none does.
    """
    b1 = worst * 0.7071067811865476
    b2 = worst * 0.5
    b3 = worst * 0.3535533905932738
    b4 = worst * 0.25
    b5 = worst * 0.1767766952966369
    b6 = worst * 0.125
    b7 = worst * 0.08838834764831845
    b8 = worst * 0.0625
    c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = 0
    for i in range(n_ret):
        r = buf[i]
        c1 += r <= b1
        c2 += r <= b2
        c3 += r <= b3
        c4 += r <= b4
        c5 += r <= b5
        c6 += r <= b6
        c7 += r <= b7
        c8 += r <= b8
    # counts grow with j: the first that reaches k is the tightest
    if c1 >= k:
        return True, b1
    if c2 >= k:
        return True, b2
    if c3 >= k:
        return True, b3
    if c4 >= k:
        return True, b4
    if c5 >= k:
        return True, b5
    if c6 >= k:
        return True, b6
    if c7 >= k:
        return True, b7
    if c8 >= k:
        return True, b8
    return False, 0.0


@njit(cache=True, nogil=True)
def _gather_nb(buf, n_ret, bound, strict):
    """Move the returns `<= bound` (`< 0.0` when `strict`) to the front of `buf`, in order,
    without branching on them; return how many."""
    j = 0
    if strict:
        for i in range(n_ret):
            r = buf[i]
            buf[j] = r
            j += r < 0.0
    else:
        for i in range(n_ret):
            r = buf[i]
            buf[j] = r
            j += r <= bound
    return j


@njit(cache=True, nogil=True)
def _tail_mean_nb(buf, n_ret, k, worst, n_neg, n_zero):
    """Mean of the k smallest of the returns `buf[:n_ret]` (reordered).

    Only the k smallest matter, and a selection costs in proportion to the values it is run on.
    If at least k returns are at or below a bound, the tail is among them (every other return
    is larger). So with at least k losing days, the returns at or below the tightest of a few
    bounds that still holds k (`_tail_bound_nb`; else the losses) are gathered to the front and
    the tail is selected among those few; with fewer losses but enough flat days, the tail is
    every loss and zeros; else all the returns are selected from. The tail's sum may come out
    in another order than a full selection's: equal within rounding.
    """
    if n_neg >= k:
        found, bound = _tail_bound_nb(buf, n_ret, k, worst)
        m = _gather_nb(buf, n_ret, bound, not found)
        if k < m:
            select_nb(buf, m, k - 1)
        n_sum = k
    elif n_neg + n_zero >= k:
        n_sum = _gather_nb(buf, n_ret, 0.0, True)
    else:
        if k < n_ret:
            select_nb(buf, n_ret, k - 1)
        n_sum = k
    tail = 0.0
    tailc = 0.0
    for i in range(n_sum):
        tail, tailc = neumaier_add_nb(tail, tailc, buf[i])
    return (tail + tailc) / k


@njit(cache=True, nogil=True)
def _equity_kpis_nb(equity, day_date, capital, in_market, margin, buf, out):
    """Equity-curve KPIs; `buf` holds at least n_days - 1 values and is overwritten.
    Return False (writing nothing) if a close is not finite."""
    finite, ruin, days_in = _scan_nb(equity, in_market)
    if not finite:
        return False
    n_days = equity.shape[0]
    # The drawdown of day 0 is from capital; of later days, from the high-water mark.
    max_dd_days = _peaks_nb(equity, day_date, capital, buf)
    max_margin = _max_nb(margin, margin.shape[0], 0.0)
    _drawdowns_nb(equity, buf)
    dd0 = (capital - equity[0]) / capital if equity[0] < capital else 0.0
    max_dd = _max_nb(buf, n_days - 1, dd0)
    final = equity[n_days - 1]
    out[I_FINAL_EQUITY] = final
    out[I_TOTAL_PNL] = final - capital
    out[I_TOTAL_RETURN] = final / capital - 1.0
    if max_margin > 0.0:
        out[I_RETURN_ON_MARGIN] = (final - capital) / max_margin

    years = (day_date[n_days - 1] - day_date[0]) / YEAR_DAYS_NB
    if final <= 0.0:
        cagr = -1.0
    elif years > 0.0:
        cagr = (final / capital) ** (1.0 / years) - 1.0
    else:
        cagr = np.nan
    out[I_CAGR] = cagr
    out[I_MAX_DRAWDOWN] = max_dd
    out[I_MAX_DRAWDOWN_DAYS] = max_dd_days
    out[I_CALMAR] = cagr / max_dd if max_dd > 0.0 else np.nan
    out[I_EXPOSURE] = days_in / n_days

    # Daily returns stop after the first day whose close is <= 0 (ruin).
    n_ret = min(ruin, n_days - 1)
    root = math.sqrt(ANNUALISATION_NB)
    if n_ret == 0:
        out[I_ANNUAL_VOLATILITY] = np.nan
        out[I_SHARPE] = np.nan
        out[I_SORTINO] = np.nan
        out[I_WORST_DAY] = np.nan
        out[I_CVAR_95] = np.nan
        return True
    _returns_nb(equity, n_ret, buf)
    s, neg2, worst, n_neg, n_zero = _return_sums_nb(buf, n_ret)
    mean = s / n_ret

    if n_ret >= 2:
        dsum, d2sum = deviation_sums_nb(buf, n_ret, mean)
        var = (d2sum - dsum * dsum / n_ret) / (n_ret - 1)
        std = math.sqrt(var) if var > 0.0 else 0.0
        out[I_ANNUAL_VOLATILITY] = std * root
        out[I_SHARPE] = mean / std * root if std > 0.0 else 0.0
    else:
        out[I_ANNUAL_VOLATILITY] = np.nan
        out[I_SHARPE] = np.nan

    downside = math.sqrt(neg2 / n_ret)
    if downside > 0.0:
        out[I_SORTINO] = mean / downside * root
    elif mean == 0.0:
        out[I_SORTINO] = 0.0
    else:
        out[I_SORTINO] = np.nan

    out[I_WORST_DAY] = worst
    k = (n_ret + 19) // 20  # ceil(5% of the returns)
    out[I_CVAR_95] = _tail_mean_nb(buf, n_ret, k, worst, n_neg, n_zero)
    return True


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
        # adding 0.0 leaves a Neumaier sum exactly as it is: no branch on the sign
        gain, gainc = neumaier_add_nb(gain, gainc, max(p, 0.0))
        loss, lossc = neumaier_add_nb(loss, lossc, min(p, 0.0))
        wins += p > 0.0
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
    if not (math.isfinite(capital) and capital > 0.0 and _finite_nb(trade_pnl)):
        return
    need = max(equity.shape[0] - 1, trade_pnl.shape[0])
    buf = scratch if scratch.shape[0] >= need else np.empty(need)

    if equity.shape[0] > 0 and not _equity_kpis_nb(
        equity, day_date, capital, in_market, margin, buf, out
    ):
        return
    _trade_kpis_nb(trade_pnl, trade_days_held, buf, out)

    for i in range(N_KPIS_NB):
        if math.isinf(out[i]):
            out[i] = np.nan
