"""Sweep files and grid expansion: axes, zips, constraints, validity, and exact encoding."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gridbt.data.features import FEATURE_NAMES
from gridbt.kernel.contract import P
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.paths import apply_assignment
from gridbt.strategy.presets import preset
from gridbt.strategy.spec import StrategySpec
from gridbt.sweep.grid import Grid, param_hashes
from gridbt.sweep.spec import SweepError, SweepSpec, axis_values, load_sweep

REPO = Path(__file__).resolve().parents[3]
JOBS = sorted((REPO / "jobs" / "sweeps").glob("*.yaml"))


class Features:
    feature_names = FEATURE_NAMES


def make_grid(base: StrategySpec, grid: dict[str, Any], **extra: Any) -> Grid:
    sweep = SweepSpec.model_validate(
        {"name": "t", "strategy": "unused.yaml", "grid": grid, **extra}
    )
    return Grid(sweep, base, Features(), "t.yaml")


def brute_force(base: StrategySpec, grid: dict[str, Any], zips: list[list[str]],
                constraint=None) -> list[dict[str, Any]]:
    """Every valid assignment, by full validation, in grid order (zip groups move together)."""
    axes = {p: axis_values(p, a) for p, a in grid.items()}
    zipped = {p: tuple(g) for g in zips for p in g}
    groups, seen = [], set()
    for p in grid:
        if p in seen:
            continue
        members = zipped.get(p, (p,))
        seen.update(members)
        groups.append([dict(zip(members, vals, strict=True))
                       for vals in zip(*(axes[m] for m in members), strict=True)])
    out = []
    for combo in itertools.product(*groups):
        assignment = {k: v for part in combo for k, v in part.items()}
        try:
            StrategySpec.model_validate(apply_assignment(base.model_dump(mode="json"), assignment))
        except ValidationError:
            continue
        if constraint is None or constraint(assignment):
            out.append(assignment)
    return out


# ----------------------------------------------------------------------------- axes
def test_range_includes_stop_and_keeps_integers() -> None:
    assert axis_values("a", {"range": [30, 60, 15]}) == [30, 45, 60]
    assert axis_values("a", {"range": [0.1, 0.3, 0.05]}) == [0.1, 0.15, 0.2, 0.25, 0.3]
    assert axis_values("a", {"range": [0.1, 0.32, 0.1]}) == [0.1, 0.2, 0.3]


def test_linspace_single_value_and_null() -> None:
    assert axis_values("a", {"linspace": [0.25, 0.75, 3]}) == [0.25, 0.5, 0.75]
    assert axis_values("a", None) == [None]
    assert axis_values("a", [1.0, None]) == [1.0, None]


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ({"range": [1, 0, 1]}, "stop >= start"),
        ({"range": [0, 1]}, "range needs [start, stop, step]"),
        ({"linspace": [0, 1, 0]}, "not a positive integer"),
        ({"steps": [1]}, "is not an axis"),
        ([1, 1], "values repeat"),
        ([], "at least one value"),
        ([{"a": 1}], "is not a number"),
        ([[{"a": 1}]], "or a list of those"),
    ],
)
def test_bad_axes_name_the_path(axis: Any, message: str) -> None:
    with pytest.raises(ValueError, match="exit.stop_loss") as err:
        axis_values("exit.stop_loss", axis)
    assert message in str(err.value)


# ----------------------------------------------------------------------------- files
def write(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_job_files_load_and_expand() -> None:
    assert {p.stem for p in JOBS} >= {"short_put_grid", "iron_condor_grid"}
    for path in JOBS:
        sweep, base = load_sweep(path)
        grid = Grid(sweep, base, Features(), str(path))
        assert grid.count() > 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("objective: sharp\n", "objective.kpi: 'sharp' is not a KPI"),
        ("pbo_blocks: 7\n", "pbo_blocks: 7 is odd"),
        ("zip: [[exit.stop_loss, exit.dte]]\n", "zip[0]: 'exit.dte' is not a path in grid"),
        ("keep_equity: some\n", "keep_equity"),
        ("bogus: 1\n", "bogus"),
    ],
)
def test_bad_sweep_files_fail_with_the_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, f"""\
        name: t
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        grid:
          exit.stop_loss: [1, 2]
        """ + body)
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_inline_strategy_errors_are_located_under_strategy(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        name: t
        strategy:
          structure:
            dte: {target: 45, min: 30, max: 60}
            legs: [{right: P, side: short, select: {target: 1.4, tolerance: 0.1}}]
        grid: {exit.stop_loss: [1, 2]}
        """)
    with pytest.raises(SweepError, match=r"strategy\.structure\.legs\[0\]\.select\.target: 1\.4"):
        load_sweep(path)


def test_missing_strategy_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nstrategy: nowhere.yaml\ngrid: {exit.dte: [1]}\n")
    with pytest.raises(SweepError, match="nowhere.yaml"):
        load_sweep(path)


def test_unknown_path_lists_the_fields_there() -> None:
    with pytest.raises(SweepError) as err:
        make_grid(preset("short_put"), {"exit.profit_targt": [0.5]})
    assert "no field 'profit_targt' in exit" in str(err.value)
    assert "profit_target" in str(err.value)
    with pytest.raises(SweepError, match=r"has 1 entries, no item \[3\]"):
        make_grid(preset("short_put"), {"structure.legs.3.select.target": [0.2]})


def test_a_bad_value_is_an_error_not_an_exclusion() -> None:
    with pytest.raises(SweepError) as err:
        make_grid(preset("short_put"), {"structure.legs.0.select.target": [0.2, 1.4]})
    assert "structure.legs[0].select.target" in str(err.value)
    assert "1.4" in str(err.value)


def test_bad_constraints_fail_before_work() -> None:
    base = preset("short_put")
    with pytest.raises(SweepError, match="no field 'stop'"):
        make_grid(base, {"exit.stop_loss": [1]}, constraints=["exit.stop > 1"])
    with pytest.raises(SweepError, match="not allowed"):
        make_grid(base, {"exit.stop_loss": [1]}, constraints=["exit.stop_loss if 1 else 2"])
    with pytest.raises(SweepError, match="neither a parameter path"):
        make_grid(base, {"exit.stop_loss": [1]}, constraints=["exit.stop_loss > x"])


# ----------------------------------------------------------------------------- semantics
def test_cross_field_invalid_mixes_are_excluded_and_counted() -> None:
    base = preset("short_put")  # dte 30..60, target 45
    grid = {"structure.dte.min": [20, 35, 50], "structure.dte.target": [30, 45],
            "exit.stop_loss": [1.0, None]}
    g = make_grid(base, grid)
    expected = brute_force(base, grid, [])
    assert g.count() == len(expected) < g.size + g.excluded_invalid
    block = g.block(0, g.size)
    assert [g.assignment(int(c)) for c in block.combo] == expected


def test_constraints_match_brute_force_and_null_means_rule_off() -> None:
    base = preset("short_put")
    grid = {"exit.profit_target": [0.25, 0.5, None], "exit.stop_loss": [0.5, 1.0, 2.0, None]}
    g = make_grid(base, grid, constraints=["exit.stop_loss > 2 * exit.profit_target"])

    def holds(a: dict[str, Any]) -> bool:
        pt, sl = a["exit.profit_target"], a["exit.stop_loss"]
        return pt is None or sl is None or sl > 2 * pt

    expected = brute_force(base, grid, [], holds)
    assert [g.assignment(int(c)) for c in g.block(0, g.size).combo] == expected
    assert g.count() == len(expected) == 9


def test_zip_moves_paths_together() -> None:
    base = preset("short_put")
    grid = {"structure.dte.target": [30, 60], "structure.dte.min": [20, 50],
            "structure.dte.max": [40, 70]}
    g = make_grid(base, grid, zip=[list(grid)])
    assert g.count() == 2
    assert [g.assignment(c)["structure.dte.min"] for c in (0, 1)] == [20, 50]


def _assert_rows_exact(g: Grid) -> None:
    block = g.block(0, g.size)
    for k in range(len(block)):
        spec = g.spec_of(int(block.combo[k]))
        np.testing.assert_array_equal(block.params[k], encode_spec(spec, Features()))


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.stem)
def test_patched_rows_equal_full_encoding_for_the_job_files(path: Path) -> None:
    sweep, base = load_sweep(path)
    _assert_rows_exact(Grid(sweep, base, Features(), str(path)))


AXES: dict[str, list[Any]] = {
    "structure.legs.0.select.target": [0.1, 0.2, 0.3],
    "structure.legs.1.select.points": [-25.0, -50.0],
    "structure.dte.target": [30, 45],
    "structure.dte.min": [21, 35],
    "exit.profit_target": [0.5, None],
    "exit.stop_loss": [1.5, None],
    "exit.dte": [None, 14],
    "exit.period_unit": ["calendar", "trading"],
    "entry.every_n_days": [1, 5],
    "entry.weekdays": [[0], [0, 2, 4]],
    "reentry.same_day": [False, True],
    "execution.slippage": [0.0, 0.5],
    "execution.slippage_per_contract": [0.0, 0.01],
    "hedge.band_units": ["per_contract", "position"],
    "sizing.contracts": [1, 3],
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(AXES)), min_size=1, max_size=5, unique=True))
def test_patched_rows_equal_full_encoding_for_random_grids(paths: list[str]) -> None:
    base = preset("put_credit_spread")
    grid = {p: AXES[p] for p in paths}
    g = make_grid(base, grid)
    assert g.count() == len(brute_force(base, grid, []))
    _assert_rows_exact(g)


def test_seed_parity_options_are_sweep_axes() -> None:
    base = preset("hedged_short_strangle")
    g = make_grid(base, {"execution.slippage_per_contract": [0.0, 0.01, 0.05],
                         "hedge.band_units": ["per_contract", "position"]})
    block = g.block(0, g.size)
    assert g.count() == 6
    slip = block.params[:, P.slippage_per_contract].tolist()
    position = block.params[:, P.hedge_band_position].tolist()
    assert sorted(zip(slip, position, strict=True)) == [
        (a, b) for a in (0.0, 0.01, 0.05) for b in (0.0, 1.0)
    ]
    assert len(set(param_hashes(block.params))) == 6
    assert set(g.values(block.levels)["hedge.band_units"]) == {"per_contract", "position"}
    _assert_rows_exact(g)


def test_param_hash_is_the_identity_of_the_work() -> None:
    rows = np.array([[1.0, np.nan, 0.0], [1.0, np.nan, -0.0], [1.0, 2.0, 0.0]])
    weird_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)[0]
    rows = np.vstack([rows, [1.0, weird_nan, 0.0]])
    h = param_hashes(rows)
    assert h[0] == h[1] == h[3] != h[2]
    assert all(len(x) == 16 for x in h)


def test_param_hashes_keep_their_values() -> None:
    """The hashes are stored with every result and matched by `--resume`: a new function (or
    salt) would make a resumed sweep redo, and duplicate, every combination written before.
    These are the values gridbt has always given (keyed blake2b, 8 bytes)."""
    assert param_hashes(np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 0.0]])) == \
        ["70aa861c73788ba9", "4f8ef80b225aaedd"]
    rows = np.tile(np.arange(455, dtype=float) / 7, (3000, 1))  # a block's width and length
    assert set(param_hashes(rows)) == {"4384ce9dd3321e46"}


def test_blocks_are_lazy_and_cover_the_grid_once() -> None:
    base = preset("short_put")
    g = make_grid(base, {"structure.legs.0.select.target": {"range": [0.05, 0.5, 0.05]},
                         "exit.stop_loss": {"linspace": [1, 3, 9]}})
    combos = np.concatenate([b.combo for b in g.blocks(chunk=7)])
    assert combos.tolist() == list(range(g.size))


def test_yaml_round_trip_of_a_job_file_is_a_valid_sweep() -> None:
    payload = yaml.safe_load((REPO / "jobs/sweeps/short_put_grid.yaml").read_text())
    assert SweepSpec.model_validate(payload).objective.maximize


def test_an_unknown_sweep_key_is_matched_against_the_sweep_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: s\nstrategy: {}\ngrid: {exit.stop_loss: [1]}\nobjectiv: sharpe\n")
    with pytest.raises(SweepError, match=r"objectiv: unknown key, did you mean 'objective'\?"):
        load_sweep(path)
