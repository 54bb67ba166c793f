"""The study file: a base strategy, a search space over dotted paths, objectives, and how to
search, validate and store.

```yaml
name: short_put_tpe
strategy: ../strategies/short_put_30d.yaml       # a path (relative to this file) or a mapping
space:
  structure.legs.0.select.target: {float: [0.05, 0.40], step: 0.01}
  structure.dte.target: {int: [20, 60], step: 5}
  exit.profit_target: {float: [0.2, 0.9]}
  exit.stop_loss: {categorical: [1.5, 2.0, 3.0, null]}    # null switches the rule off
  exit.max_holding_days: {int: [10, 40], when: {exit.stop_loss: null}}   # only without a stop
subgrid:                                         # cheap paths gridded inside every trial
  exit.dte: [null, 7, 14]
objectives: [sharpe]                             # or [sharpe, {kpi: max_drawdown}]
sampler: {kind: tpe, seed: 7}
walk_forward: {folds: 3, scheme: anchored}
trials: 200
```
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gridbt._inputs import brief
from gridbt._typing import PathLike
from gridbt.runtime.config import RayConfig
from gridbt.strategy.jobfile import load_job_file, resolve_strategy
from gridbt.strategy.spec import StrategySpec, unknown_key
from gridbt.sweep.spec import (
    JobName,
    MlflowConfig,
    Objective,
    ObjectiveSetting,
    SweepError,
    axis_count,
)

__all__ = [
    "MAX_GRID_POINTS",
    "MAX_SUBGRID",
    "CategoricalParam",
    "Distribution",
    "FloatParam",
    "IntParam",
    "PrunerConfig",
    "SamplerConfig",
    "StudyError",
    "StudySpec",
    "WalkForward",
    "load_study",
]

Scalar = float | int | str | bool | None
#: Most sub-combinations a study's `subgrid` may have: every trial evaluates (and the driver
#: holds the kernel rows of) all of them, for each of the `parallel` trials of a round.
MAX_SUBGRID = 10_000
#: Most points of the `grid` sampler's grid: Optuna lists them all up front, and asks them one
#: trial at a time; a sweep is the tool for more.
MAX_GRID_POINTS = 1_000_000


class StudyError(SweepError):
    """A study file that cannot be run; the message names the file, field and value."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _when_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
    return value


_WHEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [{"type": ["number", "string", "boolean", "null"]},
                  {"type": "array", "items": {"type": ["number", "string", "boolean", "null"]}}],
    },
}


class _Param(_Frozen):
    when: Annotated[dict[str, list[Scalar]], WithJsonSchema(_WHEN_SCHEMA)] = Field(
        default_factory=dict,
        description="sample this path only when each named (categorical) path took one of the "
        "listed values; otherwise it keeps the base strategy's value",
    )

    _when = field_validator("when", mode="before")(_when_values)


class FloatParam(_Param):
    """A float in [low, high]; `step` makes it discrete, `log` samples on a log scale."""

    bounds: tuple[float, float] = Field(alias="float", description="[low, high]")
    step: float | None = Field(None, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"float: needs low < high, got {list(self.bounds)}")
        if self.log and low <= 0:
            raise ValueError(f"log: needs low > 0, got {low}")
        if self.log and self.step is not None:
            raise ValueError("step and log cannot be combined")
        return self


class IntParam(_Param):
    """An integer in [low, high] (both included), every `step`."""

    bounds: tuple[int, int] = Field(alias="int", description="[low, high], both included")
    step: int = Field(1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"int: needs low < high, got {list(self.bounds)}")
        if self.log and (low < 1 or self.step != 1):
            raise ValueError("log: needs low >= 1 and step 1")
        return self


class CategoricalParam(_Param):
    """One of a list of values (numbers, strings, booleans, null = rule off)."""

    categorical: list[Scalar] = Field(min_length=1)

    @field_validator("categorical")
    @classmethod
    def _distinct(cls, values: list[Scalar]) -> list[Scalar]:
        keys = [repr((type(v).__name__, v)) for v in values]
        if len(set(keys)) != len(keys):
            raise ValueError(f"values repeat in {brief(values)}")
        return values


Distribution = FloatParam | IntParam | CategoricalParam
_KINDS: dict[str, type[_Param]] = {
    "float": FloatParam, "int": IntParam, "categorical": CategoricalParam,
}
_DISTRIBUTION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        FloatParam.model_json_schema(), IntParam.model_json_schema(),
        CategoricalParam.model_json_schema(),
    ],
    "description": "{float: [low, high]}, {int: [low, high]} or {categorical: [values]}",
}


def _distribution(path: str, value: Any) -> Distribution:
    """Pick the distribution model by its key, so an error names one model, not three."""
    kinds = [k for k in _KINDS if isinstance(value, dict) and k in value]
    if len(kinds) != 1:
        raise ValueError(
            f"{brief(value)} is not a distribution; use {{float: [low, high]}}, "
            "{int: [low, high]} or {categorical: [values]}"
        )
    model = _KINDS[kinds[0]]
    try:
        parsed = model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            allowed = [str(f.alias or n) for n, f in model.model_fields.items()]
            message = unknown_key(str(first["loc"][-1]), allowed)
        elif first["loc"] and not isinstance(first["input"], dict):
            message += f" (got {brief(first['input'])})"
        raise ValueError(f"{where + ': ' if where else ''}{message}") from None
    assert isinstance(parsed, FloatParam | IntParam | CategoricalParam)
    return parsed


class SamplerConfig(_Frozen):
    kind: Literal["tpe", "cmaes", "nsga2", "gp", "random", "grid"] | None = Field(
        None, description="null = tpe for one objective, nsga2 for several"
    )
    seed: int = 0
    startup_trials: int | None = Field(
        None, ge=0, description="random trials before the model is used; null = sampler default"
    )
    population: int | None = Field(None, ge=2, description="nsga2 / cmaes population size")
    constant_liar: bool = Field(
        True, description="tpe: treat running trials as bad, so a batch spreads out"
    )
    multivariate: bool = Field(True, description="tpe: model the parameters jointly")


class PrunerConfig(_Frozen):
    kind: Literal["median", "percentile", "successive_halving", "hyperband", "none"] | None = (
        Field(None, description="null = median with walk-forward folds, none otherwise")
    )
    startup_trials: int = Field(5, ge=0, description="trials that finish before pruning starts")
    warmup_steps: int = Field(0, ge=0, description="folds reported before a trial can be pruned")
    percentile: float = Field(25.0, gt=0, lt=100, description="percentile pruner: keep above")


class WalkForward(_Frozen):
    """Folds over the chain's trading days, cut into `folds + in_sample_segments` equal
    segments. Fold k (1-based) is tested out of sample on segment `in_sample_segments + k - 1`
    after being fitted in sample on the segments before it: all of them (anchored) or the last
    `in_sample_segments` (rolling). `gap_days` trading days between the two are left out."""

    folds: int = Field(3, ge=1, le=50)
    scheme: Literal["anchored", "rolling"] = "anchored"
    in_sample_segments: int = Field(1, ge=1, le=50)
    gap_days: int = Field(0, ge=0, description="embargo between in and out of sample")


class StudySpec(_Frozen):
    """A study file, validated; `strategy` is resolved to a spec by `load_study`."""

    name: JobName
    description: str = ""
    strategy: str | dict[str, Any] = Field(description="strategy file (relative) or inline spec")
    data: str | None = Field(None, description="chain directory; null = embedded default chain")
    space: dict[str, Annotated[Any, WithJsonSchema(_DISTRIBUTION_SCHEMA)]] = Field(
        min_length=1, description="dotted path -> distribution"
    )
    subgrid: dict[str, Any] = Field(
        default_factory=dict,
        description="cheap paths gridded inside each trial (sweep axes); the trial reports "
        "its best sub-combination",
    )
    constraints: list[str] = Field(
        default_factory=list, description="as in sweeps; a trial that breaks one fails"
    )
    objectives: list[ObjectiveSetting] = Field(
        default_factory=lambda: [Objective(kpi="sharpe")], min_length=1, max_length=4
    )
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    walk_forward: WalkForward | None = Field(
        None, description="null = the whole chain is in sample (no out-of-sample result)"
    )
    trials: int = Field(100, ge=1, description="finished trials (pruned and failed count)")
    timeout_seconds: float | None = Field(None, gt=0, description="stop asking after this")
    parallel: int = Field(
        16, ge=1, description="trials asked and evaluated together (fixed, so a seeded study "
        "asks the same trials whatever the actor count)"
    )
    storage: str | None = Field(
        None, description="Optuna storage: null = SQLite file study.db in the result "
        "directory; an RDB URL (sqlite:///, postgresql://, ...) or journal:<path> for a "
        "journal file"
    )
    keep_equity: int = Field(20, ge=1, description="equity curves of the top trials kept")
    pbo_blocks: int = Field(10, ge=2, le=32, description="time blocks for CSCV (even)")
    out: str | None = Field(None, description="result directory; null = studies/<name>")
    ray: RayConfig = Field(default_factory=RayConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @field_validator("space", mode="after")
    @classmethod
    def _distributions(cls, space: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Distribution] = {}
        for path, value in space.items():
            try:
                out[path] = _distribution(path, value)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        return out

    @field_validator("subgrid")
    @classmethod
    def _axes(cls, grid: dict[str, Any]) -> dict[str, Any]:
        size = math.prod(axis_count(path, axis) for path, axis in grid.items())
        if size > MAX_SUBGRID:
            raise ValueError(f"{size:,} sub-combinations, more than the {MAX_SUBGRID:,} a trial "
                             "may evaluate; move paths to space")
        return grid

    @field_validator("pbo_blocks")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"{v} is odd; CSCV splits the blocks in halves")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> StudySpec:
        paths = list(self.space)
        for i, (path, dist) in enumerate(self.space.items()):
            for other, values in dist.when.items():
                if other not in self.space or paths.index(other) >= i:
                    raise ValueError(f"space.{path}.when: {other!r} is not a space path "
                                     "listed before this one")
                parent = self.space[other]
                if not isinstance(parent, CategoricalParam):
                    raise ValueError(f"space.{path}.when: {other!r} is not categorical")
                wrong = [v for v in values if v not in parent.categorical]
                if wrong:
                    raise ValueError(f"space.{path}.when: {brief(wrong)} are not values of "
                                     f"{other!r} ({brief(parent.categorical)})")
        for path in self.subgrid:
            if path in self.space:
                raise ValueError(f"subgrid.{path}: the path is also in space")
        n_obj = len(self.objectives)
        kpis = [o.kpi for o in self.objectives]
        if len(set(kpis)) != n_obj:
            raise ValueError(f"objectives: a KPI repeats in {kpis}")
        if n_obj > 1 and self.subgrid:
            raise ValueError("subgrid: needs a single objective (the best sub-combination "
                             "of several objectives is not defined)")
        kind = self.sampler_kind
        if kind == "cmaes" and n_obj > 1:
            raise ValueError("sampler.kind: cmaes optimizes one objective; use nsga2 or tpe")
        if kind == "grid":
            for path, dist in self.space.items():
                if dist.when:
                    raise ValueError(f"sampler.kind: grid cannot sample conditional paths; "
                                     f"space.{path} has a when")
                if isinstance(dist, FloatParam) and dist.step is None:
                    raise ValueError(f"sampler.kind: grid needs a step on every float; "
                                     f"space.{path} has none")
            points = math.prod(_grid_points(dist) for dist in self.space.values())
            if points > MAX_GRID_POINTS:
                raise ValueError(f"sampler.kind: the grid has {points:,} points, more than the "
                                 f"{MAX_GRID_POINTS:,} the grid sampler takes; use a sweep "
                                 "(gridbt sweep) or another sampler")
        if kind == "gp" and importlib.util.find_spec("torch") is None:
            raise ValueError("sampler.kind: gp needs PyTorch, which is not installed "
                             "(pip install torch), or choose tpe")
        if self.pruner_kind != "none":
            if n_obj > 1:
                raise ValueError("pruner.kind: Optuna cannot prune multi-objective trials; "
                                 "use none")
            if self.walk_forward is None:
                raise ValueError("pruner.kind: pruning needs walk_forward folds to report")
        if self.storage is not None and not (
            self.storage.startswith("journal:") or "://" in self.storage
        ):
            raise ValueError(f"storage: {self.storage!r} is neither an RDB URL "
                             "(sqlite:///path, postgresql://...) nor journal:<path>")
        return self

    @property
    def sampler_kind(self) -> str:
        if self.sampler.kind is not None:
            return self.sampler.kind
        return "tpe" if len(self.objectives) == 1 else "nsga2"

    @property
    def pruner_kind(self) -> str:
        if self.pruner.kind is not None:
            return self.pruner.kind
        return "median" if self.walk_forward is not None and len(self.objectives) == 1 \
            else "none"

    def resolved_out(self, workdir: Path) -> Path:
        return workdir / (self.out or f"studies/{self.name}")

    def result_files(self) -> tuple[str, ...]:
        """What makes a directory a study's: its status, its default storage, its summary."""
        return ("study.json", "study.db", "summary.json")


def _grid_points(dist: Distribution) -> int:
    """Points of one distribution on the grid sampler's grid (`samplers.grid_size`), counted."""
    if isinstance(dist, CategoricalParam):
        return len(dist.categorical)
    if isinstance(dist, IntParam):
        return (dist.bounds[1] - dist.bounds[0]) // dist.step + 1
    assert dist.step is not None  # checked before
    steps = (dist.bounds[1] - dist.bounds[0]) / dist.step
    return int(steps + 1e-9) + 1 if math.isfinite(steps) else MAX_GRID_POINTS + 1


def load_study(path: PathLike) -> tuple[StudySpec, StrategySpec]:
    """Read and validate a study file and its base strategy; raise `StudyError` if invalid."""
    p = Path(path)
    study = load_job_file(p, StudySpec, "study file", StudyError)
    return study, resolve_strategy(p, study.strategy, "study file", StudyError)
