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
```
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gridbt._inputs import check_chain_dir, check_result_dir, describe_yaml_error
from gridbt._typing import PathLike
from gridbt.kernel.metrics import METRIC_BY_NAME
from gridbt.runtime.config import RayConfig
from gridbt.strategy.spec import SpecError, StrategySpec, format_validation_error, parse_strategy

__all__ = [
    "GridValue",
    "MlflowConfig",
    "Objective",
    "ObjectiveSetting",
    "SweepError",
    "SweepSpec",
    "axis_values",
    "check_job_paths",
    "load_sweep",
    "resolve_strategy",
]

GridValue = float | int | str | bool | list[Any] | None

# float steps accumulate error; grid values are rounded to this many decimals
_GRID_DECIMALS = 10


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


class MlflowConfig(_Frozen):
    enabled: bool = True
    tracking_uri: str | None = Field(None, description="null = SQLite store in the working dir")
    experiment: str | None = Field(None, description="null = the sweep's name")
    children: int | Literal["all"] | None = Field(
        None, description="child runs to log (top-K by objective); null = keep_equity"
    )


class SweepSpec(_Frozen):
    """A sweep file, validated; `strategy` is resolved to a spec by `load_sweep`."""

    name: str
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
    ray: RayConfig = Field(default_factory=RayConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @field_validator("grid")
    @classmethod
    def _axes(cls, grid: dict[str, Any]) -> dict[str, Any]:
        for path, axis in grid.items():
            axis_values(path, axis)
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
                lengths.add(len(axis_values(path, self.grid[path])))
            if len(lengths) > 1:
                raise ValueError(
                    f"zip[{i}]: zipped paths need the same number of values, got "
                    f"{sorted(lengths)}"
                )
        return self

    def resolved_out(self, workdir: Path) -> Path:
        return workdir / (self.out or f"sweeps/{self.name}")

    def result_files(self) -> tuple[str, ...]:
        """What makes a directory a sweep's: `sweep.json`."""
        return ("sweep.json",)


class _JobFile(Protocol):
    """What `check_job_paths` reads of a sweep or study file."""

    @property
    def data(self) -> str | None: ...

    def resolved_out(self, workdir: Path) -> Path: ...

    def result_files(self) -> tuple[str, ...]: ...


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
    return out_dir


class _InlineStrategy(BaseModel):
    """Validates an inline strategy so that errors are located under `strategy.`."""

    strategy: StrategySpec


def _number(path: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{path}: {what}: {value!r} is not a finite number")
    return float(value)


def _tidy(values: list[float], integral: bool) -> list[GridValue]:
    if integral:
        return [int(round(v)) for v in values]
    return [round(v, _GRID_DECIMALS) for v in values]


def axis_values(path: str, axis: Any) -> list[GridValue]:
    """Expand one grid axis into its values, or raise ValueError naming the path.

    An axis is a list of values, `{range: [start, stop, step]}` (stop included when it falls on
    the step), `{linspace: [start, stop, count]}`, or one value (null switches a rule off).
    """
    if isinstance(axis, dict):
        if set(axis) == {"range"}:
            spec = axis["range"]
            if not isinstance(spec, list) or len(spec) != 3:
                raise ValueError(f"{path}: range needs [start, stop, step], got {spec!r}")
            start, stop, step = (_number(path, "range", v) for v in spec)
            if step <= 0 or stop < start:
                raise ValueError(
                    f"{path}: range needs step > 0 and stop >= start, got {spec!r}"
                )
            count = math.floor((stop - start) / step + 1e-9) + 1
            integral = all(isinstance(v, int) for v in spec)
            return _tidy([start + i * step for i in range(count)], integral)
        if set(axis) == {"linspace"}:
            spec = axis["linspace"]
            if not isinstance(spec, list) or len(spec) != 3:
                raise ValueError(f"{path}: linspace needs [start, stop, count], got {spec!r}")
            start, stop = (_number(path, "linspace", v) for v in spec[:2])
            count = spec[2]
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"{path}: linspace count: {count!r} is not a positive integer")
            if count == 1:
                return _tidy([start], False)
            return _tidy([start + (stop - start) * i / (count - 1) for i in range(count)], False)
        raise ValueError(
            f"{path}: {axis!r} is not an axis; use a list, {{range: [start, stop, step]}}, "
            "{linspace: [start, stop, count]} or one value"
        )
    values = axis if isinstance(axis, list) else [axis]
    if not values:
        raise ValueError(f"{path}: an axis needs at least one value")
    for v in values:
        scalars = v if isinstance(v, list) else [v]
        if not all(x is None or isinstance(x, bool | int | float | str) for x in scalars):
            raise ValueError(
                f"{path}: {v!r} is not a number, string, boolean, null or a list of those"
            )
    keys = [repr((type(v).__name__, v)) for v in values]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path}: values repeat in {values!r}")
    return list(values)


def load_sweep(path: PathLike) -> tuple[SweepSpec, StrategySpec]:
    """Read and validate a sweep file and its base strategy; raise `SweepError` if invalid."""
    p = Path(path)
    try:
        payload = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise SweepError(f"{p}: cannot read sweep file: {exc}") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{p}: cannot read sweep file: {describe_yaml_error(exc)}") from None
    try:
        sweep = SweepSpec.model_validate(payload)
    except ValidationError as exc:
        raise SweepError(format_validation_error(exc, str(p), "sweep file", SweepSpec)) from None
    return sweep, resolve_strategy(p, sweep.strategy, "sweep file", SweepError)


def resolve_strategy(
    p: Path, strategy: str | dict[str, Any], what: str, error: type[SpecError]
) -> StrategySpec:
    """The base strategy of a job file: inline, or a file relative to the job file."""
    if isinstance(strategy, dict):
        try:
            inline = _InlineStrategy.model_validate({"strategy": strategy})
        except ValidationError as exc:
            raise error(format_validation_error(exc, str(p), what, _InlineStrategy)) from None
        return inline.strategy
    strategy_path = (p.parent / strategy).resolve()
    try:
        text = strategy_path.read_text()
        return parse_strategy(yaml.safe_load(text), str(strategy_path))
    except OSError as exc:
        raise error(f"{p}: strategy: cannot read {strategy!r}: {exc}") from None
    except yaml.YAMLError as exc:
        problem = describe_yaml_error(exc)
        raise error(f"{strategy_path}: cannot read strategy file: {problem}") from None
