"""PNG tear sheet of one backtest: equity, drawdown, cumulative P&L attribution (with margin
use when a margin model is on) and the trade P&L distribution."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from gridbt._atomic import atomic_path
from gridbt._typing import PathLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["write_tearsheet"]


def write_tearsheet(
    equity: pa.Table, trades: pa.Table, kpis: dict[str, float], title: str, path: PathLike
) -> None:
    """Draw the tear sheet and write it atomically to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = equity.column("date").to_numpy().astype("datetime64[D]")
    eq = equity.column("equity").to_numpy()
    dd = equity.column("drawdown").to_numpy()
    pnl = trades.column("pnl").to_numpy()
    fig, axes = plt.subplots(
        4, 1, figsize=(10, 11.5), gridspec_kw={"height_ratios": [3, 1.3, 2, 1.7]}
    )
    ax_eq, ax_dd, ax_attr, ax_hist = axes
    ax_eq.plot(dates, eq, lw=1.0, color="#1f4e79")
    ax_eq.set_title(title, loc="left", fontsize=11)
    ax_eq.set_ylabel("equity")
    text = "  ".join(
        f"{k} {kpis[k]:.3g}"
        for k in ("cagr", "sharpe", "sortino", "max_drawdown", "win_rate")
        if kpis.get(k) is not None and np.isfinite(kpis[k])
    )
    ax_eq.text(0.01, 0.95, text, transform=ax_eq.transAxes, va="top", fontsize=9)
    ax_dd.fill_between(dates, dd, 0, color="#b22222", alpha=0.5, lw=0)
    ax_dd.set_ylabel("drawdown")
    _attribution_panel(ax_attr, dates, equity)
    if len(pnl):
        ax_hist.hist(pnl, bins=min(60, max(10, len(pnl) // 5)), color="#555555")
        ax_hist.axvline(0, color="black", lw=0.8)
    ax_hist.set_xlabel(f"trade P&L ({len(pnl)} trades)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


_ATTRIBUTION = ("delta", "gamma", "vega", "theta", "costs", "financing", "residual")


def _attribution_panel(ax: Axes, dates: np.ndarray, equity: pa.Table) -> None:
    """Cumulative P&L by source; margin use (initial margin / equity) on a second axis."""
    for name in _ATTRIBUTION:
        column = f"pnl_{name}"
        if column in equity.column_names:
            ax.plot(dates, np.cumsum(equity.column(column).to_numpy()), lw=0.9, label=name)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("cumulative P&L")
    ax.legend(loc="upper left", fontsize=7, ncol=len(_ATTRIBUTION), frameon=False)
    if "initial_margin" in equity.column_names:
        margin = equity.column("initial_margin").to_numpy()
        if margin.any():
            use = margin / np.maximum(equity.column("equity").to_numpy(), 1e-9)
            twin = ax.twinx()
            twin.fill_between(dates, use, 0, color="#999999", alpha=0.25, lw=0)
            twin.set_ylabel("margin / equity")
