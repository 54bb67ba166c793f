"""Plain-text rendering of results for the CLI."""

from __future__ import annotations

from gridbt._typing import PathLike
from gridbt.kernel.metrics import METRICS
from gridbt.report.text import format_kpi
from gridbt.strategy.summary import BacktestSummary

__all__ = ["format_kpis", "format_summary"]


def format_kpis(kpis: dict[str, float | None]) -> str:
    """KPIs as an aligned two-column table, in registry order."""
    shown = [m for m in METRICS if m.name in kpis]
    width = max((len(m.label) for m in shown), default=0)
    return "\n".join(f"  {m.label:<{width}} {format_kpi(kpis[m.name], m.unit):>16}"
                     for m in shown)


def format_summary(summary: BacktestSummary, out_dir: PathLike) -> str:
    """The CLI's report of one backtest: KPIs, exits, skips and where the files are."""
    name = summary.strategy.get("name", "strategy")
    parts = [
        f"{name}  ({summary.data.first_date}..{summary.data.last_date}, "
        f"data {summary.data.fingerprint[:12]}, engine {summary.engine})",
        format_kpis(summary.kpis),
        "  exits: " + (", ".join(f"{k} {v}" for k, v in summary.exit_reasons.items()) or "none"),
        "  skipped entries: "
        + (", ".join(f"{k} {v}" for k, v in summary.skips.items() if v) or "none"),
        f"  missing-quote days {summary.missing_quote_days}, stale fills {summary.stale_fills}",
        f"  files: {out_dir}/" + ", ".join(summary.files.values()),
    ]
    return "\n".join(parts)
