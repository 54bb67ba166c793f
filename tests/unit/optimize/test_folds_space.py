"""Walk-forward folds, the search space's suggestions and encodings, and the samplers."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from gridbt.optimize.folds import folds_of
from gridbt.optimize.samplers import grid_size, make_pruner, make_sampler, open_storage
from gridbt.optimize.space import SearchSpace
from gridbt.optimize.spec import StudyError, StudySpec, WalkForward, load_study
from gridbt.strategy.encode import STANDARD_FEATURES, encode_spec
from gridbt.strategy.paths import apply_assignment
from gridbt.strategy.spec import StrategySpec

REPO = Path(__file__).resolve().parents[3]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"


def test_anchored_folds_grow_from_the_start_and_test_on_the_next_segment() -> None:
    folds = folds_of(1000, WalkForward(folds=3, scheme="anchored"))
    assert [(f.in_sample, f.oos) for f in folds] == [
        ((0, 250), (250, 500)), ((0, 500), (500, 750)), ((0, 750), (750, 1000))]


def test_rolling_folds_keep_their_length_and_the_gap_is_left_out() -> None:
    wf = WalkForward(folds=2, scheme="rolling", in_sample_segments=2, gap_days=5)
    folds = folds_of(1200, wf)
    assert [(f.in_sample, f.oos) for f in folds] == [
        ((0, 600), (605, 900)), ((300, 900), (905, 1200))]


def test_no_walk_forward_is_one_in_sample_fold_over_the_chain() -> None:
    (fold,) = folds_of(252, None)
    assert fold.in_sample == (0, 252) and fold.oos is None


def test_folds_too_short_to_trade_are_refused_with_the_counts() -> None:
    with pytest.raises(ValueError, match=r"walk_forward: fold 1 has 12 in-sample and 13 "
                                         r"out-of-sample days of 50"):
        folds_of(50, WalkForward(folds=3))


def study(tmp_path: Path, space: str, extra: str = "") -> tuple[StudySpec, StrategySpec, Path]:
    path = tmp_path / "study.yaml"
    path.write_text(f"name: s\nstrategy: {SHORT_PUT}\nspace:\n"
                    + textwrap.indent(textwrap.dedent(space), "  ") + textwrap.dedent(extra))
    spec, base = load_study(path)
    return spec, base, path


def encoded(base: StrategySpec, values: dict[str, Any]) -> np.ndarray:
    spec = StrategySpec.model_validate(apply_assignment(base.model_dump(mode="json"), values))
    return encode_spec(spec, STANDARD_FEATURES)


def test_conditional_path_is_only_suggested_when_its_parent_allows(tmp_path: Path) -> None:
    spec, base, path = study(tmp_path, """\
        exit.stop_loss: {categorical: [2.0, null]}
        exit.profit_target: {float: [0.2, 0.8], when: {exit.stop_loss: 2.0}}
    """)
    space = SearchSpace(spec, base, STANDARD_FEATURES, str(path))
    opt = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(30):
        values = space.suggest(opt.ask())
        seen.append(values)
        assert ("exit.profit_target" in values) == (values["exit.stop_loss"] == 2.0)
        row = space.encode(values).rows
        assert row is not None
        np.testing.assert_array_equal(row[0], encoded(base, values))
    assert {v["exit.stop_loss"] for v in seen} == {2.0, None}


def test_subgrid_rows_equal_full_encodings(tmp_path: Path) -> None:
    spec, base, path = study(tmp_path, """\
        structure.legs.0.select.target: {float: [0.1, 0.4], step: 0.05}
    """, "subgrid:\n  exit.dte: [null, 7, 14]\n  exit.stop_loss: [1.5, null]\n")
    space = SearchSpace(spec, base, STANDARD_FEATURES, str(path))
    assert space.sub_size == 6
    values = {"structure.legs.0.select.target": 0.25}
    rows = space.encode(values).rows
    assert rows is not None and rows.shape[0] == 6
    for r in range(6):
        np.testing.assert_array_equal(rows[r], encoded(base, {**values,
                                                              **space.sub_assignment(r)}))


def test_subgrid_paths_that_interact_with_the_trial_are_refused(tmp_path: Path) -> None:
    spec, base, path = study(tmp_path, """\
        structure.dte.target: {int: [35, 55], step: 10}
    """, "subgrid:\n  structure.dte.min: [30, 33]\n")
    space = SearchSpace(spec, base, STANDARD_FEATURES, str(path))
    # dte min and target are one validated model: a sub-row laid over target 35 is exact,
    # but the check compares the joint encoding and names the paths when it is not
    result = space.encode({"structure.dte.target": 35})
    assert result.rows is not None
    np.testing.assert_array_equal(result.rows[1], encoded(base, {"structure.dte.target": 35,
                                                                 "structure.dte.min": 33}))


def test_an_invalid_trial_and_a_broken_constraint_are_errors_not_rows(tmp_path: Path) -> None:
    spec, base, path = study(tmp_path, """\
        structure.dte.target: {int: [10, 60], step: 10}
        exit.stop_loss: {categorical: [1.0, 3.0]}
    """, "constraints: ['exit.stop_loss > 2']\n")
    space = SearchSpace(spec, base, STANDARD_FEATURES, str(path))
    bad = space.encode({"structure.dte.target": 10, "exit.stop_loss": 3.0})
    assert bad.rows is None and "dte" in (bad.error or "")
    broken = space.encode({"structure.dte.target": 40, "exit.stop_loss": 1.0})
    assert broken.rows is None and "exit.stop_loss > 2" in (broken.error or "")


def test_a_space_path_missing_from_the_strategy_is_named(tmp_path: Path) -> None:
    spec, base, path = study(tmp_path, "exit.stop_los: {float: [1, 2]}\n")
    with pytest.raises(StudyError, match=r"study.yaml: space: exit.stop_los: no field "
                                         r"'stop_los' in exit"):
        SearchSpace(spec, base, STANDARD_FEATURES, str(path))


@pytest.mark.parametrize("kind,sampler", [
    ("tpe", optuna.samplers.TPESampler), ("cmaes", optuna.samplers.CmaEsSampler),
    ("random", optuna.samplers.RandomSampler), ("grid", optuna.samplers.GridSampler),
])
def test_each_sampler_kind_is_built_and_samples_inside_the_space(
    tmp_path: Path, kind: str, sampler: type
) -> None:
    spec, base, path = study(tmp_path, """\
        structure.legs.0.select.target: {float: [0.1, 0.4], step: 0.1}
        structure.dte.target: {int: [40, 50], step: 5}
    """, f"sampler: {{kind: {kind}, seed: 3}}\n")
    made = make_sampler(spec)
    assert isinstance(made, sampler)
    space = SearchSpace(spec, base, STANDARD_FEATURES, str(path))
    opt = optuna.create_study(sampler=made, pruner=make_pruner(spec))
    for _ in range(12):
        trial = opt.ask()
        values = space.suggest(trial)
        assert values["structure.legs.0.select.target"] in (0.1, 0.2, 0.3, 0.4)
        assert values["structure.dte.target"] in (40, 45, 50)
        opt.tell(trial, values["structure.legs.0.select.target"])
    if kind == "grid":
        assert grid_size(spec) == 12
        assert len({tuple(t.params.values()) for t in opt.trials}) == 12


def test_two_objectives_default_to_nsga2_and_no_pruner(tmp_path: Path) -> None:
    spec, _, _ = study(tmp_path, "exit.stop_loss: {float: [1, 3]}\n",
                       "objectives: [sharpe, max_drawdown]\n")
    assert isinstance(make_sampler(spec), optuna.samplers.NSGAIISampler)
    assert isinstance(make_pruner(spec), optuna.pruners.NopPruner)


def test_sqlite_storage_is_written_ahead(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'study.db'}"
    storage = open_storage(url)
    optuna.create_study(storage=storage, study_name="x")
    import sqlite3

    with sqlite3.connect(tmp_path / "sub" / "study.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _last_batch_points(tmp_path: Path, liar: bool, seed: int) -> int:
    spec, base, path = study(tmp_path, """\
        structure.legs.0.select.target: {float: [0.05, 0.5], step: 0.025}
        exit.profit_target: {float: [0.2, 0.9], step: 0.05}
    """, f"sampler: {{kind: tpe, seed: {seed}, constant_liar: {str(liar).lower()}}}\n")
    space = SearchSpace(spec, base, STANDARD_FEATURES, str(path))
    opt = optuna.create_study(direction="maximize", sampler=make_sampler(spec))
    points: list[tuple[Any, ...]] = []
    for _ in range(6):  # batches of 16 asked together, then told, as the study driver does
        trials = [opt.ask() for _ in range(16)]
        points = [tuple(space.suggest(t).values()) for t in trials]
        for trial, (delta, target) in zip(trials, points, strict=True):
            opt.tell(trial, -(delta - 0.3) ** 2 - (target - 0.6) ** 2)
    return len(set(points))


def test_the_constant_liar_keeps_a_parallel_batch_spread_out(tmp_path: Path) -> None:
    """Without it, TPE asks one batch's trials from the same model and they pile onto the
    best point found so far."""
    with_liar = [_last_batch_points(tmp_path, True, seed) for seed in range(3)]
    without = [_last_batch_points(tmp_path, False, seed) for seed in range(3)]
    assert min(with_liar) >= 14
    assert max(without) <= 10
