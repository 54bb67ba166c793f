"""Sweep files are bounded before any work: an axis's values and the grid's combinations are
counted, not made, and refused above their limits with the count; names are one path
component; `--actors` follows the files' rule for `ray.actors`."""

from __future__ import annotations

import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from gridbt._inputs import InputError
from gridbt.sweep.spec import (
    MAX_AXIS_VALUES,
    MAX_COMBINATIONS,
    SweepError,
    SweepSpec,
    axis_count,
    axis_values,
    check_actors,
    check_engine,
    cpu_time,
    load_sweep,
)

REPO = Path(__file__).resolve().parents[3]
SHORT_PUT = REPO / "jobs" / "strategies" / "short_put_30d.yaml"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: t\nstrategy: {SHORT_PUT}\n" + textwrap.dedent(body))
    return path


def spec(grid: dict[str, Any], **extra: Any) -> SweepSpec:
    return SweepSpec.model_validate({"name": "t", "strategy": "unused.yaml", "grid": grid,
                                     **extra})


@pytest.mark.parametrize(("axis", "message"), [
    ({"range": [0.10, 0.40, 1.0e-12]},
     "range [0.1, 0.4, 1e-12] makes 300,000,000,001 values, more than the 100,000 an axis may "
     "have; use a larger step"),
    ({"linspace": [0.1, 0.4, 1_000_000_000_000]},
     "linspace [0.1, 0.4, 1000000000000] makes 1,000,000,000,000 values, more than the 100,000 "
     "an axis may have; use a smaller count"),
    ({"range": [0, 1.0e300, 1.0e-300]}, "makes countless values"),
    ({"range": [0, 100_000, 1]}, "makes 100,001 values"),
    ({"linspace": [0, 1, MAX_AXIS_VALUES + 1]}, "makes 100,001 values"),
    (list(range(MAX_AXIS_VALUES + 1)), "100,001 values, more than the 100,000 an axis may have"),
], ids=["range", "linspace", "countless range", "range 100,001", "linspace 100,001", "list"])
def test_an_axis_over_the_limit_is_refused_with_its_count_before_any_value_is_made(
    axis: Any, message: str
) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ValueError, match="exit.stop_loss") as err:
        axis_values("exit.stop_loss", axis)
    seconds, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message in str(err.value)
    assert seconds < 1.0
    assert peak < 2**20


def test_an_axis_at_the_limit_is_made() -> None:
    assert len(axis_values("a", {"range": [1, MAX_AXIS_VALUES, 1]})) == MAX_AXIS_VALUES
    assert axis_count("a", {"linspace": [0, 1, MAX_AXIS_VALUES]}) == MAX_AXIS_VALUES
    assert axis_count("a", [1, 2, None]) == 3
    assert axis_count("a", 7) == 1


def test_an_axis_over_the_limit_in_a_file_names_the_file_field_and_count(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        grid:
          structure.legs.0.select.target: {range: [0.10, 0.40, 1.0e-12]}
        """)
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert str(err.value) == (
        f"{path}: invalid sweep file\n  grid: structure.legs.0.select.target: range "
        "[0.1, 0.4, 1e-12] makes 300,000,000,001 values, more than the 100,000 an axis may "
        "have; use a larger step")


def test_a_huge_product_grid_is_refused_fast_with_its_count_and_how_to_raise_the_limit(
    tmp_path: Path
) -> None:
    path = write(tmp_path, """\
        grid:
          structure.legs.0.select.target: {linspace: [0.10, 0.40, 10000]}
          exit.profit_target: {linspace: [0.1, 0.9, 10000]}
          exit.stop_loss: {linspace: [1.0, 5.0, 10000]}
        """)
    started = time.perf_counter()
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert time.perf_counter() - started < 2.0
    assert str(err.value) == (
        f"{path}: invalid sweep file\n  grid: 1,000,000,000,000 combinations "
        "(10,000 × 10,000 × 10,000), more than max_combinations 100,000,000: roughly 32 "
        "CPU-years at ~1,000 combinations/s per CPU. Shrink the grid, or raise the limit in the "
        "sweep file (max_combinations: 1000000000000) to run it anyway")


def test_a_grid_just_above_a_lowered_limit_is_refused_and_accepted_once_raised(
    tmp_path: Path
) -> None:
    grid = """\
        grid:
          exit.profit_target: [0.25, 0.5, 0.75]
          exit.stop_loss: {range: [1, 4, 1]}
        constraints: ["exit.stop_loss > 3"]
        """
    with pytest.raises(SweepError, match=r"grid: 12 combinations \(3 × 4\), more than "
                                         r"max_combinations 11: .*\(max_combinations: 12\)"):
        load_sweep(write(tmp_path, grid + "max_combinations: 11\n"))
    sweep, _ = load_sweep(write(tmp_path, grid + "max_combinations: 12\n"))
    assert sweep.combinations == 12  # constraints only remove combinations: not counted
    assert spec({"exit.dte": [1, 2]}).max_combinations == MAX_COMBINATIONS
    with pytest.raises(SweepError, match="max_combinations: Input should be greater than or "
                                         "equal to 1"):
        load_sweep(write(tmp_path, grid + "max_combinations: 0\n"))


def test_a_zip_group_counts_once() -> None:
    sweep = spec({"structure.dte.target": [30, 45, 60], "structure.dte.min": [21, 35, 50],
                  "exit.dte": [None, 7], "exit.stop_loss": {"range": [1, 3, 1]}},
                 zip=[["structure.dte.target", "structure.dte.min"]])
    assert sweep.factor_counts() == [3, 2, 3]
    assert sweep.combinations == 18


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", ".hidden", "-x", "a b", ""])
def test_a_sweep_name_is_one_path_component(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, "grid: {exit.dte: [1]}\n")
    path.write_text(path.read_text().replace("name: t", f"name: {name!r}"))
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert f"name: {name!r} is not a name: use letters, digits, '_', '-' and '.'" in str(err.value)


@pytest.mark.parametrize("name", ["short_put_grid", "v1.2", "2024-q1", "_draft", "a..b"])
def test_ordinary_names_are_accepted(name: str) -> None:
    assert spec({"exit.dte": [1]}, name=name).name == name


def test_actors_on_the_command_line_follow_the_files_rule(tmp_path: Path) -> None:
    for actors in (-1, 0):
        path = write(tmp_path, f"grid: {{exit.dte: [1]}}\nray: {{actors: {actors}}}\n")
        with pytest.raises(SweepError) as in_file:
            load_sweep(path)
        with pytest.raises(InputError) as on_line:
            check_actors(actors)
        rule = str(on_line.value).removeprefix("--actors: ")
        assert str(in_file.value).endswith(f"\n  ray.actors: {rule}")
        assert str(on_line.value) == (
            f"--actors: Input should be greater than or equal to 1 (got {actors})")
    assert check_actors(None) is None
    assert check_actors(3) == 3


def test_cpu_time_is_an_order_of_magnitude() -> None:
    assert cpu_time(10**12) == "roughly 32 CPU-years at ~1,000 combinations/s per CPU"
    assert cpu_time(5_000_000) == "roughly 1.4 CPU-hours at ~1,000 combinations/s per CPU"


def test_engine_defaults_to_auto_and_takes_day() -> None:
    assert spec({"exit.stop_loss": [1.0, 2.0]}).engine == "auto"
    assert spec({"exit.stop_loss": [1.0, 2.0]}, engine="day").engine == "day"


def test_an_unknown_engine_names_the_file_field_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "grid: {exit.stop_loss: [1.0, 2.0]}\nengine: tables\n")
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert str(path) in str(err.value)
    assert "engine: Input should be 'auto' or 'day' (got 'tables')" in str(err.value)


def test_engine_on_the_command_line_follows_the_files_rule() -> None:
    assert check_engine(None) is None
    assert check_engine("day") == "day"
    with pytest.raises(InputError, match="--engine: 'tables' is not an engine; one of: auto, day"):
        check_engine("tables")
