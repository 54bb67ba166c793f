"""Plain-Python KPIs, written for clarity: the test oracle of `kpi_nb.compute_kpis_nb`.

Same array contract and conventions as `kpi_nb.py` (defined in `metrics.py`): `equity`,
`in_market` and `margin` (end-of-day initial margin) are per trading day, `day_date` is days
since 1970-01-01, `trade_pnl` and `trade_days_held` are per closed trade. Sums are
exact-rounded (`math.fsum`) and the sample standard deviation is computed in exact rational
arithmetic (`statistics.stdev`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gridbt.kernel.metrics import ANNUALISATION, METRICS, YEAR_DAYS

_NAN = math.nan


def _daily_returns(equity: Sequence[float]) -> list[float]:
    """Simple returns from day 1 on, up to and including the first close at or below 0."""
    returns = []
    for previous, current in zip(equity[:-1], equity[1:], strict=True):
        if previous <= 0.0:
            break
        returns.append(current / previous - 1.0)
    return returns


def _drawdown(equity: Sequence[float], dates: Sequence[int], capital: float) -> tuple[float, int]:
    """Max drawdown as a positive fraction and the longest drawdown in calendar days."""
    peak, peak_date = capital, dates[0]
    worst = 0.0
    durations = [0]
    underwater = False
    for value, date in zip(equity, dates, strict=True):
        if value >= peak:
            if underwater:
                durations.append(date - peak_date)
            peak, peak_date, underwater = value, date, False
        else:
            underwater = True
            worst = max(worst, (peak - value) / peak)
    if underwater:
        durations.append(dates[-1] - peak_date)
    return worst, max(durations)


def _equity_kpis(
    equity: list[float], dates: list[int], capital: float, in_market: list[bool]
) -> dict[str, float]:
    final = equity[-1]
    years = (dates[-1] - dates[0]) / YEAR_DAYS
    if final <= 0.0:
        cagr = -1.0
    elif years > 0.0:
        try:
            cagr = (final / capital) ** (1.0 / years) - 1.0
        except OverflowError:
            cagr = math.inf
    else:
        cagr = _NAN
    max_drawdown, max_drawdown_days = _drawdown(equity, dates, capital)
    kpis = {
        "total_return": final / capital - 1.0,
        "cagr": cagr,
        "max_drawdown": max_drawdown,
        "max_drawdown_days": float(max_drawdown_days),
        "calmar": cagr / max_drawdown if max_drawdown > 0.0 else _NAN,
        "exposure": sum(in_market) / len(in_market),
        "final_equity": final,
        "total_pnl": final - capital,
    }

    returns = _daily_returns(equity)
    root = math.sqrt(ANNUALISATION)
    if not returns:
        kpis.update(annual_volatility=_NAN, sharpe=_NAN, sortino=_NAN, worst_day=_NAN,
                    cvar_95=_NAN)
        return kpis
    mean = math.fsum(returns) / len(returns)
    if len(returns) >= 2:
        std = statistics.stdev(returns)
        kpis["annual_volatility"] = std * root
        kpis["sharpe"] = mean / std * root if std > 0.0 else 0.0
    else:
        kpis["annual_volatility"] = kpis["sharpe"] = _NAN

    downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside > 0.0:
        kpis["sortino"] = mean / downside * root
    else:
        kpis["sortino"] = 0.0 if mean == 0.0 else _NAN

    tail_count = math.ceil(len(returns) * 5 / 100)
    tail = sorted(returns)[:tail_count]
    kpis["worst_day"] = min(returns)
    kpis["cvar_95"] = math.fsum(tail) / len(tail)
    return kpis


def _trade_kpis(pnl: list[float], days_held: list[int]) -> dict[str, float]:
    count = len(pnl)
    if count == 0:
        return {
            "win_rate": _NAN, "profit_factor": _NAN, "avg_trade_pnl": _NAN,
            "median_trade_pnl": _NAN, "avg_days_held": _NAN, "trade_count": 0.0,
        }
    gross_gain = math.fsum(p for p in pnl if p > 0.0)
    gross_loss = -math.fsum(p for p in pnl if p < 0.0)
    return {
        "win_rate": sum(p > 0.0 for p in pnl) / count,
        "profit_factor": gross_gain / gross_loss if gross_loss > 0.0 else _NAN,
        "avg_trade_pnl": math.fsum(pnl) / count,
        "median_trade_pnl": float(np.median(pnl)),
        "avg_days_held": sum(days_held) / count,
        "trade_count": float(count),
    }


def compute_kpis_reference(
    equity: npt.ArrayLike,
    day_date: npt.ArrayLike,
    capital: float,
    trade_pnl: npt.ArrayLike,
    trade_days_held: npt.ArrayLike,
    in_market: npt.ArrayLike,
    margin: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Compute the KPIs of one backtest the slow, obvious way.

    Parameters
    ----------
    equity
        Equity at each trading day's close, account currency.
    day_date
        Trading dates as days since 1970-01-01, strictly increasing.
    capital
        Equity before the first day.
    trade_pnl
        P&L of each closed trade, account currency.
    trade_days_held
        Calendar days each trade was held.
    in_market
        Whether a position is open at each day's close.
    margin
        Initial margin of the position at each day's close (None: no margin model).

    Returns
    -------
    dict[str, float]
        Every KPI of `metrics.METRICS`, in registry order; undefined or infinite values are NaN.
    """
    values = [float(v) for v in np.asarray(equity, dtype=np.float64)]
    dates = [int(d) for d in np.asarray(day_date)]
    pnl = [float(p) for p in np.asarray(trade_pnl, dtype=np.float64)]
    held = [int(h) for h in np.asarray(trade_days_held)]
    market = [bool(m) for m in np.asarray(in_market)]
    capital = float(capital)

    finite = math.isfinite(capital) and all(math.isfinite(v) for v in values + pnl)
    if not finite or capital <= 0.0:
        return {m.name: _NAN for m in METRICS}
    kpis = {m.name: _NAN for m in METRICS}
    if values:
        kpis.update(_equity_kpis(values, dates, capital, market))
        margins = [] if margin is None else [float(v) for v in np.asarray(margin, np.float64)]
        peak_margin = max((v for v in margins if v > 0.0), default=0.0)
        if peak_margin > 0.0:
            kpis["return_on_margin"] = (values[-1] - capital) / peak_margin
    kpis.update(_trade_kpis(pnl, held))
    return {name: _NAN if math.isinf(value) else value for name, value in kpis.items()}
