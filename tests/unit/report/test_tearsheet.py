"""The tear sheet: KPIs in the units `gridbt backtest` prints, drawn without pyplot."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from gridbt.report._canvas import write_png
from gridbt.report.tearsheet import _SHEETS, _figure, write_tearsheet

REPO = Path(__file__).resolve().parents[3]


def tables(days: int = 60, margin: bool = True, seed: int = 3, n_trades: int = 12,
           scale: float = 1.0) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    flows = rng.normal(50.0, 400.0, days) * scale
    equity = 100_000.0 + np.cumsum(flows)
    columns = {
        "date": pa.array(np.arange(19_000, 19_000 + days, dtype=np.int32)).view(pa.date32()),
        "equity": equity,
        "drawdown": equity / np.maximum.accumulate(equity) - 1.0,
        **{f"pnl_{name}": flows / 7 for name in ("delta", "gamma", "vega", "theta", "costs",
                                                  "financing", "residual")},
        "initial_margin": (rng.uniform(10_000.0, 30_000.0, days) if margin
                           else np.zeros(days)),
    }
    return pa.table(columns), pa.table({"pnl": rng.normal(100.0, 900.0, n_trades) * scale})


KPIS = {"total_return": 0.1234, "cagr": 0.0523, "sharpe": 1.2345, "sortino": float("nan"),
        "max_drawdown": 0.12, "win_rate": 0.6}


def test_headline_kpis_are_in_the_units_the_cli_prints() -> None:
    figure = _figure(*tables(), KPIS, "short_put on SPX")
    equity_axes = figure.axes[0]
    assert equity_axes.get_title(loc="left") == "short_put on SPX"
    [headline] = [t.get_text() for t in equity_axes.texts]
    assert headline == ("Total return 12.34%   CAGR 5.23%   Sharpe 1.234   Max drawdown 12.00%"
                        "   Win rate 60.00%")  # an undefined KPI (Sortino) is left out


def test_axes_show_money_with_separators_and_fractions_as_percentages() -> None:
    figure = _figure(*tables(), KPIS, "t")
    figure.canvas.draw()
    equity_axes, drawdown_axes, attribution_axes, histogram_axes, margin_axes = figure.axes
    assert any("," in t.get_text() for t in equity_axes.get_yticklabels())
    assert all(t.get_text().endswith("%") for t in drawdown_axes.get_yticklabels()
               if t.get_text())
    assert all(t.get_text().endswith("%") for t in margin_axes.get_yticklabels()
               if t.get_text())
    assert histogram_axes.get_xlabel() == "trade P&L (12 trades)"
    assert attribution_axes.get_legend() is not None


@pytest.mark.parametrize(("scale", "margin"), [(1.0, True), (1.0, False), (50.0, True)])
def test_every_label_fits_on_the_sheet_placed_by_hand(scale: float, margin: bool) -> None:
    # the sheet is laid out by hand (no tight_layout): its margins must hold the equity labels
    # in the millions, the margin axis on the right and the title and headline on top
    equity, trades = tables(margin=margin)
    big = equity.set_column(1, "equity", pa.array(equity.column("equity").to_numpy() * scale))
    figure = _figure(big, trades, KPIS, "short_put on SPX")
    figure.canvas.draw()
    sheet = figure.bbox
    drawn = figure.get_tightbbox(figure.canvas.get_renderer()).transformed(
        figure.dpi_scale_trans)
    assert sheet.x0 <= drawn.x0 and drawn.x1 <= sheet.x1, (drawn, sheet)
    assert sheet.y0 <= drawn.y0 and drawn.y1 <= sheet.y1, (drawn, sheet)
    if scale > 1:  # the labels the margin is for were drawn
        assert any(len(t.get_text()) >= len("5,000,000") for t in figure.axes[0].get_yticklabels())


def _attribution_colours(equity: pa.Table, trades: pa.Table) -> dict[str, str]:
    from matplotlib.colors import to_hex

    attribution_axes = _figure(equity, trades, KPIS, "t").axes[2]
    return {line.get_label(): to_hex(line.get_color()) for line in attribution_axes.lines
            if not line.get_label().startswith("_")}


def test_every_pnl_source_has_its_own_colour_on_every_tear_sheet() -> None:
    equity, trades = tables()
    colours = _attribution_colours(equity, trades)
    assert set(colours) == {"delta", "gamma", "vega", "theta", "costs", "financing", "residual"}
    assert len(set(colours.values())) == len(colours)
    # a tear sheet without some sources draws the others in their usual colours
    fewer = equity.drop_columns(["pnl_delta", "pnl_gamma", "pnl_vega"])
    assert _attribution_colours(fewer, trades) == {
        name: colours[name] for name in ("theta", "costs", "financing", "residual")}


def test_no_margin_axis_without_margin() -> None:
    assert len(_figure(*tables(margin=False), KPIS, "t").axes) == 4


def test_written_on_the_agg_canvas_without_pyplot(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_tearsheet import KPIS, tables
        from gridbt.report.tearsheet import write_tearsheet
        write_tearsheet(*tables(), KPIS, "t", {str(tmp_path / "t.png")!r})
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]  # no temporary file left


def test_a_sheet_drawn_again_on_a_kept_figure_is_byte_for_byte_a_new_one(tmp_path: Path) -> None:
    """`write_tearsheet` keeps each layout's figure and puts the next run's data in it: every
    sheet must come out as the figure made for it alone would (the same PNG bytes), whatever
    was drawn on it before, layouts mixed."""
    runs = [tables(days=90, seed=1), tables(days=90, seed=2, n_trades=40, scale=30.0),
            tables(days=250, seed=3, margin=False), tables(days=60, seed=4, n_trades=0),
            tables(days=250, seed=5, margin=False, n_trades=300, scale=0.01),
            tables(days=40, seed=6, n_trades=0), tables(days=120, seed=7)]
    fewer = tables(days=80, seed=8)
    runs.append((fewer[0].drop_columns(["pnl_gamma", "pnl_vega"]), fewer[1]))
    kpis = [KPIS, {**KPIS, "sharpe": -0.5, "win_rate": float("nan")}]
    _SHEETS.clear()
    for i, (equity, trades) in enumerate(runs * 2):
        title = f"#{i} run {'x' * i}"
        write_tearsheet(equity, trades, kpis[i % 2], title, tmp_path / "kept.png")
        write_png(_figure(equity, trades, kpis[i % 2], title), tmp_path / "new.png", dpi=90,
                  tight=False)
        assert (tmp_path / "kept.png").read_bytes() == (tmp_path / "new.png").read_bytes(), i
    # kept: with margin or without, and the one with fewer sources; none without trades
    assert len(_SHEETS) == 3
