"""Objective heatmaps: the best-over-the-rest pivot, axis order, and the PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from gridbt.report._heatmap_picture import _color_scale
from gridbt.report.heatmap import (
    OFF_LABEL,
    _axis_labels,
    best_objective_grid,
    heatmap_figure,
    objective_heatmaps,
)
from gridbt.results.models import Heatmap
from gridbt.results.plots import heatmap_of_frame

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def results() -> pd.DataFrame:
    # Two deltas x two stops (one "off"), a third parameter to take the best over.
    return pd.DataFrame(
        {
            "leg.delta": [0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3],
            "exit.stop": [2.0, 2.0, None, None, 2.0, 2.0, 2.0],
            "exit.target": [0.5, 0.75, 0.5, 0.75, 0.5, 0.75, 0.75],
            "sharpe": [1.0, 1.4, -0.2, 0.3, 0.9, 0.1, 0.7],
        }
    )


def test_grid_is_the_best_objective_over_the_other_parameters(results: pd.DataFrame) -> None:
    xs, ys, grid = best_objective_grid(results, "leg.delta", "exit.stop", "sharpe", True)
    assert xs == [0.2, 0.3]
    assert ys == [2.0, None]
    # rows follow y (stop 2.0, off), columns follow x (delta 0.2, 0.3)
    np.testing.assert_array_equal(grid, [[1.4, 0.9], [0.3, np.nan]])
    _, _, lowest = best_objective_grid(results, "leg.delta", "exit.stop", "sharpe", False)
    np.testing.assert_array_equal(lowest, [[1.0, 0.1], [-0.2, np.nan]])


def test_grid_agrees_with_a_pandas_group_by() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "a": rng.choice([1.0, 2.5, 10.0, np.nan], 400),
            "b": rng.choice(["mon", "wed", "fri"], 400),
            "c": rng.integers(0, 5, 400),
            "obj": rng.normal(size=400),
        }
    )
    xs, ys, grid = best_objective_grid(frame, "a", "b", "obj", True)
    best = frame.fillna({"a": -1.0}).groupby(["b", "a"])["obj"].max()
    expected = [[best.get((y, -1.0 if x is None else x), np.nan) for x in xs] for y in ys]
    assert xs == [1.0, 2.5, 10.0, None]
    assert ys == ["fri", "mon", "wed"]
    np.testing.assert_array_equal(grid, expected)


def test_values_sort_numerically_with_off_last() -> None:
    frame = pd.DataFrame(
        {
            "dte": [10, 9, 45, 9],
            "stop": [None, 10.0, 2.0, 1.5],  # pandas turns None into NaN here
            "weekday": ["mon", None, "fri", "mon"],
            "hedge": [True, None, False, True],
            "obj": [1.0, 2.0, 3.0, 4.0],
        }
    )
    xs, ys, _ = best_objective_grid(frame, "dte", "stop", "obj", True)
    assert xs == [9, 10, 45]
    assert ys == [1.5, 2.0, 10.0, None]
    xs, ys, _ = best_objective_grid(frame, "weekday", "hedge", "obj", True)
    assert xs == ["fri", "mon", None]
    assert ys == [False, True, None]


def test_equal_numbers_share_a_level_but_booleans_do_not() -> None:
    frame = pd.DataFrame({"a": [1, 1.0, True, 2], "b": [0, 1, 0, 1], "obj": [1.0, 2.0, 3.0, 4.0]})
    xs, _, grid = best_objective_grid(frame, "a", "b", "obj", True)
    assert xs == [1, 2, True]
    np.testing.assert_array_equal(grid, [[1.0, np.nan, 3.0], [2.0, 4.0, np.nan]])


def test_cells_without_a_finite_objective_are_nan() -> None:
    frame = pd.DataFrame(
        {"a": [1, 1, 2, 2], "b": [1, 2, 1, 2], "obj": [0.5, math.nan, math.inf, 0.25]}
    )
    _, _, grid = best_objective_grid(frame, "a", "b", "obj", True)
    # (a=1, b=2) is undefined and (a=2, b=1) infinite: neither counts as evaluated
    np.testing.assert_array_equal(grid, [[0.5, np.nan], [np.nan, 0.25]])


def test_missing_column_is_named() -> None:
    frame = pd.DataFrame({"a": [1, 2], "obj": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"\['b'\]"):
        best_objective_grid(frame, "a", "b", "obj", True)


def test_heatmaps_are_png_files_named_after_the_pair(results: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "heatmaps"
    paths = objective_heatmaps(
        results,
        ["leg.delta", "exit.stop", "exit.target"],
        "sharpe",
        higher_is_better=True,
        out_dir=out,
    )
    assert [p.name for p in paths] == [
        "heatmap_sharpe__leg.delta__exit.stop.png",
        "heatmap_sharpe__leg.delta__exit.target.png",
        "heatmap_sharpe__exit.stop__exit.target.png",
    ]
    for path in paths:
        assert path.parent == out
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
    assert sorted(out.iterdir()) == sorted(paths)  # no temporary files left behind


def test_single_valued_parameters_are_skipped(results: pd.DataFrame, tmp_path: Path) -> None:
    frame = results.assign(fixed=45, always_off=None)
    paths = objective_heatmaps(
        frame,
        ["fixed", "leg.delta", "always_off", "exit.stop"],
        "sharpe",
        higher_is_better=True,
        out_dir=tmp_path,
    )
    assert [p.name for p in paths] == ["heatmap_sharpe__leg.delta__exit.stop.png"]


def test_a_zip_group_is_one_axis_named_by_its_first_path(tmp_path: Path) -> None:
    # dte.min and dte.max move with dte.target: against it they would be a diagonal, and each
    # against the delta the delta-by-target picture again
    frame = pd.DataFrame({
        "structure.dte.max": [40, 40, 55, 55, 70, 70] * 2,
        "leg.delta": [0.2, 0.3] * 6,
        "structure.dte.target": [30, 30, 45, 45, 60, 60] * 2,
        "structure.dte.min": [21, 21, 35, 35, 50, 50] * 2,
        "exit.stop": [2.0] * 6 + [None] * 6,
        "sharpe": np.linspace(-1.0, 1.0, 12),
    })
    params = ["leg.delta", "structure.dte.target", "structure.dte.min", "structure.dte.max",
              "exit.stop"]
    zipped = [["structure.dte.max", "structure.dte.target", "structure.dte.min"]]
    paths = objective_heatmaps(frame, params, "sharpe", higher_is_better=True, out_dir=tmp_path,
                               zipped=zipped)
    assert [p.name for p in paths] == [
        "heatmap_sharpe__leg.delta__structure.dte.target.png",
        "heatmap_sharpe__leg.delta__exit.stop.png",
        "heatmap_sharpe__structure.dte.target__exit.stop.png",
    ]
    # the first of the group in the grid's order leads it, whatever the zip group's order
    assert _axis_labels(params, zipped) == {
        "structure.dte.target": "structure.dte.target\n(zipped with .min, .max)",
        "structure.dte.min": "",
        "structure.dte.max": "",
    }
    assert _axis_labels(["a.x", "b.y"], [["a.x", "b.y"]]) == {
        "a.x": "a.x\n(zipped with b.y)", "b.y": ""}
    heatmap = heatmap_of_frame(frame, "leg.delta", "structure.dte.target", "sharpe",
                               higher_is_better=True)
    figure = heatmap_figure(heatmap, y_label="dte (zipped)")
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == (
        "leg.delta", "dte (zipped)")


def test_max_pairs_keeps_the_first_pairs_in_order(results: pd.DataFrame, tmp_path: Path) -> None:
    frame = results.assign(extra=[1, 2, 1, 2, 1, 2, 1])
    params = ["leg.delta", "exit.stop", "exit.target", "extra"]
    paths = objective_heatmaps(
        frame, params, "sharpe", higher_is_better=True, out_dir=tmp_path, max_pairs=2
    )
    assert [p.name for p in paths] == [
        "heatmap_sharpe__leg.delta__exit.stop.png",
        "heatmap_sharpe__leg.delta__exit.target.png",
    ]
    assert (
        objective_heatmaps(
            frame, params, "sharpe", higher_is_better=True, out_dir=tmp_path, max_pairs=0
        )
        == []
    )


def test_file_names_are_filesystem_safe(tmp_path: Path) -> None:
    long = "legs." + "very_long_segment." * 20 + "delta"
    frame = pd.DataFrame({"a/b c:d": [1, 2], long: [0.1, 0.2], "obj": [1.0, 2.0], "other": [3, 4]})
    paths = objective_heatmaps(
        frame, ["a/b c:d", long, "other"], "obj", higher_is_better=True, out_dir=tmp_path
    )
    names = [p.name for p in paths]
    assert len(set(names)) == 3
    for name in names:
        assert "/" not in name and ":" not in name and " " not in name
        assert len(name) <= 130 and name.endswith(".png")
        assert (tmp_path / name).is_file()


def test_figure_labels_values_with_off_last_and_annotates_cells(results: pd.DataFrame) -> None:
    heatmap = heatmap_of_frame(results, "leg.delta", "exit.stop", "sharpe",
                               higher_is_better=True)
    figure = heatmap_figure(heatmap)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "leg.delta"
    assert ax.get_ylabel() == "exit.stop"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.2", "0.3"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", OFF_LABEL]
    assert sorted(t.get_text() for t in ax.texts) == ["0.3", "0.9", "1.4"]  # not the empty cell
    assert any(patch.get_hatch() for patch in ax.patches)  # behind the empty cell


def test_ticks_read_as_the_top_table_with_more_digits_only_where_levels_would_merge() -> None:
    # linspace(0.1, 0.9, 25) steps by 1/30: 4 significant digits, as the summary shows them
    targets = np.linspace(0.1, 0.9, 25).tolist()
    close = [1.00001, 1.00002, 2.5, None]  # alike at 4 digits: as many as it takes
    heatmap = Heatmap(x="exit.profit_target", y="exit.stop_loss", metric="sharpe", agg="max",
                      higher_is_better=True, where={}, x_values=targets, y_values=close,
                      values=[[1.0] * 25] * 4, counts=[[1] * 25] * 4, best=[[None] * 25] * 4,
                      runs=100)
    ax = heatmap_figure(heatmap).axes[0]
    x_ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert x_ticks[:4] == ["0.1", "0.1333", "0.1667", "0.2"] and x_ticks[-1] == "0.9"
    assert len(set(x_ticks)) == 25
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1.00001", "1.00002", "2.5",
                                                            OFF_LABEL]


def test_large_grids_are_not_annotated() -> None:
    grid = np.arange(13.0 * 4).reshape(4, 13).tolist()
    heatmap = Heatmap(x="x", y="y", metric="obj", agg="max", higher_is_better=True, where={},
                      x_values=list(range(13)), y_values=list(range(4)), values=grid,
                      counts=[[1] * 13] * 4, best=[[None] * 13] * 4, runs=52)
    figure = heatmap_figure(heatmap)
    assert len(figure.axes[0].texts) == 0


def test_the_png_and_the_api_draw_the_same_heatmap_object(results: pd.DataFrame) -> None:
    """The PNG renderer's data is the `Heatmap` the API serves: the same cells, and for the
    median the same values as a direct pandas computation."""
    heatmap = heatmap_of_frame(results, "leg.delta", "exit.stop", "sharpe",
                               higher_is_better=True, agg="median")
    assert heatmap.values == [[1.2, 0.7], [0.04999999999999999, None]]
    assert heatmap.counts == [[2, 3], [2, 0]]
    image = heatmap_figure(heatmap).axes[0].images[0].get_array()
    np.testing.assert_allclose(image.filled(np.nan), [[1.2, 0.7], [0.05, np.nan]])


@pytest.mark.parametrize(
    ("values", "higher", "colormap", "diverging"),
    [
        ([-0.5, 0.2, 1.0], True, "RdYlGn", True),
        ([-0.5, 0.2, 1.0], False, "RdYlGn_r", True),
        ([0.1, 0.2, 1.0], True, "viridis", False),
        ([-0.3, -0.1, 0.0], False, "viridis_r", False),
    ],
)
def test_colour_scale_diverges_around_zero_only_when_values_straddle_it(
    values: list[float], higher: bool, colormap: str, diverging: bool
) -> None:
    scale = _color_scale(np.array([values + [np.nan]]), higher)
    assert (scale.colormap, scale.diverging) == (colormap, diverging)
    assert (scale.vmin, scale.vmax) == (min(values), max(values))
