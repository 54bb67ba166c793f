"""Lazy grid expansion straight into kernel parameter rows.

Pydantic validation and encoding cost about as much as a backtest, so they are not done per
combination. Each *factor* (one grid path, or a zipped or merged group of paths) is validated
and encoded once per value; its value then becomes a *patch*, the parameter-vector columns it
sets. A combination's row is the base vector with one patch per factor: numpy work on blocks of
thousands of rows.

That is exact only when factors are independent. Two safeguards make it so:
- paths under a model with a cross-field validator (e.g. `structure`: dte min <= target <= max,
  offset legs) are merged into one factor whose every joint value is validated; joint values
  that do not validate are excluded from the grid and counted;
- every pair of factors is checked: the patches composed must equal the encoding of the joint
  spec (all value pairs, or a seeded sample of 4,096 for larger pairs); a pair that fails is
  merged and checked again.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

import gridbt
from gridbt._bits import equal_bits
from gridbt._typing import FloatArray, IntArray
from gridbt.strategy.encode import FeatureSource, encode_spec
from gridbt.strategy.paths import apply_assignment, get_path, split_path
from gridbt.strategy.spec import SpecError, StrategySpec, format_validation_error
from gridbt.sweep.constraints import Constraint, compile_constraint
from gridbt.sweep.spec import GridValue, SweepError, SweepSpec, axis_values

__all__ = ["Block", "Factor", "Grid", "param_hashes", "same_params"]

_PAIR_SAMPLE = 4096


@dataclass(frozen=True)
class Factor:
    """Paths that vary together, their joint values, and the columns each value sets."""

    paths: tuple[str, ...]
    levels: tuple[tuple[GridValue, ...], ...]
    cols: IntArray
    patch: FloatArray  # (len(levels), len(cols))

    def assignment(self, level: int) -> dict[str, GridValue]:
        return dict(zip(self.paths, self.levels[level], strict=True))


@dataclass(frozen=True)
class Block:
    """Combinations `combo` (grid ids) with their factor levels and parameter rows."""

    combo: IntArray
    levels: IntArray  # (n, n_factors)
    params: FloatArray  # (n, N_PARAMS)

    def __len__(self) -> int:
        return len(self.combo)

    def take(self, keep: np.ndarray) -> Block:
        return Block(self.combo[keep], self.levels[keep], self.params[keep])


def _submodels(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a field annotation (through unions, lists, Annotated)."""
    stack: list[Any] = [annotation]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield ann
        stack.extend(getattr(ann, "__args__", ()))
        if hasattr(ann, "__metadata__"):
            stack.append(getattr(ann, "__origin__", None))


def _validator_scopes(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Paths of sub-models whose model validators read several fields (cross-field rules)."""
    scopes = {prefix} if model.__pydantic_decorators__.model_validators else set()
    for name, field in model.model_fields.items():
        for sub in _submodels(field.annotation):
            scopes |= _validator_scopes(sub, (*prefix, name))
    return scopes


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every field name anywhere in the model tree (to drop pydantic's union tags from locs)."""
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for sub in _submodels(field.annotation):
            names |= _field_names(sub)
    return names


_SCOPES = _validator_scopes(StrategySpec)
_FIELD_NAMES = _field_names(StrategySpec)


def _scope_of(path: str) -> tuple[str, ...] | None:
    names = tuple(p for p in split_path(path) if isinstance(p, str))
    best = None
    for scope in _SCOPES:
        if scope and names[: len(scope)] == scope and (best is None or len(scope) < len(best)):
            best = scope
    return best


def same_params(a: FloatArray, b: FloatArray) -> np.ndarray:
    """Elementwise equality of parameter rows, NaN (a rule switched off) equal to NaN."""
    same: np.ndarray = (a == b) | (np.isnan(a) & np.isnan(b))
    return same


class Grid:
    """The combinations of a sweep: counts, lazy blocks of parameter rows, values and specs."""

    def __init__(
        self, sweep: SweepSpec, base: StrategySpec, features: FeatureSource, source: str = ""
    ):
        self.base = base
        self.source = source or sweep.name
        self._features = features
        self._base_payload = base.model_dump(mode="json")
        for path in sweep.grid:
            self._check_path(path)
        self.base_vector = self._encode(base, {})
        self.paths: tuple[str, ...] = tuple(sweep.grid)
        self.excluded_invalid = 0
        self.first_invalid: str | None = None
        axes = {p: axis_values(p, a) for p, a in sweep.grid.items()}
        self.factors = self._independent_factors(self._initial_groups(sweep, axes))
        self.shape = tuple(len(f.levels) for f in self.factors)
        self.size = math.prod(self.shape)
        self.constraints: tuple[Constraint, ...] = tuple(
            self._compile(text) for text in sweep.constraints
        )
        self._factor_of = {p: (i, f.paths.index(p)) for i, f in enumerate(self.factors)
                           for p in f.paths}

    # ---------------------------------------------------------------- set-up
    def _check_path(self, path: str) -> None:
        try:
            get_path(self._base_payload, path)
        except KeyError as exc:
            raise SweepError(f"{self.source}: grid: {exc.args[0]}") from None

    def _compile(self, text: str) -> Constraint:
        try:
            return compile_constraint(text, lambda p: get_path(self._base_payload, p))
        except ValueError as exc:
            raise SweepError(f"{self.source}: constraints: {exc}") from None

    def _encode(self, spec: StrategySpec, assignment: Mapping[str, Any]) -> FloatArray:
        try:
            return encode_spec(spec, self._features)
        except SpecError as exc:
            where = ", ".join(f"{p}={v!r}" for p, v in assignment.items()) or "base strategy"
            raise SweepError(f"{self.source}: {where}: {exc}") from None

    def _validate(self, assignment: Mapping[str, Any]) -> StrategySpec | ValidationError:
        payload = apply_assignment(self._base_payload, assignment)
        try:
            return StrategySpec.model_validate(payload)
        except ValidationError as exc:
            return exc

    def _initial_groups(
        self, sweep: SweepSpec, axes: dict[str, list[GridValue]]
    ) -> list[tuple[tuple[str, ...], list[tuple[GridValue, ...]]]]:
        groups: list[tuple[tuple[str, ...], list[tuple[GridValue, ...]]]] = []
        zipped = {p: tuple(g) for g in sweep.zip for p in g}
        done: set[str] = set()
        for path in sweep.grid:
            if path in done:
                continue
            members = zipped.get(path, (path,))
            done.update(members)
            groups.append((members, list(zip(*(axes[p] for p in members), strict=True))))
        # groups under one cross-field validator are merged up front (transitively)
        clusters: list[tuple[set[tuple[str, ...]], list[int]]] = []
        for i, (members, _) in enumerate(groups):
            scopes = {s for s in map(_scope_of, members) if s is not None}
            joined = [c for c in clusters if c[0] & scopes]
            for c in joined:
                clusters.remove(c)
            clusters.append((scopes.union(*(c[0] for c in joined)),
                             [j for c in joined for j in c[1]] + [i]))
        merged: list[tuple[tuple[str, ...], list[tuple[GridValue, ...]]]] = []
        for _, indices in sorted(clusters, key=lambda c: min(c[1])):
            if len(indices) == 1:
                merged.append(groups[indices[0]])
            else:
                merged.append(self._product([groups[i] for i in sorted(indices)]))
        return merged

    @staticmethod
    def _product(
        groups: Sequence[tuple[tuple[str, ...], Sequence[tuple[GridValue, ...]]]],
    ) -> tuple[tuple[str, ...], list[tuple[GridValue, ...]]]:
        paths = tuple(p for g in groups for p in g[0])
        levels = [tuple(v for part in combo for v in part)
                  for combo in itertools.product(*(g[1] for g in groups))]
        return paths, levels

    def _field_error(self, exc: ValidationError, paths: tuple[str, ...]) -> bool:
        """Whether the error sits on one of `paths` itself (a bad value, not a bad mix)."""
        wanted = {tuple(split_path(p)) for p in paths}
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, int) or x in _FIELD_NAMES)
            if loc in wanted:
                return True
        return False

    def _factor(
        self, paths: tuple[str, ...], levels: Sequence[tuple[GridValue, ...]]
    ) -> Factor:
        kept: list[tuple[GridValue, ...]] = []
        vectors: list[FloatArray] = []
        for level in levels:
            assignment = dict(zip(paths, level, strict=True))
            spec = self._validate(assignment)
            if isinstance(spec, ValidationError):
                what = ", ".join(f"{p}={v!r}" for p, v in assignment.items())
                message = format_validation_error(spec, f"{self.source}: grid {what}")
                if self._field_error(spec, paths):
                    raise SweepError(message)
                self.first_invalid = self.first_invalid or message
                continue
            kept.append(level)
            vectors.append(self._encode(spec, assignment))
        if not kept:
            raise SweepError(self.first_invalid or f"{self.source}: grid: no valid value")
        matrix = np.stack(vectors)
        changed = ~same_params(matrix, self.base_vector[None, :]).all(axis=0)
        cols = np.flatnonzero(changed).astype(np.int64)
        return Factor(paths, tuple(kept), cols, np.ascontiguousarray(matrix[:, cols]))

    def _independent_factors(
        self, groups: list[tuple[tuple[str, ...], list[tuple[GridValue, ...]]]]
    ) -> list[Factor]:
        full = math.prod(len(levels) for _, levels in groups)
        factors = [self._factor(paths, levels) for paths, levels in groups]
        rng = np.random.default_rng(0)
        i = 0
        while i < len(factors):
            merged = False
            for j in range(i + 1, len(factors)):
                if not self._separable(factors[i], factors[j], rng):
                    a, b = factors[i], factors[j]
                    paths, levels = self._product([(a.paths, a.levels), (b.paths, b.levels)])
                    factors[i] = self._factor(paths, levels)
                    del factors[j]
                    merged = True
                    break
            if not merged:
                i += 1
        self.excluded_invalid = full - math.prod(len(f.levels) for f in factors)
        return factors

    def _separable(self, a: Factor, b: Factor, rng: np.random.Generator) -> bool:
        pairs = [(i, j) for i in range(len(a.levels)) for j in range(len(b.levels))]
        if len(pairs) > _PAIR_SAMPLE:
            pick = rng.choice(len(pairs), _PAIR_SAMPLE, replace=False)
            pairs = [pairs[k] for k in sorted(pick)]
        for i, j in pairs:
            assignment = {**a.assignment(i), **b.assignment(j)}
            spec = self._validate(assignment)
            if isinstance(spec, ValidationError):
                return False
            row = self.base_vector.copy()
            row[a.cols] = a.patch[i]
            row[b.cols] = b.patch[j]
            if not same_params(row, self._encode(spec, assignment)).all():
                return False
        return True

    # ---------------------------------------------------------------- expansion
    def _levels(self, combo: IntArray) -> IntArray:
        if not self.factors:
            return np.zeros((len(combo), 0), np.int64)
        return np.stack(np.unravel_index(combo, self.shape), axis=1).astype(np.int64)

    def _keep(self, levels: IntArray) -> np.ndarray | None:
        """Which of these combinations satisfy every constraint (None: all of them)."""
        if not self.constraints or not len(levels):
            return None
        values = self.values(levels)
        keep = np.ones(len(levels), dtype=bool)
        for constraint in self.constraints:
            reads = {p: values.get(p, self._base_value(p)) for p in constraint.paths}
            keep &= constraint.evaluate(reads, len(levels))
        return keep

    def block(self, lo: int, hi: int) -> Block:
        """Valid combinations among grid ids [lo, hi), constraints applied."""
        combo = np.arange(lo, min(hi, self.size), dtype=np.int64)
        return self._block(combo, self._levels(combo))

    def _block(self, combo: IntArray, levels: IntArray) -> Block:
        keep = self._keep(levels)
        if keep is not None:  # drop before building rows: a row is N_PARAMS floats
            combo, levels = combo[keep], levels[keep]
        params = np.repeat(self.base_vector[None, :], len(combo), axis=0)
        for k, factor in enumerate(self.factors):
            params[:, factor.cols] = factor.patch[levels[:, k]]
        return Block(combo, levels, params)

    def blocks(self, chunk: int = 1 << 16, start: int = 0,
               order: Sequence[int] | None = None) -> Iterator[Block]:
        """The valid combinations, `chunk` grid cells at a time.

        `order` (a permutation of the factors, slowest first) walks the grid with the factors
        nested in that order instead of the file's; combination ids stay the file order's, so
        they do not depend on the walk."""
        if order is None or list(order) == list(range(len(self.factors))):
            for lo in range(start, self.size, chunk):
                yield self.block(lo, lo + chunk)
            return
        if sorted(order) != list(range(len(self.factors))):
            raise ValueError(f"order {list(order)} is not a permutation of the grid's factors")
        shape = tuple(self.shape[k] for k in order)
        back = np.argsort(np.asarray(order))
        for lo in range(start, self.size, chunk):
            position = np.arange(lo, min(lo + chunk, self.size), dtype=np.int64)
            walked = np.stack(np.unravel_index(position, shape), axis=1).astype(np.int64)
            levels = np.ascontiguousarray(walked[:, back])
            combo = np.ravel_multi_index(tuple(levels.T), self.shape).astype(np.int64)
            yield self._block(combo, levels)

    def count(self) -> int:
        """Number of valid combinations (after validity and constraints)."""
        if not self.constraints:
            return self.size
        total = 0
        for lo in range(0, self.size, 1 << 16):  # constraints only: no parameter rows
            keep = self._keep(self._levels(np.arange(lo, min(lo + (1 << 16), self.size))))
            total += int(keep.sum()) if keep is not None else 0
        return total

    def _base_value(self, path: str) -> Any:
        return get_path(self._base_payload, path)

    def path_levels(self) -> dict[str, list[GridValue]]:
        """Every value each path takes somewhere in the grid (None = off)."""
        out: dict[str, list[GridValue]] = {}
        for factor in self.factors:
            for c, path in enumerate(factor.paths):
                out[path] = [level[c] for level in factor.levels]
        return out

    def values(self, levels: IntArray) -> dict[str, np.ndarray]:
        """Per path, the value of each combination (object arrays; None = off)."""
        out: dict[str, np.ndarray] = {}
        for k, factor in enumerate(self.factors):
            table = np.empty((len(factor.levels), len(factor.paths)), dtype=object)
            for i, level in enumerate(factor.levels):
                table[i, :] = level
            for c, path in enumerate(factor.paths):
                out[path] = table[levels[:, k], c]
        return out

    def assignment(self, combo: int) -> dict[str, GridValue]:
        """The grid values of one combination, in the sweep file's path order."""
        levels = np.unravel_index(combo, self.shape)
        merged: dict[str, GridValue] = {}
        for k, factor in enumerate(self.factors):
            merged.update(factor.assignment(int(levels[k])))
        return {p: merged[p] for p in self.paths}

    def spec_of(self, combo: int) -> StrategySpec:
        """The full, validated strategy of one combination (for one-off runs and reports)."""
        assignment = self.assignment(combo)
        spec = self._validate(assignment)
        if isinstance(spec, ValidationError):
            raise SweepError(format_validation_error(spec, f"{self.source}: combo {combo}"))
        return spec.model_copy(update={"name": f"{self.base.name}#{combo}"})


def param_hashes(params: FloatArray) -> list[str]:
    """Stable 16-hex hash of each parameter row (the kernel's whole view of a combination)."""
    rows = equal_bits(params)  # equal work hashes equally
    salt = f"gridbt {gridbt.__version__} {rows.shape[1]}".encode()
    keyed = hashlib.blake2b(digest_size=8, key=salt[:64])  # the key block hashed once
    hashes = []
    for row in rows:  # each row hashed in place (the buffer protocol), not copied to bytes
        h = keyed.copy()
        h.update(row)
        hashes.append(h.hexdigest())
    return hashes
