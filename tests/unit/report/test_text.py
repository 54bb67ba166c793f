"""Plain-text values: KPIs in their registry units."""

from __future__ import annotations

import pytest

from gridbt.report.text import format_kpi


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.0523, "fraction", "5.23%"),
        (-0.5, "fraction", "-50.00%"),
        (1234.5, "currency", "1,234.50"),
        (12.0, "days", "12"),
        (12.5, "days", "12.5"),
        (1200.0, "count", "1,200"),
        (1.23456, "ratio", "1.235"),
        (None, "ratio", "-"),
        (float("nan"), "fraction", "-"),
    ],
)
def test_format_kpi(value: float | None, unit: str, shown: str) -> None:
    assert format_kpi(value, unit) == shown
