"""PNG tear sheet of one backtest: equity, drawdown, cumulative P&L attribution (with margin
use when a margin model is on) and the trade P&L distribution.

Drawn on matplotlib's Agg canvas (`Figure` + `FigureCanvasAgg`), never pyplot: no global
figure state and no display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from gridbt._typing import PathLike
from gridbt.kernel.metrics import METRIC_BY_NAME
from gridbt.report._canvas import agg_figure, write_png
from gridbt.report.text import format_kpi

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

__all__ = ["write_tearsheet"]

#: KPIs written under the title, in their registry units (as `gridbt backtest` prints them).
_HEADLINE = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate")
#: P&L sources and their line colours: the Okabe-Ito palette, distinct for colour-blind
#: readers and fixed, so that a source has the same colour on every tear sheet.
_ATTRIBUTION = {
    "delta": "#0072B2",
    "gamma": "#E69F00",
    "vega": "#009E73",
    "theta": "#D55E00",
    "costs": "#CC79A7",
    "financing": "#56B4E9",
    "residual": "#000000",
}


def write_tearsheet(
    equity: pa.Table, trades: pa.Table, kpis: dict[str, float], title: str, path: PathLike
) -> None:
    """Draw the tear sheet and write it atomically to `path`."""
    write_png(_figure(equity, trades, kpis, title), path, dpi=90, tight=False)


def _figure(equity: pa.Table, trades: pa.Table, kpis: dict[str, float], title: str) -> Figure:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    dates = equity.column("date").to_numpy().astype("datetime64[D]")
    eq = equity.column("equity").to_numpy()
    dd = equity.column("drawdown").to_numpy()
    pnl = trades.column("pnl").to_numpy()
    fig = agg_figure(10, 11.5)
    ax_eq, ax_dd, ax_attr, ax_hist = fig.subplots(
        4, 1, gridspec_kw={"height_ratios": [3, 1.3, 2, 1.7]}
    )
    ax_eq.plot(dates, eq, lw=1.0, color="#1f4e79")
    ax_eq.set_title(title, loc="left", fontsize=11, pad=20)
    ax_eq.set_ylabel("equity")
    _thousands(ax_eq.yaxis)
    text = "   ".join(
        f"{METRIC_BY_NAME[k].label} {format_kpi(kpis[k], METRIC_BY_NAME[k].unit)}"
        for k in _HEADLINE
        if kpis.get(k) is not None and np.isfinite(kpis[k])
    )
    ax_eq.text(0.0, 1.02, text, transform=ax_eq.transAxes, va="bottom", fontsize=9, color="0.2")
    ax_dd.fill_between(dates, dd, 0, color="#b22222", alpha=0.5, lw=0)
    ax_dd.set_ylabel("drawdown")
    ax_dd.yaxis.set_major_formatter(PercentFormatter(1.0))
    twin = _attribution_panel(ax_attr, dates, equity)
    if len(pnl):
        ax_hist.hist(pnl, bins=min(60, max(10, len(pnl) // 5)), color="#555555",
                     histtype="stepfilled")  # one polygon, not a rectangle a bin
        ax_hist.axvline(0, color="black", lw=0.8)
    _thousands(ax_hist.xaxis)
    ax_hist.set_xlabel(f"trade P&L ({len(pnl)} trades)")
    ax_hist.set_ylabel("trades")
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Placed by hand, not by tight_layout (whose dry-run draw took a third of the time, and a
    # sweep draws one sheet per kept combination): the margins it chose on these panels, with
    # room for equity labels in the millions and, with margin use, for the twin axis.
    fig.subplots_adjust(left=0.12, right=0.91 if twin else 0.97, top=0.95, bottom=0.052,
                        hspace=0.2)
    return fig


def _thousands(axis: Axis) -> None:
    """Tick labels as whole numbers with thousands separators (1,050,000), not `1.05 1e6`."""
    from matplotlib.ticker import StrMethodFormatter

    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _attribution_panel(ax: Axes, dates: np.ndarray, equity: pa.Table) -> bool:
    """Cumulative P&L by source; margin use (initial margin / equity) on a second axis, if
    any (then return True)."""
    from matplotlib.ticker import PercentFormatter

    for name, colour in _ATTRIBUTION.items():
        column = f"pnl_{name}"
        if column in equity.column_names:
            ax.plot(dates, np.cumsum(equity.column(column).to_numpy()), lw=0.9, label=name,
                    color=colour)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("cumulative P&L")
    _thousands(ax.yaxis)
    ax.legend(loc="upper left", fontsize=7, ncol=len(_ATTRIBUTION), frameon=False)
    if "initial_margin" in equity.column_names:
        margin = equity.column("initial_margin").to_numpy()
        if margin.any():
            use = margin / np.maximum(equity.column("equity").to_numpy(), 1e-9)
            twin = ax.twinx()
            twin.fill_between(dates, use, 0, color="#999999", alpha=0.25, lw=0)
            twin.set_ylabel("margin / equity")
            twin.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_zorder(twin.get_zorder() + 1)  # the P&L lines over the margin fill
            ax.patch.set_visible(False)
            return True
    return False
