"""The entries file: which structure, which chain, which buckets, which exit rules
(docs/entries.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridbt._inputs import check_chain_dir, check_output_dir
from gridbt._typing import PathLike
from gridbt.strategy.jobfile import load_job_file, resolve_strategy
from gridbt.strategy.spec import (
    ExitConfig,
    SpecError,
    StrategySpec,
)

__all__ = ["MAX_EXIT_RULES", "BucketsConfig", "EntriesError", "EntriesSpec", "check_entries",
           "load_entries", "rule_label"]

#: Exit rules one entries file may compare.
MAX_EXIT_RULES = 16


class EntriesError(SpecError):
    """An entries file that cannot be used; the message names the file, field and value."""


def _increasing(name: str, edges: list[float]) -> None:
    for i in range(1, len(edges)):
        if not edges[i] > edges[i - 1]:
            raise ValueError(
                f"{name}[{i}]: {edges[i]:g} does not exceed {edges[i - 1]:g} (edges increase)"
            )


class BucketsConfig(BaseModel):
    """Bucket edges. DTE buckets are `[e_j, e_j+1)` plus a last one from the last edge to the
    strategy's `structure.dte.max` (inclusive) when the window reaches it; the delta (|delta| of
    leg 0 at entry) or moneyness (leg 0's strike / spot - 1) buckets are `[e_j, e_j+1)` plus a
    last one `[e_k, 1]` (delta) or `[e_k, +inf)` (moneyness). Candidates below the first edge
    are in no bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dte: list[int] = Field(min_length=1, description="DTE edges (calendar days), increasing")
    delta: list[float] | None = Field(
        None, min_length=1, description="|delta| edges of leg 0 at entry, in [0, 1], increasing"
    )
    moneyness: list[float] | None = Field(
        None, min_length=1, description="strike / spot - 1 edges of leg 0 at entry, increasing"
    )

    @model_validator(mode="after")
    def _edges(self) -> BucketsConfig:
        # a model validator, so that messages name the edge: `buckets.dte[1]: ...`
        bad = [(i, e) for i, e in enumerate(self.dte) if e < 0]
        if bad:
            raise ValueError(f"dte[{bad[0][0]}]: {bad[0][1]} is negative")
        _increasing("dte", [float(e) for e in self.dte])
        if self.delta is not None:
            bad_delta = [(i, e) for i, e in enumerate(self.delta) if not 0.0 <= e <= 1.0]
            if bad_delta:
                i, e = bad_delta[0]
                raise ValueError(f"delta[{i}]: {e:g} is not an |delta| in [0, 1]")
            _increasing("delta", self.delta)
        if self.moneyness is not None:
            bad_m = [(i, e) for i, e in enumerate(self.moneyness) if not -1.0 < e]
            if bad_m:
                i, e = bad_m[0]
                raise ValueError(f"moneyness[{i}]: {e:g} is not a strike / spot - 1 above -1")
            _increasing("moneyness", self.moneyness)
        if (self.delta is None) == (self.moneyness is None):
            raise ValueError("give exactly one of delta and moneyness")
        return self

    @property
    def by(self) -> str:
        """`delta` or `moneyness`."""
        return "delta" if self.delta is not None else "moneyness"

    @property
    def strike_edges(self) -> list[float]:
        """The delta or moneyness edges."""
        edges = self.delta if self.delta is not None else self.moneyness
        assert edges is not None
        return edges


class EntriesSpec(BaseModel):
    """Every-candidate-entry statistics of one structure (`gridbt entries FILE`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "entries"
    strategy: str | dict[str, Any] = Field(
        description="strategy file (relative to this file) or inline strategy; its structure, "
        "DTE window, liquidity filters, execution and multiplier are used"
    )
    data: str | None = Field(None, description="chain directory; null = embedded default chain")
    buckets: BucketsConfig
    exits: list[ExitConfig] | None = Field(
        None, min_length=1, max_length=MAX_EXIT_RULES,
        description="exit rules to compare, each an `exit:` section (absent keys off); "
        "null = the strategy's own",
    )
    candidates: bool = Field(
        True, description="also write candidates.parquet, one row per candidate entry"
    )


def rule_label(rule: ExitConfig) -> str:
    """A short name of an exit rule: `pt=0.5 sl=2 dte=7`, or `expiry` when every rule is off."""
    keys = {"profit_target": "pt", "stop_loss": "sl", "dte": "dte", "max_holding_days": "hold",
            "rebalance_days": "rebalance", "delta_breach": "delta"}
    parts = [f"{short}={getattr(rule, key):g}" for key, short in keys.items()
             if getattr(rule, key) is not None]
    if rule.period_unit == "trading" and (rule.max_holding_days or rule.rebalance_days):
        parts.append("trading")
    return " ".join(parts) if parts else "expiry"


def _check_usable(p: Path, spec: EntriesSpec, strategy: StrategySpec) -> None:
    """What the candidates cannot honour is refused, not silently ignored."""
    if strategy.hedge.enabled:
        raise EntriesError(f"{p}: strategy: hedge.enabled: true is not supported (candidate "
                           "outcomes are the options' P&L per contract, unhedged)")
    if strategy.entry.signal.kind != "always":
        raise EntriesError(f"{p}: strategy: entry.signal.kind: {strategy.entry.signal.kind!r} is "
                           "not supported (every day is a candidate day; use the `always` signal)")
    if strategy.structure.legs[0].expiry_group != 0:
        raise EntriesError(f"{p}: strategy: structure.legs[0].expiry_group: 1 is not supported "
                           "(leg 0 anchors the candidates in structure.dte's window; list a "
                           "near-expiry leg first)")
    dte = strategy.structure.dte
    if spec.buckets.dte[0] > dte.max:
        raise EntriesError(f"{p}: buckets.dte[0]: {spec.buckets.dte[0]} is above the strategy's "
                           f"structure.dte.max {dte.max}: no candidate would be in a bucket")


def load_entries(path: PathLike) -> tuple[EntriesSpec, StrategySpec]:
    """Read and validate an entries file and its strategy; raise `EntriesError` if invalid."""
    p = Path(path)
    spec = load_job_file(p, EntriesSpec, "entries file", EntriesError)
    strategy = resolve_strategy(p, spec.strategy, "entries file", EntriesError)
    _check_usable(p, spec, strategy)
    return spec, strategy


def check_entries(
    file: PathLike, out: PathLike | None, data: PathLike | None
) -> tuple[EntriesSpec, StrategySpec, Path, Path | None]:
    """Validate the file, its strategy, the output directory and the chain directory before
    any work; return the spec, the strategy, the output directory and the chain (None = the
    default chain). Raises `EntriesError` or `gridbt._inputs.InputError`."""
    spec, strategy = load_entries(file)
    out_dir = check_output_dir(out if out is not None else Path(spec.name),
                               "--out" if out is not None else f"{file}: name")
    chain: Path | None = None
    if data is not None:
        chain = check_chain_dir(data)
    elif spec.data is not None:
        chain = check_chain_dir(spec.data, f"{file}: data")
    return spec, strategy, out_dir, chain
