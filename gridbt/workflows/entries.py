"""`gridbt entries FILE`: every candidate entry of a structure and its outcome per exit rule,
bucketed by DTE and delta (or moneyness); writes `entries.parquet` and, unless the file turns
it off, `candidates.parquet` (docs/entries.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from gridbt._atomic import write_parquet_atomic
from gridbt._typing import PathLike
from gridbt.data.default import ensure_synthetic_chain, load_packed
from gridbt.entries.engine import find_candidates
from gridbt.entries.spec import EntriesSpec, check_entries, rule_label
from gridbt.entries.stats import candidates_table, entries_table
from gridbt.strategy.spec import StrategySpec

__all__ = ["CANDIDATES_FILE", "ENTRIES_FILE", "EntriesOutcome", "run_entries"]

ENTRIES_FILE = "entries.parquet"
CANDIDATES_FILE = "candidates.parquet"


@dataclass(frozen=True)
class EntriesOutcome:
    """What `run_entries` computed and wrote."""

    spec: EntriesSpec
    strategy: StrategySpec
    table: pa.Table  # entries.parquet
    candidates: int
    days: int
    seconds: float  # finding and walking the candidates (the kernels), wall clock
    cpu_seconds: float  # the same, CPU time of this process
    files: dict[str, Path]


def run_entries(
    file: PathLike, out: PathLike | None = None, data: PathLike | None = None, *,
    threads: int = 1,
) -> EntriesOutcome:
    """Run `gridbt entries FILE`: find every candidate entry over the chain (`--data`, else the
    file's `data`, else the default chain), walk each under every exit rule, and write the
    tables into `out` (default: `./<name>`), each under a temporary name renamed into place.
    `threads` walk the candidates in as many ranges at once."""
    spec, strategy, out_dir, chain = check_entries(file, out, data)
    chain_dir = chain if chain is not None else ensure_synthetic_chain()[0]
    packed = load_packed(chain_dir)
    rules = list(spec.exits) if spec.exits is not None else [strategy.exit]
    labels = _unique([rule_label(rule) for rule in rules])
    started, cpu_started = time.perf_counter(), time.process_time()
    candidates = find_candidates(packed, strategy, rules, threads=threads)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    table = entries_table(packed, candidates, spec.buckets, strategy.structure.dte.max, labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"entries": out_dir / ENTRIES_FILE}
    write_parquet_atomic(files["entries"], table)
    if spec.candidates:
        files["candidates"] = out_dir / CANDIDATES_FILE
        write_parquet_atomic(files["candidates"], candidates_table(packed, candidates, labels))
    else:
        (out_dir / CANDIDATES_FILE).unlink(missing_ok=True)  # the folder holds this run's files
    return EntriesOutcome(spec=spec, strategy=strategy, table=table, candidates=candidates.count,
                          days=packed.n_days, seconds=seconds, cpu_seconds=cpu_seconds,
                          files=files)


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique with `#2`, `#3` where two rules read alike."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out
