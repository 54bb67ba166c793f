"""Study files: every mistake is reported with the file, field and value; defaults resolve;
the ready study files in jobs/studies load and only name paths their base strategy has."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from gridbt.optimize.spec import (
    CategoricalParam,
    Distribution,
    FloatParam,
    IntParam,
    StudyError,
    StudySpec,
    load_study,
)
from gridbt.strategy.paths import apply_assignment, get_path
from gridbt.strategy.spec import StrategySpec
from gridbt.sweep.constraints import compile_constraint
from gridbt.sweep.spec import SweepError, axis_values

REPO = Path(__file__).resolve().parents[3]
SHORT_PUT = REPO / "jobs" / "strategies" / "short_put_30d.yaml"
STUDIES = sorted((REPO / "jobs" / "studies").glob("*.yaml"))

TWO_OBJECTIVES = ["sharpe", {"kpi": "max_drawdown", "direction": "minimize"}]
WALK_FORWARD = {"folds": 3, "scheme": "anchored"}


def study_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "probe",
        "strategy": str(SHORT_PUT),
        "space": {
            "structure.legs.0.select.target": {"float": [0.10, 0.40], "step": 0.05},
            "exit.stop_loss": {"categorical": [1.0, 2.0, None]},
        },
    }
    payload.update(changes)
    return payload


def write(tmp_path: Path, payload: dict[str, Any], name: str = "bad_study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(payload, sort_keys=False))  # space order matters (`when`)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(StudyError) as info:
        load_study(path)
    return str(info.value)


def space(**paths: Any) -> dict[str, Any]:
    """`space(exit__stop_loss=...)`: keyword names with `__` for the dots of a path."""
    return {key.replace("__", "."): value for key, value in paths.items()}


# (changes to the good payload, fragments the message must hold: field path and value)
BAD: list[Any] = [
    pytest.param({"trails": 300}, ["trails: unknown key", "(got 300)"], id="unknown-key"),
    pytest.param(
        {"sampler": {"kind": "tpe", "seeed": 3}}, ["sampler.seeed: unknown key", "(got 3)"],
        id="unknown-nested-key",
    ),
    pytest.param(
        {"space": space(exit__stop_loss={"low": 1.0, "high": 2.0})},
        ["space.exit.stop_loss:", "{'low': 1.0, 'high': 2.0} is not a distribution",
         "{float: [low, high]}"],
        id="distribution-without-kind",
    ),
    pytest.param(
        {"space": space(exit__stop_loss={"float": [1.0, 2.0], "categorical": [1.0]})},
        ["space.exit.stop_loss:", "'float': [1.0, 2.0], 'categorical': [1.0]",
         "is not a distribution"],
        id="distribution-with-two-kinds",
    ),
    pytest.param(
        {"space": space(exit__stop_loss=[1.0, 2.0])},
        ["space.exit.stop_loss:", "[1.0, 2.0] is not a distribution"],
        id="distribution-as-a-list",
    ),
    pytest.param(
        {"space": space(exit__stop_loss={"float": [2.0, 1.0]})},
        ["space.exit.stop_loss: float: needs low < high", "[2.0, 1.0]"],
        id="float-low-above-high",
    ),
    pytest.param(
        {"space": space(exit__stop_loss={"float": [1.5, 1.5]})},
        ["space.exit.stop_loss: float: needs low < high", "[1.5, 1.5]"],
        id="float-low-equals-high",
    ),
    pytest.param(
        {"space": space(structure__dte__target={"int": [60, 30]})},
        ["space.structure.dte.target: int: needs low < high", "[60, 30]"],
        id="int-low-above-high",
    ),
    pytest.param(
        {"space": space(exit__profit_target={"float": [0.0, 0.9], "log": True})},
        ["space.exit.profit_target: log: needs low > 0", "got 0.0"],
        id="log-with-low-zero",
    ),
    pytest.param(
        {"space": space(exit__profit_target={"float": [-0.5, 0.9], "log": True})},
        ["space.exit.profit_target: log: needs low > 0", "got -0.5"],
        id="log-with-negative-low",
    ),
    pytest.param(
        {"space": space(exit__profit_target={"float": [0.1, 0.9], "log": True, "step": 0.1})},
        ["space.exit.profit_target: step and log cannot be combined"],
        id="float-step-with-log",
    ),
    pytest.param(
        {"space": space(exit__profit_target={"float": [0.1, 0.9], "step": -0.1})},
        ["space.exit.profit_target: step:", "greater than 0"],
        id="float-negative-step",
    ),
    pytest.param(
        {"space": space(structure__dte__target={"int": [30, 60], "step": 0})},
        ["space.structure.dte.target: step:", "greater than or equal to 1"],
        id="int-step-below-one",
    ),
    pytest.param(
        {"space": space(structure__dte__target={"int": [30, 60], "step": 5, "log": True})},
        ["space.structure.dte.target: log: needs low >= 1 and step 1"],
        id="int-log-with-step",
    ),
    pytest.param(
        {"space": space(exit__stop_loss={"categorical": [1.0, 2.0, 1.0]})},
        ["space.exit.stop_loss: categorical: values repeat in [1.0, 2.0, 1.0]"],
        id="categorical-repeats",
    ),
    pytest.param(
        {"space": space(exit__stop_loss={"categorical": []})},
        ["space.exit.stop_loss: categorical:", "at least 1 item"],
        id="categorical-empty",
    ),
    pytest.param(
        {"space": space(
            exit__profit_target={"float": [0.2, 0.9], "when": {"exit.stop_loss": 2.0}},
            exit__stop_loss={"categorical": [1.0, 2.0]},
        )},
        ["space.exit.profit_target.when: 'exit.stop_loss' is not a space path listed before"],
        id="when-names-a-later-path",
    ),
    pytest.param(
        {"space": space(
            exit__profit_target={"float": [0.2, 0.9], "when": {"exit.dte": 21}},
        )},
        ["space.exit.profit_target.when: 'exit.dte' is not a space path listed before"],
        id="when-names-a-path-outside-space",
    ),
    pytest.param(
        {"space": space(
            exit__stop_loss={"float": [1.0, 3.0]},
            exit__profit_target={"float": [0.2, 0.9], "when": {"exit.stop_loss": 2.0}},
        )},
        ["space.exit.profit_target.when: 'exit.stop_loss' is not categorical"],
        id="when-names-a-float",
    ),
    pytest.param(
        {"space": space(
            exit__stop_loss={"categorical": [1.0, 2.0, None]},
            exit__profit_target={"float": [0.2, 0.9], "when": {"exit.stop_loss": [2.0, 3.0]}},
        )},
        ["space.exit.profit_target.when: [3.0] are not values of 'exit.stop_loss'",
         "[1.0, 2.0, None]"],
        id="when-value-not-a-choice",
    ),
    pytest.param(
        {"subgrid": {"exit.stop_loss": [1.0, 3.0]}},
        ["subgrid.exit.stop_loss: the path is also in space"],
        id="subgrid-path-also-in-space",
    ),
    pytest.param(
        {"subgrid": {"exit.dte": {"range": [7, 21]}}},
        ["subgrid.exit.dte: range needs [start, stop, step], got [7, 21]"],
        id="subgrid-bad-axis",
    ),
    pytest.param(
        {"subgrid": {"exit.dte": [7, 14]}, "objectives": TWO_OBJECTIVES},
        ["subgrid: needs a single objective"],
        id="subgrid-with-two-objectives",
    ),
    pytest.param(
        {"objectives": ["sharpe", {"kpi": "sharpe", "direction": "minimize"}]},
        ["objectives: a KPI repeats in ['sharpe', 'sharpe']"],
        id="objective-kpi-repeats",
    ),
    pytest.param(
        {"objectives": ["sharpe", "sharpie"]},
        ["objectives[1].kpi: 'sharpie' is not a KPI", "max_drawdown"],
        id="unknown-kpi",
    ),
    pytest.param(
        {"objectives": ["sharpe", {"kpi": "cagr", "direction": "up"}]},
        ["objectives[1].direction:", "'maximize' or 'minimize'", "'up'"],
        id="unknown-direction",
    ),
    pytest.param(
        {"objectives": TWO_OBJECTIVES, "sampler": {"kind": "cmaes"}},
        ["sampler.kind: cmaes optimizes one objective"],
        id="cmaes-with-two-objectives",
    ),
    pytest.param(
        {"sampler": {"kind": "annealing"}},
        ["sampler.kind:", "'annealing'", "'tpe'"],
        id="unknown-sampler",
    ),
    pytest.param(
        {"sampler": {"kind": "grid"},
         "space": space(exit__profit_target={"float": [0.2, 0.9]})},
        ["sampler.kind: grid needs a step on every float",
         "space.exit.profit_target has none"],
        id="grid-sampler-float-without-step",
    ),
    pytest.param(
        {"sampler": {"kind": "grid"}, "space": space(
            exit__stop_loss={"categorical": [1.0, 2.0]},
            exit__profit_target={"float": [0.2, 0.8], "step": 0.2,
                                 "when": {"exit.stop_loss": 2.0}},
        )},
        ["sampler.kind: grid cannot sample conditional paths",
         "space.exit.profit_target has a when"],
        id="grid-sampler-conditional-path",
    ),
    pytest.param(
        {"objectives": TWO_OBJECTIVES, "pruner": {"kind": "median"},
         "walk_forward": WALK_FORWARD},
        ["pruner.kind:", "cannot prune multi-objective trials"],
        id="pruner-with-two-objectives",
    ),
    pytest.param(
        {"pruner": {"kind": "hyperband"}},
        ["pruner.kind: pruning needs walk_forward folds"],
        id="pruner-without-walk-forward",
    ),
    pytest.param(
        {"walk_forward": {"folds": 0}},
        ["walk_forward.folds:", "greater than or equal to 1"],
        id="walk-forward-no-folds",
    ),
    pytest.param(
        {"walk_forward": {"folds": 3, "scheme": "expanding"}},
        ["walk_forward.scheme:", "'anchored' or 'rolling'", "'expanding'"],
        id="walk-forward-unknown-scheme",
    ),
    pytest.param(
        {"storage": "study.db"},
        ["storage: 'study.db' is neither an RDB URL", "journal:<path>"],
        id="storage-bare-file-name",
    ),
    pytest.param(
        {"storage": "journal.log"},
        ["storage: 'journal.log' is neither an RDB URL"],
        id="storage-journal-without-colon",
    ),
    pytest.param({"pbo_blocks": 7}, ["pbo_blocks: 7 is odd"], id="odd-pbo-blocks"),
    pytest.param({"trials": 0}, ["trials:", "greater than or equal to 1", "(got 0)"],
                 id="no-trials"),
    pytest.param({"name": "short put"}, ["name: 'short put' is not a name: use letters, "
                                         "digits, '_', '-' and '.'"], id="name-with-space"),
    pytest.param({"name": "../up"}, ["name: '../up' is not a name"], id="name-a-path"),
    pytest.param({"name": ".."}, ["name: '..' is not a name"], id="name-dot-dot"),
    pytest.param(
        {"subgrid": {"exit.dte": {"range": [1, 30, 1]}, "exit.max_holding_days": [10, 20, 30],
                     "exit.profit_target": {"linspace": [0.1, 0.9, 200]}}},
        ["subgrid: 18,000 sub-combinations, more than the 10,000 a trial may evaluate; move "
         "paths to space"],
        id="subgrid-too-big",
    ),
    pytest.param(
        {"subgrid": {"exit.dte": {"linspace": [1, 30, 10**12]}}},
        ["subgrid.exit.dte: linspace [1, 30, 1000000000000] makes 1,000,000,000,000 values, "
         "more than the 100,000 an axis may have"],
        id="subgrid-axis-too-long",
    ),
    pytest.param(
        {"sampler": {"kind": "grid"}, "space": space(
            exit__stop_loss={"categorical": [1.0, 2.0]},
            exit__profit_target={"float": [0.0, 1.0], "step": 1e-12})},
        ["sampler.kind: the grid has 2,000,000,000,002 points, more than the 1,000,000 the "
         "grid sampler takes; use a sweep (gridbt sweep) or another sampler"],
        id="grid-sampler-too-many-points",
    ),
    pytest.param({"space": {}}, ["space:", "at least 1 item"], id="empty-space"),
]


@pytest.mark.parametrize(("changes", "fragments"), BAD)
def test_bad_study_file_names_file_field_and_value(
    tmp_path: Path, changes: dict[str, Any], fragments: list[str]
) -> None:
    path = write(tmp_path, study_payload(**changes))
    message = error_of(path)
    assert message.startswith(f"{path}: invalid study file\n"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


# An unknown key is matched against the model it sits in (not the strategy's), inside a
# distribution too, and a rejected value is shown.
HINTS: list[Any] = [
    pytest.param({"trails": 300}, "did you mean 'trials'", id="did-you-mean-top-level"),
    pytest.param({"sampler": {"kind": "tpe", "seeed": 3}}, "did you mean 'seed'",
                 id="did-you-mean-nested"),
    pytest.param({"space": space(exit__profit_target={"float": [0.2, 0.9], "stepp": 0.1})},
                 "did you mean 'step'", id="did-you-mean-in-a-distribution"),
    pytest.param({"space": space(structure__dte__target={"int": [30, 60], "step": 0})},
                 "(got 0)", id="int-step-value-shown"),
]


@pytest.mark.parametrize(("changes", "fragment"), HINTS)
def test_messages_suggest_the_key_and_show_the_value(
    tmp_path: Path, changes: dict[str, Any], fragment: str
) -> None:
    assert fragment in error_of(write(tmp_path, study_payload(**changes)))


def test_missing_strategy_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, study_payload(strategy="../strategies/missing.yaml"))
    message = error_of(path)
    assert message.startswith(f"{path}: strategy: cannot read '../strategies/missing.yaml'")
    assert "No such file" in message


def test_invalid_inline_strategy_is_located_under_strategy(tmp_path: Path) -> None:
    inline = yaml.safe_load(SHORT_PUT.read_text())
    inline["exit"]["stop_loss"] = -1.0
    path = write(tmp_path, study_payload(strategy=inline))
    message = error_of(path)
    assert message.startswith(f"{path}: invalid study file")
    assert "strategy.exit.stop_loss:" in message and "-1.0" in message


def test_unparsable_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nspace: {exit.stop_loss: {float: [1.0, 2.0}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: cannot read study file:")
    assert "line 2" in message


def test_missing_study_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert error_of(path).startswith(f"{path}: cannot read study file:")


def test_a_study_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- name: a\n")
    assert error_of(path).startswith(f"{path}: invalid study file")


def test_study_error_is_a_sweep_error() -> None:
    assert issubclass(StudyError, SweepError) and issubclass(StudyError, ValueError)


def test_a_good_file_loads_with_its_defaults(tmp_path: Path) -> None:
    study, base = load_study(write(tmp_path, study_payload(), "good.yaml"))
    assert isinstance(base, StrategySpec) and base.name == "short_put_30d"
    assert study.sampler_kind == "tpe"
    assert study.pruner_kind == "none"  # no folds to report
    assert [(o.kpi, o.maximize) for o in study.objectives] == [("sharpe", True)]
    assert study.walk_forward is None
    assert (study.trials, study.parallel, study.storage, study.pbo_blocks) == (100, 16, None, 10)
    assert study.sampler.seed == 0 and study.sampler.constant_liar and study.sampler.multivariate
    assert study.resolved_out(tmp_path) == tmp_path / "studies" / "probe"
    dists = study.space
    assert list(dists) == ["structure.legs.0.select.target", "exit.stop_loss"]
    target, stop = dists.values()
    assert isinstance(target, FloatParam) and target.bounds == (0.10, 0.40)
    assert target.step == 0.05 and not target.log
    assert isinstance(stop, CategoricalParam) and stop.categorical == [1.0, 2.0, None]


def test_defaults_with_walk_forward_and_two_objectives(tmp_path: Path) -> None:
    study, _ = load_study(write(tmp_path, study_payload(walk_forward={"folds": 2})))
    assert (study.sampler_kind, study.pruner_kind) == ("tpe", "median")
    assert study.walk_forward is not None
    assert (study.walk_forward.folds, study.walk_forward.scheme) == (2, "anchored")
    assert study.walk_forward.in_sample_segments == 1 and study.walk_forward.gap_days == 0

    study, _ = load_study(write(tmp_path, study_payload(
        objectives=TWO_OBJECTIVES, walk_forward=WALK_FORWARD,
    )))
    assert (study.sampler_kind, study.pruner_kind) == ("nsga2", "none")
    assert [(o.kpi, o.maximize) for o in study.objectives] == [
        ("sharpe", True), ("max_drawdown", False),
    ]


def test_explicit_kinds_win_over_the_defaults(tmp_path: Path) -> None:
    study, _ = load_study(write(tmp_path, study_payload(
        sampler={"kind": "random", "seed": 3}, pruner={"kind": "none"},
        walk_forward=WALK_FORWARD,
    )))
    assert (study.sampler_kind, study.pruner_kind) == ("random", "none")
    study, _ = load_study(write(tmp_path, study_payload(
        objectives=TWO_OBJECTIVES, sampler={"kind": "tpe"},
    )))
    assert study.sampler_kind == "tpe"


def test_when_accepts_one_value_or_a_list(tmp_path: Path) -> None:
    study, _ = load_study(write(tmp_path, study_payload(space=space(
        exit__stop_loss={"categorical": [1.0, 2.0, None]},
        exit__profit_target={"float": [0.2, 0.9], "when": {"exit.stop_loss": None}},
        exit__dte={"int": [7, 21], "when": {"exit.stop_loss": [1.0, 2.0]}},
    ))))
    _, target, dte = study.space.values()
    assert target.when == {"exit.stop_loss": [None]}
    assert dte.when == {"exit.stop_loss": [1.0, 2.0]}


@pytest.mark.parametrize("storage", [
    "sqlite:///studies/a.db", "postgresql://user@host/db", "journal:studies/a.log",
])
def test_good_storage_strings(tmp_path: Path, storage: str) -> None:
    study, _ = load_study(write(tmp_path, study_payload(storage=storage)))
    assert study.storage == storage


def test_spec_is_frozen() -> None:
    study = StudySpec.model_validate(study_payload())
    with pytest.raises(ValueError, match="frozen"):
        study.trials = 5  # type: ignore[misc]


# ---- the ready study files ----------------------------------------------------------------

def test_the_ready_study_files_exist() -> None:
    assert {p.name for p in STUDIES} >= {
        "short_put_tpe.yaml", "iron_condor_pareto.yaml", "demo_study.yaml",
    }


def values_of(dist: Distribution) -> list[Any]:
    """Values a sampler can return: the whole grid when it is discrete, else edges and mid."""
    if isinstance(dist, CategoricalParam):
        return list(dist.categorical)
    if isinstance(dist, IntParam):
        low, high = dist.bounds
        return list(range(low, high + 1, dist.step))
    lo, hi = dist.bounds
    if dist.step is not None:
        n = int(round((hi - lo) / dist.step))
        return [lo + k * dist.step for k in range(n + 1)]  # as Optuna computes them
    mid = math.sqrt(lo * hi) if dist.log else (lo + hi) / 2
    return [lo, mid, hi]


def optuna_distribution(dist: Distribution) -> optuna.distributions.BaseDistribution:
    if isinstance(dist, CategoricalParam):
        return optuna.distributions.CategoricalDistribution(dist.categorical)
    if isinstance(dist, IntParam):
        return optuna.distributions.IntDistribution(*dist.bounds, log=dist.log, step=dist.step)
    return optuna.distributions.FloatDistribution(*dist.bounds, log=dist.log, step=dist.step)


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_ready_study_file_loads_and_names_real_paths(path: Path) -> None:
    study, base = load_study(path)
    assert study.name == path.stem
    payload = base.model_dump(mode="json")
    for dotted in [*study.space, *study.subgrid]:
        get_path(payload, dotted)  # KeyError names the missing part
    for dist in study.space.values():
        for dotted in dist.when:
            get_path(payload, dotted)
    for text in study.constraints:
        compile_constraint(text, lambda p: get_path(payload, p))
    for dist in study.space.values():
        optuna_distribution(dist)  # a step that does not divide the range warns (an error here)


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_ready_study_file_values_make_valid_strategies(path: Path) -> None:
    study, base = load_study(path)
    payload = base.model_dump(mode="json")
    axes = {p: values_of(d) for p, d in study.space.items()}
    axes |= {p: axis_values(p, a) for p, a in study.subgrid.items()}
    for dotted, values in axes.items():  # every value alone
        for value in values:
            StrategySpec.model_validate(apply_assignment(payload, {dotted: value}))
    rng = random.Random(0)
    combos = itertools.islice(itertools.product(*axes.values()), 50)  # the corner ...
    samples = [dict(zip(axes, c, strict=True)) for c in combos]
    samples += [{p: rng.choice(v) for p, v in axes.items()} for _ in range(200)]  # ... and wide
    for assignment in samples:
        StrategySpec.model_validate(apply_assignment(payload, assignment))


def test_short_put_tpe_is_what_it_says() -> None:
    study, base = load_study(REPO / "jobs" / "studies" / "short_put_tpe.yaml")
    assert study.sampler_kind == "tpe" and study.sampler.kind == "tpe"
    assert study.pruner_kind == "median"
    assert [o.kpi for o in study.objectives] == ["sharpe"]
    assert study.walk_forward is not None
    assert (study.walk_forward.folds, study.walk_forward.scheme) == (3, "anchored")
    assert 200 <= study.trials <= 400 and study.subgrid
    dte = study.space["structure.dte.target"]
    assert isinstance(dte, IntParam) and dte.step > 1
    assert base.structure.dte.min <= dte.bounds[0] and dte.bounds[1] <= base.structure.dte.max
    assert None in study.space["exit.stop_loss"].categorical
    assert all(d is None or d < base.structure.dte.min for d in study.subgrid["exit.dte"])


def test_iron_condor_pareto_is_what_it_says() -> None:
    study, _ = load_study(REPO / "jobs" / "studies" / "iron_condor_pareto.yaml")
    assert study.sampler_kind == "nsga2" and study.pruner_kind == "none"
    assert [(o.kpi, o.maximize) for o in study.objectives] == [
        ("sharpe", True), ("max_drawdown", False),
    ]
    assert study.walk_forward is not None and study.walk_forward.scheme == "rolling"
    assert 200 <= study.trials <= 400


def test_demo_study_is_small() -> None:
    study, _ = load_study(REPO / "jobs" / "studies" / "demo_study.yaml")
    assert study.trials <= 64 and study.parallel == 16
    assert study.sampler_kind == "tpe"
    assert study.walk_forward is not None
    assert (study.walk_forward.folds, study.walk_forward.scheme) == (2, "anchored")
    assert list(study.subgrid) == ["exit.dte"]
