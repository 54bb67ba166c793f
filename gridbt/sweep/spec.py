"""The sweep file: a base strategy, a grid over dotted parameter paths, and how to run it.

```yaml
name: short_put_grid
strategy: ../strategies/short_put_30d.yaml     # a path (relative to this file) or a mapping
grid:
  structure.legs.0.select.target: [0.10, 0.20, 0.30]
  structure.dte.target: {range: [30, 60, 15]}  # start, stop, step; stop included
  exit.profit_target: {linspace: [0.25, 0.75, 3]}
  exit.stop_loss: [1.5, 2.0, null]             # null switches the rule off
zip: []                                        # groups of paths that vary together
constraints: ["exit.stop_loss > exit.profit_target"]
objective: sharpe                              # or {kpi: max_drawdown, direction: minimize}
keep_equity: 20                                # top-K equity curves, or "all"
max_combinations: 100000000                    # a bigger grid is refused before any work
engine: auto                                   # auto: trade tables where they apply; day
```
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gridbt._inputs import (
    InputError,
    brief,
    check_chain_dir,
    check_result_dir,
    check_tracking_uri,
)
from gridbt._typing import PathLike
from gridbt.kernel.metrics import METRIC_BY_NAME
from gridbt.runtime.config import RayConfig
from gridbt.strategy.jobfile import load_job_file, resolve_strategy
from gridbt.strategy.spec import (
    SpecError,
    StrategySpec,
    TrackingConfig,
)

__all__ = [
    "ENGINES",
    "LARGE_GRID",
    "MAX_AXIS_VALUES",
    "MAX_COMBINATIONS",
    "NOMINAL_RATE",
    "GridValue",
    "JobName",
    "MlflowConfig",
    "Objective",
    "ObjectiveSetting",
    "SweepError",
    "SweepSpec",
    "axis_count",
    "axis_values",
    "check_actors",
    "check_job_paths",
    "check_engine",
    "cpu_time",
    "load_sweep",
]

GridValue = float | int | str | bool | list[Any] | None

# float steps accumulate error; grid values are rounded to this many decimals
_GRID_DECIMALS = 10
#: Most values one grid axis may have (a list, a range or a linspace); a bigger axis is refused
#: with its count, which is worked out before any value is made.
MAX_AXIS_VALUES = 100_000
#: Default `max_combinations` of a sweep file: a grid with more combinations (counted before
#: constraints and invalid mixes, which can only remove some) is refused unless the file raises
#: the limit.
MAX_COMBINATIONS = 100_000_000
#: A grid with more combinations than this is announced, before any work, with its rough run
#: time (`cpu_time`): about an hour of one CPU.
LARGE_GRID = 3_600_000
#: Combinations one CPU backtests per second on the default chain (ten years), in round figures:
#: `benchmarks/kernel.py` measures 300 (portfolio margin) to 2,500 (a short put) backtests/s
#: per core. Only for the rough time a large grid is announced with.
NOMINAL_RATE = 1_000
_TIME_UNITS = (("CPU-years", 365 * 86400), ("CPU-days", 86400), ("CPU-hours", 3600),
               ("CPU-minutes", 60), ("CPU-seconds", 1))
#: How a sweep's combinations are backtested: `auto` runs each entry group on trade tables where
#: the engine supports its combinations (`gridbt.kernel.tables.fallback_reasons`) and the rest on
#: the day-by-day kernel; `day` runs every combination on the day-by-day kernel.
ENGINES = ("auto", "day")
Engine = Literal["auto", "day"]
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _job_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{brief(name)} is not a name: use letters, digits, '_', '-' and '.', starting with "
            "a letter, a digit or '_' (it names the result directory and the MLflow experiment)"
        )
    return name


#: The name of a sweep or study: one path component (no `/`, no `..`, not hidden).
JobName = Annotated[
    str, AfterValidator(_job_name),
    WithJsonSchema({"type": "string", "pattern": f"^{_NAME.pattern}$",
                    "description": "letters, digits, '_', '-' and '.', starting with a letter, "
                    "a digit or '_'"}),
]


class SweepError(SpecError):
    """A sweep file that cannot be run; the message names the file, field and value."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Objective(_Frozen):
    """The KPI a sweep ranks by, and its direction (default: the KPI's natural one)."""

    kpi: str
    direction: Literal["maximize", "minimize"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"kpi": value} if isinstance(value, str) else value

    @field_validator("kpi")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRIC_BY_NAME:
            raise ValueError(f"{v!r} is not a KPI; one of: {', '.join(METRIC_BY_NAME)}")
        return v

    @property
    def maximize(self) -> bool:
        if self.direction is None:
            return METRIC_BY_NAME[self.kpi].higher_is_better
        return self.direction == "maximize"


# `objective: sharpe` is short for `objective: {kpi: sharpe}`; the schema admits both
OBJECTIVE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "enum": list(METRIC_BY_NAME)},
        {
            "type": "object",
            "properties": {
                "kpi": {"type": "string", "enum": list(METRIC_BY_NAME)},
                "direction": {"anyOf": [{"enum": ["maximize", "minimize"]}, {"type": "null"}]},
            },
            "required": ["kpi"],
            "additionalProperties": False,
        },
    ],
    "description": "KPI to rank by, and its direction (default: the KPI's natural one)",
}
#: An objective as job files write it: a KPI name, or a mapping with its direction.
ObjectiveSetting = Annotated[Objective, WithJsonSchema(OBJECTIVE_SCHEMA)]


class MlflowConfig(TrackingConfig):
    children: int | Literal["all"] | None = Field(
        None, description="child runs to log (top-K by objective); null = keep_equity"
    )


class SweepSpec(_Frozen):
    """A sweep file, validated; `strategy` is resolved to a spec by `load_sweep`."""

    name: JobName
    description: str = ""
    strategy: str | dict[str, Any] = Field(description="strategy file (relative) or inline spec")
    data: str | None = Field(None, description="chain directory; null = embedded default chain")
    grid: dict[str, Any] = Field(min_length=1, description="dotted path -> values")
    zip: list[list[str]] = Field(default_factory=list, description="paths that vary together")
    constraints: list[str] = Field(default_factory=list)
    objective: ObjectiveSetting = Field(
        default_factory=lambda: Objective(kpi="sharpe")
    )
    keep_equity: Annotated[int, Field(ge=0)] | Literal["all"] = 20
    pbo_blocks: int = Field(10, ge=2, le=32, description="time blocks for CSCV (even)")
    out: str | None = Field(None, description="result directory; null = sweeps/<name>")
    max_combinations: int = Field(
        MAX_COMBINATIONS, ge=1, description="a grid with more combinations (counted before "
        "constraints) is refused before any work"
    )
    engine: Engine = Field(
        "auto", description="auto: combinations the trade-table engine supports run on it, one "
        "entry group at a time, the rest on the day-by-day kernel; day: every combination on "
        "the day-by-day kernel (results are the same either way)"
    )
    ray: RayConfig = Field(default_factory=RayConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @field_validator("grid")
    @classmethod
    def _axes(cls, grid: dict[str, Any]) -> dict[str, Any]:
        for path, axis in grid.items():
            axis_count(path, axis)
        return grid

    @field_validator("pbo_blocks")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"{v} is odd; CSCV splits the blocks in halves")
        return v

    @model_validator(mode="after")
    def _zips(self) -> SweepSpec:
        seen: set[str] = set()
        for i, group in enumerate(self.zip):
            if len(group) < 2:
                raise ValueError(f"zip[{i}]: a zip group needs two or more paths")
            lengths = set()
            for path in group:
                if path not in self.grid:
                    raise ValueError(f"zip[{i}]: {path!r} is not a path in grid")
                if path in seen:
                    raise ValueError(f"zip[{i}]: {path!r} is in two zip groups")
                seen.add(path)
                lengths.add(axis_count(path, self.grid[path]))
            if len(lengths) > 1:
                raise ValueError(
                    f"zip[{i}]: zipped paths need the same number of values, got "
                    f"{sorted(lengths)}"
                )
        return self

    @model_validator(mode="after")
    def _size(self) -> SweepSpec:
        counts = self.factor_counts()
        if (n := math.prod(counts)) > self.max_combinations:
            raise ValueError(
                f"grid: {n:,} combinations ({' × '.join(f'{c:,}' for c in counts)}), more than "
                f"max_combinations {self.max_combinations:,}: {cpu_time(n)}. Shrink the grid, "
                f"or raise the limit in the sweep file (max_combinations: {n}) to run it anyway"
            )
        return self

    def factor_counts(self) -> list[int]:
        """Values of each axis, a zip group counted once: the grid's shape before any merge."""
        zipped = {p: g[0] for g in self.zip for p in g}
        return [axis_count(p, axis) for p, axis in self.grid.items() if zipped.get(p, p) == p]

    @property
    def combinations(self) -> int:
        """Combinations of the grid before constraints and invalid mixes (which only remove
        some): the product of `factor_counts`, worked out without making any."""
        return math.prod(self.factor_counts())

    def resolved_out(self, workdir: Path) -> Path:
        return workdir / (self.out or f"sweeps/{self.name}")

    def result_files(self) -> tuple[str, ...]:
        """What makes a directory a sweep's: `sweep.json`."""
        return ("sweep.json",)


def cpu_time(combinations: int) -> str:
    """`roughly 2.8 CPU-hours at ~1,000 combinations/s per CPU`: the order of magnitude of a
    grid's run time, at `NOMINAL_RATE`."""
    seconds = combinations / NOMINAL_RATE
    unit, size = next((u, n) for u, n in _TIME_UNITS if seconds >= n or n == 1)
    amount = f"{seconds / size:,.0f}" if seconds >= 10 * size else f"{seconds / size:.1f}"
    return f"roughly {amount} {unit} at ~{NOMINAL_RATE:,} combinations/s per CPU"


def check_actors(actors: int | None, what: str = "--actors") -> int | None:
    """Return an actor count given outside a job file (`--actors`) if the files' rule for
    `ray.actors` admits it; else raise `gridbt._inputs.InputError` with that rule's message."""
    try:
        RayConfig(actors=actors)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InputError(f"{what}: {error['msg']} (got {brief(actors)})") from None
    return actors


def check_engine(engine: str | None, what: str = "--engine") -> str | None:
    """Return an engine given outside a sweep file (`--engine`) if the files' rule for `engine`
    admits it (None: the file's); else raise `gridbt._inputs.InputError`."""
    if engine is not None and engine not in ENGINES:
        raise InputError(f"{what}: {brief(engine)} is not an engine; one of: "
                         f"{', '.join(ENGINES)}")
    return engine


class _JobFile(Protocol):
    """What `check_job_paths` reads of a sweep or study file."""

    @property
    def data(self) -> str | None: ...

    def resolved_out(self, workdir: Path) -> Path: ...

    def result_files(self) -> tuple[str, ...]: ...

    @property
    def mlflow(self) -> TrackingConfig: ...


def check_job_paths(job: _JobFile, source: PathLike, out: PathLike | None = None,
                    workdir: PathLike | None = None) -> Path:
    """Check where a sweep or study reads and writes, before any work; return its output
    directory.

    The output directory is `out`, else the file's `out` under `workdir` (default: the working
    directory); it must be, or be creatable as, a directory, and be new, empty or the result
    directory of an earlier run of the same kind (`check_result_dir`). The file's chain
    directory must hold a chain, unless it is the default chain. Raises
    `gridbt._inputs.InputError`.
    """
    if out is not None:
        out_dir = check_result_dir(out, job.result_files(), "--out")
    else:
        base_dir = Path(workdir) if workdir is not None else Path.cwd()
        out_dir = check_result_dir(job.resolved_out(base_dir), job.result_files(),
                                   f"{source}: out")
    if job.data is not None:
        check_chain_dir(job.data, f"{source}: data")
    if job.mlflow.enabled:
        check_tracking_uri(job.mlflow.tracking_uri, f"{source}: mlflow.tracking_uri")
    return out_dir


def _number(path: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{path}: {what}: {brief(value)} is not a finite number")
    return float(value)


def _tidy(values: list[float], integral: bool) -> list[GridValue]:
    if integral:
        return [int(round(v)) for v in values]
    return [round(v, _GRID_DECIMALS) for v in values]


def _progression(path: str, axis: dict[str, Any]) -> tuple[int, Callable[[], list[GridValue]]]:
    """The count of a `{range: ...}` or `{linspace: ...}` axis, worked out (and capped) before
    any value is made, and how to make its values."""
    [(kind, spec)] = axis.items()
    if kind == "range":
        if not isinstance(spec, list) or len(spec) != 3:
            raise ValueError(f"{path}: range needs [start, stop, step], got {brief(spec)}")
        start, stop, step = (_number(path, "range", v) for v in spec)
        if step <= 0 or stop < start:
            raise ValueError(f"{path}: range needs step > 0 and stop >= start, got {brief(spec)}")
        steps = (stop - start) / step  # inf when a tiny step overflows it
        count = math.floor(steps + 1e-9) + 1 if math.isfinite(steps) else None
        if count is None or count > MAX_AXIS_VALUES:
            made = "countless" if count is None else f"{count:,}"
            raise ValueError(f"{path}: range {brief(spec)} makes {made} values, more than the "
                             f"{MAX_AXIS_VALUES:,} an axis may have; use a larger step")
        integral = all(isinstance(v, int) for v in spec)
        return count, lambda: _tidy([start + i * step for i in range(count)], integral)
    if not isinstance(spec, list) or len(spec) != 3:
        raise ValueError(f"{path}: linspace needs [start, stop, count], got {brief(spec)}")
    start, stop = (_number(path, "linspace", v) for v in spec[:2])
    n = spec[2]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{path}: linspace count: {brief(n)} is not a positive integer")
    if n > MAX_AXIS_VALUES:
        raise ValueError(f"{path}: linspace {brief(spec)} makes {n:,} values, more than the "
                         f"{MAX_AXIS_VALUES:,} an axis may have; use a smaller count")
    if n == 1:
        return 1, lambda: _tidy([start], False)
    return n, lambda: _tidy([start + (stop - start) * i / (n - 1) for i in range(n)], False)


def axis_count(path: str, axis: Any) -> int:
    """The number of values of one grid axis (see `axis_values`), without making them; raise
    ValueError naming the path for an axis that is not one or has more than
    `MAX_AXIS_VALUES` values."""
    if isinstance(axis, dict):
        if set(axis) in ({"range"}, {"linspace"}):
            return _progression(path, axis)[0]
        raise ValueError(
            f"{path}: {brief(axis)} is not an axis; use a list, {{range: [start, stop, step]}}, "
            "{linspace: [start, stop, count]} or one value"
        )
    values = axis if isinstance(axis, list) else [axis]
    if not values:
        raise ValueError(f"{path}: an axis needs at least one value")
    if len(values) > MAX_AXIS_VALUES:
        raise ValueError(f"{path}: {len(values):,} values, more than the {MAX_AXIS_VALUES:,} an "
                         "axis may have")
    for v in values:
        scalars = v if isinstance(v, list) else [v]
        if not all(x is None or isinstance(x, bool | int | float | str) for x in scalars):
            raise ValueError(
                f"{path}: {brief(v)} is not a number, string, boolean, null or a list of those"
            )
    keys = [repr((type(v).__name__, v)) for v in values]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path}: values repeat in {brief(values)}")
    return len(values)


def axis_values(path: str, axis: Any) -> list[GridValue]:
    """Expand one grid axis into its values, or raise ValueError naming the path.

    An axis is a list of values, `{range: [start, stop, step]}` (stop included when it falls on
    the step), `{linspace: [start, stop, count]}`, or one value (null switches a rule off); it
    has at most `MAX_AXIS_VALUES` values.
    """
    axis_count(path, axis)  # refuses what is not an axis, or has too many values
    if isinstance(axis, dict):
        return _progression(path, axis)[1]()
    return list(axis) if isinstance(axis, list) else [axis]


def load_sweep(path: PathLike) -> tuple[SweepSpec, StrategySpec]:
    """Read and validate a sweep file and its base strategy; raise `SweepError` if invalid."""
    p = Path(path)
    sweep = load_job_file(p, SweepSpec, "sweep file", SweepError)
    return sweep, resolve_strategy(p, sweep.strategy, "sweep file", SweepError)


