"""Plain-text building blocks of the CLI's reports: KPI and parameter values, aligned tables,
labels."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

__all__ = [
    "format_kpi",
    "format_named_kpi",
    "format_param",
    "open_mlflow",
    "short_labels",
    "text_table",
]


def format_kpi(value: float | None, unit: str) -> str:
    """A KPI in its registry unit (`kernel.metrics`): fractions as percentages (0.0523 ->
    5.23%), currency with thousands separators and cents, days and counts whole where they
    are, ratios to three decimals; `-` for an undefined KPI (None or NaN)."""
    if value is None or math.isnan(value):
        return "-"
    if unit == "fraction":
        return f"{value:.2%}"
    if unit == "currency":
        return f"{value:,.2f}"
    if unit in ("count", "days"):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{value:.3f}"


def format_named_kpi(name: str, value: float | None) -> str:
    """A KPI of the registry by name, in its unit (`format_kpi`), as `gridbt backtest` prints
    it; a name outside the registry (a custom objective) to four significant digits."""
    from gridbt.kernel.metrics import METRIC_BY_NAME

    metric = METRIC_BY_NAME.get(name)
    if metric is not None:
        return format_kpi(value, metric.unit)
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def format_param(value: object) -> str:
    """A grid value; null (NaN in numeric columns) means the rule is switched off."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "off"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def short_labels(params: list[str], width: int = 24) -> list[str]:
    """Each long path cut to its shortest dotted suffix that no other path shares, taking in
    the list a leading index belongs to (`structure.legs.0.select.target` -> `select.target`
    alone, `legs.0.select.target` beside leg 1's)."""
    labels = []
    for path in params:
        parts = path.split(".")
        label = path
        if len(path) > width:
            for k in range(1, len(parts) + 1):
                label = ".".join(parts[-k:])
                if sum(1 for other in params if other.endswith("." + label)
                       or other == label) == 1:
                    if parts[-k].isdigit() and k < len(parts):
                        label = ".".join(parts[-k - 1:])
                    break
        labels.append(label)
    return labels


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns, two spaces apart, header first."""
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True))
                     for r in [header, *rows])


def open_mlflow(logged: dict[str, Any]) -> str:
    """How to open a job's runs: the runs table's URL, after `mlflow ui` for a local store,
    with paths relative to the working directory where they are under it. (A job logged before
    the URL was recorded has none: the UI's address then.)"""
    uri = logged["tracking_uri"]
    url = logged.get("url", "http://127.0.0.1:5000")
    if uri.startswith(("http://", "https://")):
        return f"open it: {url}"
    command = f"mlflow ui --backend-store-uri {shlex.quote(_relative_sqlite(uri))}"
    if artifacts := logged.get("artifacts"):
        command += f" --artifacts-destination {shlex.quote(_relative(artifacts))}"
    return f"open it: {command}\n  then {url}"


def _relative(path: str) -> str:
    """`path` relative to the working directory when it is under it: shorter to read."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


def _relative_sqlite(uri: str) -> str:
    prefix = "sqlite:///"
    return prefix + _relative(uri[len(prefix):]) if uri.startswith(prefix) else uri

