"""The search space of a study: Optuna suggestions to parameter rows for the kernel.

A trial's values are validated and encoded once (as the sweep's grid encodes one factor
value); the sub-grid of cheap paths is encoded once per study as patches, the columns each
sub-combination sets, and laid over the trial's row. Patches are exact only when the
sub-grid paths do not interact with the trial's values, so every trial's last sub-row is
checked against a full encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from pydantic import ValidationError

from gridbt._typing import FloatArray
from gridbt.optimize.spec import CategoricalParam, FloatParam, IntParam, StudyError, StudySpec
from gridbt.strategy.encode import FeatureSource, encode_spec
from gridbt.strategy.paths import apply_assignment, get_path
from gridbt.strategy.spec import SpecError, StrategySpec, format_validation_error
from gridbt.sweep.constraints import Constraint, compile_constraint
from gridbt.sweep.grid import Grid, same_params
from gridbt.sweep.spec import GridValue, SweepSpec

__all__ = ["Encoded", "SearchSpace"]


@dataclass(frozen=True)
class Encoded:
    """A trial's kernel rows (one per sub-combination), or why it cannot run."""

    rows: FloatArray | None
    error: str | None = None


class SearchSpace:
    """Suggests a trial's values and turns them into kernel parameter rows."""

    def __init__(self, study: StudySpec, base: StrategySpec, features: FeatureSource,
                 source: str):
        self.study, self.base, self.source = study, base, source
        self._features = features
        self._payload = base.model_dump(mode="json")
        for path in [*study.space, *study.subgrid]:
            try:
                get_path(self._payload, path)
            except KeyError as exc:
                where = "space" if path in study.space else "subgrid"
                raise StudyError(f"{source}: {where}: {exc.args[0]}") from None
        self.constraints: tuple[Constraint, ...] = tuple(
            self._compile(text) for text in study.constraints
        )
        self._sub: Grid | None = None
        if study.subgrid:
            sweep = SweepSpec(name=study.name, strategy="-", grid=dict(study.subgrid))
            self._sub = Grid(sweep, base, features, source)
            block = self._sub.block(0, self._sub.size)
            self._sub_combos = block.combo
            self._sub_cols = np.unique(np.concatenate([f.cols for f in self._sub.factors]))
            self._sub_patch = np.ascontiguousarray(block.params[:, self._sub_cols])

    def _compile(self, text: str) -> Constraint:
        try:
            return compile_constraint(text, lambda p: get_path(self._payload, p))
        except ValueError as exc:
            raise StudyError(f"{self.source}: constraints: {exc}") from None

    @property
    def sub_size(self) -> int:
        return 1 if self._sub is None else len(self._sub_combos)

    def sub_assignment(self, row: int) -> dict[str, GridValue]:
        """The sub-grid values of sub-row `row` ({} without a sub-grid)."""
        if self._sub is None:
            return {}
        return self._sub.assignment(int(self._sub_combos[row]))

    # ------------------------------------------------------------ suggestions
    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Ask the trial for every active path (define-by-run: `when` reads earlier values)."""
        values: dict[str, Any] = {}
        for path, dist in self.study.space.items():
            if any(values.get(other, _UNSET) not in allowed
                   for other, allowed in dist.when.items()):
                continue
            values[path] = _suggest(trial, path, dist)
        return values

    # ------------------------------------------------------------ encoding
    def _spec(self, assignment: Mapping[str, Any]) -> StrategySpec | str:
        payload = apply_assignment(self._payload, assignment)
        try:
            return StrategySpec.model_validate(payload)
        except ValidationError as exc:
            return format_validation_error(exc, "", "strategy").replace("\n  ", " ")

    def _vector(self, assignment: Mapping[str, Any]) -> FloatArray | str:
        spec = self._spec(assignment)
        if isinstance(spec, str):
            return spec
        try:
            return encode_spec(spec, self._features)
        except SpecError as exc:
            return str(exc)

    def broken_constraint(self, values: Mapping[str, Any]) -> str | None:
        for constraint in self.constraints:
            reads = {p: np.array([values.get(p, get_path(self._payload, p))], dtype=object)
                     for p in constraint.paths}
            if not bool(constraint.evaluate(reads, 1)[0]):
                return constraint.text
        return None

    def encode(self, values: Mapping[str, Any]) -> Encoded:
        """The kernel rows of a trial; an invalid combination is an `Encoded` with an error."""
        broken = self.broken_constraint(values)
        if broken is not None:
            return Encoded(None, f"breaks constraint {broken!r}")
        vector = self._vector(values)
        if isinstance(vector, str):
            return Encoded(None, vector)
        if self._sub is None:
            return Encoded(vector[None, :])
        rows = np.repeat(vector[None, :], self.sub_size, axis=0)
        rows[:, self._sub_cols] = self._sub_patch
        last = self.sub_size - 1
        joint = self._vector({**values, **self.sub_assignment(last)})
        if isinstance(joint, str):
            return Encoded(None, joint)
        if not same_params(rows[last], joint).all():
            raise StudyError(
                f"{self.source}: subgrid: {', '.join(self.study.subgrid)} interact with the "
                f"trial's values {dict(values)!r}; move those paths into space"
            )
        return Encoded(rows)


_UNSET = object()


def _suggest(trial: optuna.trial.BaseTrial, path: str,
             dist: FloatParam | IntParam | CategoricalParam) -> Any:
    if isinstance(dist, FloatParam):
        low, high = dist.bounds
        value = trial.suggest_float(path, low, high, step=dist.step, log=dist.log)
        return round(value, 10) if dist.step is not None else value
    if isinstance(dist, IntParam):
        low, high = dist.bounds
        return trial.suggest_int(path, low, high, step=dist.step, log=dist.log)
    return trial.suggest_categorical(path, dist.categorical)
