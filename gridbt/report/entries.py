"""`gridbt entries`'s table as text: one line per exit rule x DTE bucket x delta (or
moneyness) bucket holding candidates."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from gridbt.report.text import text_table

__all__ = ["format_entries"]

_HEADER = ["exit rule", "dte", "", "count", "mean", "std", "p25", "median", "p75", "win %",
           "risk mean", "risk med", "held"]


def _num(value: float, digits: int = 0) -> str:
    return "-" if not math.isfinite(value) else f"{value:,.{digits}f}"


def format_entries(
    table: pa.Table, *, name: str, candidates: int, days: int, seconds: float,
    cpu_seconds: float, files: Mapping[str, Path],
) -> str:
    """The statistics of `entries.parquet` (buckets with candidates only), a heading with the
    counts and the kernels' time, and where the files are."""
    by = "delta" if "delta_bucket" in table.column_names else "moneyness"
    header = list(_HEADER)
    header[2] = by
    rows = []
    last_rule = None
    for row in table.to_pylist():
        if row["count"] == 0:
            continue
        rule = row["exit_rule"] if row["exit_rule"] != last_rule else ""
        last_rule = row["exit_rule"]
        rows.append([
            rule, row["dte_bucket"], row[f"{by}_bucket"], f"{row['count']:,}",
            _num(row["mean"]), _num(row["std"]), _num(row["p25"]), _num(row["median"]),
            _num(row["p75"]), _num(100.0 * row["win_rate"], 1), _num(row["risk_mean"], 4),
            _num(row["risk_median"], 4), _num(row["days_held_mean"], 1),
        ])
    bucketed = sum(r["count"] for r in table.to_pylist() if r["exit_index"] == 0)
    lines = [
        f"{name}: {candidates:,} candidate entries over {days:,} days "
        f"({bucketed:,} in the buckets), found and walked in {seconds:.2f} s "
        f"({cpu_seconds:.2f} s CPU)",
        "P&L per contract (currency); risk = P&L per unit of risk; held = mean calendar days",
        text_table(header, rows) if rows else "(no candidate in any bucket)",
    ]
    lines.extend(f"{what}: {path}" for what, path in files.items())
    return "\n".join(lines)
