"""Runs whose equity curve a sweep did not keep, backtested again on demand.

A sweep keeps the curves of its best `keep_equity` runs only. Any other run is rebuilt from
`sweep.json` (the base strategy) and its row of results (the grid values): the strategy is
validated, encoded, its parameter row checked against the run's `param_hash` (so the kernel
sees exactly what the sweep's did), and the kernel run once on the sweep's chain. The chain is
found by its fingerprint: the sweep's `data` directory, the default chain, or the directory the
packed-chain cache was built from. Results are kept in memory, the last `max_runs` of them;
nothing is written, under the results root or anywhere else.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from gridbt._typing import FloatArray
from gridbt.data.default import default_chain_dir, load_packed
from gridbt.data.pack import PackedChain
from gridbt.data.packcache import chain_dirs_of
from gridbt.kernel.dispatch import run_batch, run_params, windowed
from gridbt.kernel.metrics import N_KPIS
from gridbt.kernel.result import BacktestResult
from gridbt.results.discovery import read_json
from gridbt.results.errors import Unavailable
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.paths import apply_assignment, get_path
from gridbt.strategy.spec import SpecError, StrategySpec

__all__ = ["Recomputed", "Recomputer", "run_spec"]


@dataclass(frozen=True)
class Recomputed:
    """One backtest run again: its strategy, result and chain."""

    spec: StrategySpec
    result: BacktestResult
    packed: PackedChain


def run_spec(base: Mapping[str, Any], params: Mapping[str, Any], name: str) -> StrategySpec:
    """The strategy of a run: `base` (a strategy payload) with the run's grid values; a float
    grid value is given back as an int where the base strategy holds an int (Parquet stores
    every numeric grid column as float64)."""
    assignment = {}
    for path, value in params.items():
        try:
            original = get_path(base, path)
        except KeyError:
            original = None
        if (isinstance(value, float) and value.is_integer() and isinstance(original, int)
                and not isinstance(original, bool)):
            value = int(value)
        assignment[path] = value
    payload = apply_assignment(dict(base), assignment)
    payload["name"] = name
    try:
        return StrategySpec.model_validate(payload)
    except ValidationError as exc:
        raise Unavailable(f"{name}: the run's strategy does not validate: {exc}") from None


class Recomputer:
    """Backtests run again on demand, the last `max_runs` kept in memory; the chains they ran
    on, the last `max_chains` kept mapped."""

    def __init__(self, max_runs: int = 64, max_chains: int = 2):
        self._runs: OrderedDict[tuple[str, ...], Recomputed] = OrderedDict()
        self._chains: OrderedDict[str, PackedChain] = OrderedDict()
        self._max_runs, self._max_chains = max_runs, max_chains
        self._lock = threading.Lock()

    def chain(self, data: str | None, fingerprint: str) -> PackedChain:
        """The packed chain with `fingerprint`, looked for where the run read it."""
        with self._lock:
            if fingerprint in self._chains:
                self._chains.move_to_end(fingerprint)
                return self._chains[fingerprint]
        candidates: list[Path] = []
        if data:
            candidates.append(Path(data))
        else:
            candidates.append(default_chain_dir())
        candidates.extend(chain_dirs_of(fingerprint))
        for chain_dir in candidates:
            manifest = read_json(chain_dir / "manifest.json")
            if manifest is None or manifest.get("fingerprint") != fingerprint:
                continue
            packed = load_packed(chain_dir)
            with self._lock:
                self._chains[fingerprint] = packed
                while len(self._chains) > self._max_chains:
                    self._chains.popitem(last=False)
            return packed
        where = ", ".join(str(c) for c in candidates)
        raise Unavailable(f"the chain with fingerprint {fingerprint} is not at {where}; the run "
                          "cannot be recomputed (import or synthesise that chain again)")

    def batch_kpis(self, specs: Sequence[StrategySpec], data: str | None, fingerprint: str,
                   window: tuple[int, int]) -> FloatArray:
        """The KPI vectors of `specs` backtested over the day `window` alone, in one kernel
        batch (nothing kept)."""
        if not specs:
            return np.empty((0, N_KPIS))
        packed = self.chain(data, fingerprint)
        rows = np.stack([_encoded(spec, packed) for spec in specs])
        return run_batch(packed, windowed(rows, window)).kpis

    def run(self, key: tuple[str, ...], spec: StrategySpec, data: str | None,
            fingerprint: str, param_hash: str | None = None,
            window: tuple[int, int] | None = None) -> Recomputed:
        """Backtest `spec` on the chain (once per `key`), over the day `window` [first, end)
        alone if given; with `param_hash`, first check that the encoded parameters are those
        the run was computed with."""
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
        packed = self.chain(data, fingerprint)
        params = _encoded(spec, packed)
        if param_hash is not None:
            from gridbt.sweep.grid import param_hashes

            found = param_hashes(params[None, :])[0]
            if found != param_hash:
                raise Unavailable(
                    f"run {param_hash}: its strategy now encodes to {found} (another gridbt "
                    "version wrote the sweep); the run cannot be recomputed exactly")
        if window is not None:
            params = windowed(params, window)
        outcome = Recomputed(spec, run_params(packed, params), packed)
        with self._lock:
            self._runs[key] = outcome
            while len(self._runs) > self._max_runs:
                self._runs.popitem(last=False)
        return outcome


def _encoded(spec: StrategySpec, packed: PackedChain) -> FloatArray:
    """`spec`'s kernel parameters on `packed`; Unavailable (naming it) when it cannot be
    encoded there."""
    try:
        return encode_spec(spec, packed)
    except SpecError as exc:
        raise Unavailable(f"{spec.name}: cannot encode the run's strategy: {exc}") from None
