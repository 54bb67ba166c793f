"""Short labels of grid values, as MLflow run names use them."""

from __future__ import annotations

import pytest

from gridbt.sweep.labels import run_label, short_label


@pytest.mark.parametrize(("path", "value", "label"), [
    ("structure.legs.0.select.target", 0.15, "Δ0.15"),
    ("structure.legs.1.select.target", 0.2, "L1Δ0.2"),
    ("structure.legs.2.select.points", -25, "L2-25pt"),
    ("structure.dte.target", 30, "30d"),
    ("structure.dte.min", 21, "≥21d"),
    ("exit.profit_target", None, "PT–"),
    ("exit.stop_loss", 2.0, "SL2"),
    ("exit.stop_loss", 0.1 + 0.2, "SL0.30000000000000004"),
    ("exit.dte", 7, "x7d"),
    ("exit.dte", None, "x–"),
    ("exit.max_holding_days", 30, "H30d"),
    ("hedge.half_width", 5.0, "half_width=5"),
    ("hedge.every_days", None, "every_days=–"),
    ("hedge.enabled", True, "enabled=on"),
    ("entry.filters.0.min", 1.5, "0.min=1.5"),
    ("entry.weekdays", [0, 2], "weekdays=[0,2]"),
])
def test_short_label(path: str, value: object, label: str) -> None:
    assert short_label(path, value) == label


def test_run_label_follows_the_given_paths() -> None:
    values = {"structure.legs.0.select.target": 0.15, "structure.dte.target": 30,
              "exit.profit_target": None, "exit.stop_loss": 2.0, "exit.dte": 7, "fixed": 1}
    assert run_label(values, list(values)[:-1]) == "Δ0.15 30d PT– SL2 x7d"
