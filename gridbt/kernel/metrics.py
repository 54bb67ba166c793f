"""KPI registry: one `Metric` per entry of the kernel's KPI vector, in vector order.

The registry is the single source of truth for a KPI's name, label, unit, direction and
definition; the KPI kernel (`kpi_nb.py`), the reference (`kpi_reference.py`), CLI tables,
MLflow logging and the browser all read it.

Conventions shared by every KPI:

- Daily returns are simple returns of end-of-day equity, `r_t = equity_t / equity_{t-1} - 1`
  for `t = 1 .. n_days - 1` (the move from `capital` to `equity_0` counts in total return,
  CAGR and drawdown, not in the return statistics). If equity reaches `<= 0` on day `k`,
  the account is ruined: returns stop at `r_k` included (later returns are undefined).
- Annualisation factor 252 trading days; risk-free rate 0; calendar years of 365.25 days.
- Trade statistics use each closed trade's P&L in account currency (commissions included).
- A KPI that is undefined (no returns, no trades, a zero denominator) is NaN; no KPI is ever
  infinite: an overflow (e.g. CAGR of a large gain over a few days) is NaN too. Any non-finite
  input (equity, capital, trade P&L) makes every KPI NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

Unit: TypeAlias = Literal["ratio", "fraction", "currency", "days", "count"]

ANNUALISATION = 252
YEAR_DAYS = 365.25


@dataclass(frozen=True)
class Metric:
    """One KPI: how it is named, shown, ranked and computed.

    Attributes
    ----------
    name
        Identifier used in the KPI vector, result tables, MLflow and the API.
    label
        Short human label for tables and charts.
    unit
        ``"ratio"`` (dimensionless ratio), ``"fraction"`` (0.05 = 5%), ``"currency"`` (account
        currency), ``"days"`` or ``"count"``.
    higher_is_better
        Direction for ranking and optimisation.
    description
        How the value is computed, with its conventions.
    """

    name: str
    label: str
    unit: Unit
    higher_is_better: bool
    description: str


METRICS: tuple[Metric, ...] = (
    Metric(
        "total_return", "Total return", "fraction", True,
        "final_equity / capital - 1.",
    ),
    Metric(
        "cagr", "CAGR", "fraction", True,
        "(final_equity / capital) ** (1 / years) - 1 with years = (last date - first date) "
        "/ 365.25 calendar days; -1 if final equity <= 0; NaN if the span is 0 days.",
    ),
    Metric(
        "annual_volatility", "Annual volatility", "fraction", False,
        "Sample standard deviation (ddof 1) of daily returns * sqrt(252); NaN with fewer than "
        "2 returns.",
    ),
    Metric(
        "sharpe", "Sharpe", "ratio", True,
        "mean / std (ddof 1) of daily returns * sqrt(252), risk-free 0; 0 if std is 0; NaN "
        "with fewer than 2 returns.",
    ),
    Metric(
        "sortino", "Sortino", "ratio", True,
        "mean daily return / downside deviation * sqrt(252), downside deviation = "
        "sqrt(mean(min(r, 0) ** 2)) over all returns, target 0; 0 if every return is 0; NaN "
        "if no return is negative otherwise, or with no returns.",
    ),
    Metric(
        "max_drawdown", "Max drawdown", "fraction", False,
        "Largest fall from the running peak, 1 - equity / peak, as a positive fraction; the "
        "peak starts at capital. Above 1 if equity goes negative.",
    ),
    Metric(
        "max_drawdown_days", "Max drawdown duration (days)", "days", False,
        "Longest drawdown in calendar days, from the date of the peak (first date for the "
        "initial capital) to the first date equity is back at or above it, or to the last "
        "date if it never recovers; 0 if equity never falls below its peak.",
    ),
    Metric(
        "calmar", "Calmar", "ratio", True,
        "cagr / max_drawdown; NaN if max_drawdown is 0.",
    ),
    Metric(
        "win_rate", "Win rate", "fraction", True,
        "Share of closed trades with P&L > 0; NaN with no trades.",
    ),
    Metric(
        "profit_factor", "Profit factor", "ratio", True,
        "Sum of winning trade P&L / |sum of losing trade P&L|; NaN with no losing trade.",
    ),
    Metric(
        "avg_trade_pnl", "Average trade P&L", "currency", True,
        "Mean P&L per closed trade; NaN with no trades.",
    ),
    Metric(
        "median_trade_pnl", "Median trade P&L", "currency", True,
        "Median P&L per closed trade (mean of the middle two for an even count); NaN with no "
        "trades.",
    ),
    Metric(
        "avg_days_held", "Average days held", "days", False,
        "Mean holding period of closed trades in calendar days; NaN with no trades. "
        "Descriptive: the direction is a convention.",
    ),
    Metric(
        "trade_count", "Trades", "count", True,
        "Number of closed trades. Descriptive: the direction is a convention.",
    ),
    Metric(
        "exposure", "Exposure", "fraction", False,
        "Fraction of trading days with an open position at the close. Descriptive: the "
        "direction is a convention.",
    ),
    Metric(
        "worst_day", "Worst day", "fraction", True,
        "Smallest daily return (negative for a loss); NaN with no returns.",
    ),
    Metric(
        "cvar_95", "CVaR 95%", "fraction", True,
        "Mean of the worst 5% of daily returns, the ceil(0.05 * n) smallest, as a return "
        "(negative for a loss); NaN with no returns.",
    ),
    Metric(
        "final_equity", "Final equity", "currency", True,
        "Equity at the close of the last day.",
    ),
    Metric(
        "total_pnl", "Total P&L", "currency", True,
        "final_equity - capital.",
    ),
    Metric(
        "return_on_margin", "Return on margin", "ratio", True,
        "(final_equity - capital) / the largest end-of-day initial margin of the position; "
        "NaN without a margin model (largest margin <= 0).",
    ),
)

N_KPIS: int = len(METRICS)
KPI_INDEX: dict[str, int] = {m.name: i for i, m in enumerate(METRICS)}
KPI_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
METRIC_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def kpis_to_dict(vector: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Name the entries of a KPI vector.

    Parameters
    ----------
    vector
        One KPI vector of length `N_KPIS`, in registry order.

    Returns
    -------
    dict[str, float]
        KPI name to value, in registry order; undefined values stay NaN.
    """
    values = np.asarray(vector, dtype=np.float64)
    if values.shape != (N_KPIS,):
        raise ValueError(f"KPI vector must have shape ({N_KPIS},), got {values.shape}")
    return {m.name: float(values[i]) for i, m in enumerate(METRICS)}


def kpis_from_dict(values: dict[str, float]) -> np.ndarray:
    """Build a KPI vector from a name-to-value mapping; names missing from it are NaN.

    Raises
    ------
    KeyError
        If `values` holds a name that is not in the registry.
    """
    vector = np.full(N_KPIS, math.nan)
    for name, value in values.items():
        vector[KPI_INDEX[name]] = value
    return vector


__all__ = [
    "ANNUALISATION",
    "KPI_INDEX",
    "METRICS",
    "METRIC_BY_NAME",
    "N_KPIS",
    "YEAR_DAYS",
    "Metric",
    "Unit",
    "kpis_from_dict",
    "kpis_to_dict",
]
