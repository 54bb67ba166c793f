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


#: Sheets kept for reuse, by layout (`_layout`), in this process: at most this many
_KEEP = 4
_SHEETS: dict[tuple[object, ...], Figure] = {}


def write_tearsheet(
    equity: pa.Table, trades: pa.Table, kpis: dict[str, float], title: str, path: PathLike
) -> None:
    """Draw the tear sheet and write it atomically to `path`.

    The figure is kept and drawn again with the next sheet of the same layout (`_refill`):
    building one (its axes and their tick objects) is a quarter of a sheet's ~0.17 s, and a
    sweep or study draws one per kept run in each drawing process. A reused sheet's PNG is
    the same, byte for byte, as a new one's (tests/unit/report/test_tearsheet.py)."""
    layout = _layout(equity, trades)
    figure = _SHEETS.get(layout) if layout is not None else None
    if figure is not None:
        _refill(figure, equity, trades, kpis, title)
    else:
        figure = _figure(equity, trades, kpis, title)
        if layout is not None:
            if len(_SHEETS) >= _KEEP:
                _SHEETS.clear()
            _SHEETS[layout] = figure
    write_png(figure, path, dpi=90, tight=False)


def _layout(equity: pa.Table, trades: pa.Table) -> tuple[object, ...] | None:
    """What decides a sheet's artists beyond their data: the P&L sources it draws and whether
    it has a margin axis; None for a sheet without days or trades (an empty panel keeps
    matplotlib's default scale, which a kept figure's no longer has: drawn anew)."""
    if equity.num_rows == 0 or trades.num_rows == 0:
        return None
    sources = tuple(name for name in _ATTRIBUTION if f"pnl_{name}" in equity.column_names)
    return sources, _margin_use(equity) is not None


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
    _title(ax_eq, title)
    ax_eq.set_ylabel("equity")
    _thousands(ax_eq.yaxis)
    ax_eq.text(0.0, 1.02, _headline(kpis), transform=ax_eq.transAxes, va="bottom", fontsize=9,
               color="0.2")
    _drawdown(ax_dd, dates, dd)
    ax_dd.set_ylabel("drawdown")
    ax_dd.yaxis.set_major_formatter(PercentFormatter(1.0))
    twin = _attribution_panel(ax_attr, dates, equity)
    if len(pnl):
        _histogram(ax_hist, pnl)
        ax_hist.axvline(0, color="black", lw=0.8)
    _thousands(ax_hist.xaxis)
    _trades_label(ax_hist, len(pnl))
    ax_hist.set_ylabel("trades")
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Placed by hand, not by tight_layout (whose dry-run draw took a third of the time, and a
    # sweep draws one sheet per kept combination): the margins it chose on these panels, with
    # room for equity labels in the millions and, with margin use, for the twin axis.
    fig.subplots_adjust(left=0.12, right=0.91 if twin else 0.97, top=0.95, bottom=0.052,
                        hspace=0.2)
    return fig


def _refill(fig: Figure, equity: pa.Table, trades: pa.Table, kpis: dict[str, float],
            title: str) -> None:
    """Put another run's data into a sheet `_figure` drew with the same `_layout` (days and
    trades both): its lines' data, the fills and the histogram drawn again, the texts, each
    axis scaled to its new data (`relim`) as a new sheet's is."""
    dates = equity.column("date").to_numpy().astype("datetime64[D]")
    pnl = trades.column("pnl").to_numpy()
    ax_eq, ax_dd, ax_attr, ax_hist, *twin = fig.axes
    ax_eq.lines[0].set_data(dates, equity.column("equity").to_numpy())
    _title(ax_eq, title)
    ax_eq.texts[0].set_text(_headline(kpis))
    for collection in [*ax_dd.collections, *(c for ax in twin for c in ax.collections)]:
        collection.remove()
    _drawdown(ax_dd, dates, equity.column("drawdown").to_numpy())
    sources = {line.get_label(): line for line in ax_attr.lines}
    for name, values in _cumulative_pnl(equity):
        sources[name].set_data(dates, values)
    use = _margin_use(equity)
    if twin and use is not None:  # both or neither, in one layout
        _margin_fill(twin[0], dates, use)
    for patch in list(ax_hist.patches):
        patch.remove()
    _histogram(ax_hist, pnl)
    _trades_label(ax_hist, len(pnl))
    for ax in fig.axes:
        ax.relim()
        ax.autoscale_view()


def _title(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, pad=20)


def _trades_label(ax: Axes, n_trades: int) -> None:
    ax.set_xlabel(f"trade P&L ({n_trades} trades)")


def _headline(kpis: dict[str, float]) -> str:
    return "   ".join(
        f"{METRIC_BY_NAME[k].label} {format_kpi(kpis[k], METRIC_BY_NAME[k].unit)}"
        for k in _HEADLINE
        if kpis.get(k) is not None and np.isfinite(kpis[k])
    )


def _drawdown(ax: Axes, dates: np.ndarray, drawdown: np.ndarray) -> None:
    ax.fill_between(dates, drawdown, 0, color="#b22222", alpha=0.5, lw=0)


def _histogram(ax: Axes, pnl: np.ndarray) -> None:
    ax.hist(pnl, bins=min(60, max(10, len(pnl) // 5)), color="#555555",
            histtype="stepfilled")  # one polygon, not a rectangle a bin


def _cumulative_pnl(equity: pa.Table) -> list[tuple[str, np.ndarray]]:
    """Each P&L source the table has, in `_ATTRIBUTION`'s order, summed over the days."""
    return [(name, np.cumsum(equity.column(f"pnl_{name}").to_numpy()))
            for name in _ATTRIBUTION if f"pnl_{name}" in equity.column_names]


def _margin_use(equity: pa.Table) -> np.ndarray | None:
    """Initial margin over equity each day, or None without margin (no column, or all 0)."""
    if "initial_margin" not in equity.column_names:
        return None
    margin = equity.column("initial_margin").to_numpy()
    if not margin.any():
        return None
    use: np.ndarray = margin / np.maximum(equity.column("equity").to_numpy(), 1e-9)
    return use


def _margin_fill(ax: Axes, dates: np.ndarray, use: np.ndarray) -> None:
    ax.fill_between(dates, use, 0, color="#999999", alpha=0.25, lw=0)


def _thousands(axis: Axis) -> None:
    """Tick labels as whole numbers with thousands separators (1,050,000), not `1.05 1e6`."""
    from matplotlib.ticker import StrMethodFormatter

    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _attribution_panel(ax: Axes, dates: np.ndarray, equity: pa.Table) -> bool:
    """Cumulative P&L by source; margin use (initial margin / equity) on a second axis, if
    any (then return True)."""
    from matplotlib.ticker import PercentFormatter

    for name, values in _cumulative_pnl(equity):
        ax.plot(dates, values, lw=0.9, label=name, color=_ATTRIBUTION[name])
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("cumulative P&L")
    _thousands(ax.yaxis)
    ax.legend(loc="upper left", fontsize=7, ncol=len(_ATTRIBUTION), frameon=False)
    use = _margin_use(equity)
    if use is None:
        return False
    twin = ax.twinx()
    _margin_fill(twin, dates, use)
    twin.set_ylabel("margin / equity")
    twin.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_zorder(twin.get_zorder() + 1)  # the P&L lines over the margin fill
    ax.patch.set_visible(False)
    return True
