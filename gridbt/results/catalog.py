"""The catalog of a results root: every sweep, study and backtest under it, and every query the
API serves over them.

`Catalog(root)` discovers the result directories by their manifests (`results.discovery`),
rescanning at most every `rescan_seconds`, and answers with the typed objects of
`results.models`. It only reads: result files under the root, the chains runs were computed on
(to recompute a run whose curve was not kept), and Optuna's SQLite storage of a study, opened
read-only. Every file it opens under the root is checked to be a regular file whose real path
stays under the root.
"""

from __future__ import annotations

import datetime as dt
import math
import shlex
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

import gridbt
from gridbt._lock import LOCK_NAME, lock_state
from gridbt._typing import PathLike
from gridbt.data.pack import PackedChain
from gridbt.kernel.enums import SkipReason
from gridbt.kernel.metrics import KPI_INDEX, KPI_NAMES, METRIC_BY_NAME, METRICS
from gridbt.results.discovery import (
    Entry,
    Kind,
    ManifestCache,
    discover,
    inside,
    read_json,
    safe_file,
)
from gridbt.results.errors import NotFound, QueryError, Unavailable
from gridbt.results.models import (
    Aggregate,
    BacktestDetail,
    BacktestItem,
    BestRun,
    Distribution,
    Equity,
    GridAxis,
    Health,
    Heatmap,
    MetricInfo,
    Payoff,
    Robustness,
    RunDetail,
    RunsPage,
    Slices,
    SpanKpis,
    Stability,
    StudyAfter,
    StudyDetail,
    StudyItem,
    SweepDetail,
    SweepEngines,
    SweepItem,
    Trades,
    Trial,
    TrialAfter,
    TrialDetail,
    TrialSpans,
)
from gridbt.results.plots import finite_or_none, plain
from gridbt.results.recompute import Recomputed, Recomputer, run_spec
from gridbt.results.runs import RunStore, SweepRuns
from gridbt.results.series import chain_columns, check_points, equity_of, trades_of
from gridbt.strategy.spec import StrategySpec
from gridbt.strategy.summary import BacktestSummary

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_AFTER_TRIALS", "MAX_BINS", "Catalog", "State"]

#: (status, done, valid, failed, manifest mtime) of an entry, for change events.
State = tuple[str | None, int | None, int | None, int | None, int]
_MAX_TOP = 50
#: most bins of a distribution's histogram
MAX_BINS = 200
_FORCED_RESCAN_SECONDS = 0.2
_RUNNING_STATISTICS_SECONDS = 30.0
#: statuses a manifest says while its run is at work; true only while its process lives
_AT_WORK = frozenset({"running", "grid-done"})


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="seconds")


#: the most trials `study_after` backtests after the in-sample span in one request
MAX_AFTER_TRIALS = 1_000


def _span_dates(packed: PackedChain, first: int, end: int) -> tuple[str, str]:
    """The first and last date of the chain's days [first, end)."""
    dates = packed.day_date[[first, end - 1]].astype("datetime64[D]").astype(str)
    return str(dates[0]), str(dates[1])


def _float(value: Any) -> float | None:
    return finite_or_none(value) if isinstance(value, int | float) else None


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else default


class _FileCache:
    """Values computed from one file, recomputed when its size or mtime changes (or those of
    the files `also` names, e.g. an SQLite database's write-ahead log)."""

    def __init__(self, size: int = 512) -> None:
        self._items: dict[tuple[str, str], tuple[tuple[int, ...], Any]] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, path: Path, what: str, make: Any, also: Sequence[Path] = ()) -> Any:
        try:
            stat = path.stat()
        except OSError:
            raise NotFound(f"{path.name}: not there") from None
        version: tuple[int, ...] = (stat.st_mtime_ns, stat.st_size)
        for other in also:
            try:
                more = other.stat()
                version += (more.st_mtime_ns, more.st_size)
            except OSError:
                version += (0, -1)
        key = (str(path), what)
        with self._lock:
            cached = self._items.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        value = make(path)
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[key] = (version, value)
        return value


@dataclass(frozen=True)
class _StudyFiles:
    """A study directory's manifests: `summary.json` (written when it finishes) and
    `study.json` (when a run starts, and its status when it ends); `live` when a run started
    since it last finished."""

    summary: dict[str, Any] | None
    start: dict[str, Any] | None
    live: bool
    mtime_ns: int


@dataclass
class _Stored:
    """A finished trial as a study's storage holds it."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    values: dict[int, float | None] = field(default_factory=dict)  # by objective
    attributes: dict[str, Any] = field(default_factory=dict)  # gridbt's user attributes

    def space_values(self) -> dict[str, Any]:
        result = self.attributes.get("gridbt.result")
        values = (result.get("values") if isinstance(result, dict)
                  else self.attributes.get("gridbt.values"))
        return dict(values) if isinstance(values, dict) else {}

    def fold_values(self, kpi: str) -> list[float | None]:
        result = self.attributes.get("gridbt.result")
        folds = result.get("folds", []) if isinstance(result, dict) else []
        return [_float(f.get(kpi)) if isinstance(f, dict) else None for f in folds]


class Catalog:
    """The sweeps, studies and backtests under `root`, read-only.

    Entries are discovered again at most every `rescan_seconds` (and whenever an unknown id is
    asked for); a sweep's result files are listed again at most every `refresh_seconds`. The
    runs of the last `max_sweep_tables` sweeps queried are kept in DuckDB, and the last
    `recompute_runs` recomputed runs in memory.
    """

    def __init__(self, root: PathLike, *, rescan_seconds: float = 2.0,
                 refresh_seconds: float = 0.5, recompute_runs: int = 64,
                 max_sweep_tables: int = 8):
        path = Path(root).resolve()
        if not path.is_dir():
            raise NotADirectoryError(f"{root}: not a directory")
        self.root = path
        self.rescan_seconds = rescan_seconds
        self._scanned = -math.inf
        self._entries: dict[Kind, dict[str, Entry]] = {"sweep": {}, "study": {}, "backtest": {}}
        self._manifests = ManifestCache()
        self._scan_lock = threading.Lock()
        self._files = _FileCache()
        self._store: RunStore | None = None
        self._store_lock = threading.Lock()
        self._max_sweep_tables = max_sweep_tables
        self._refresh_seconds = refresh_seconds
        self._recompute = Recomputer(max_runs=recompute_runs)
        self._statistics: dict[Path, tuple[float, dict[str, float | None]]] = {}

    # ------------------------------------------------------------------ discovery
    def rescan(self, force: bool = False) -> None:
        """Discover the entries again if the last scan is older than `rescan_seconds` (with
        `force`, than 0.2 s: requests for unknown ids cannot make it walk the root at will)."""
        wait = min(self.rescan_seconds, _FORCED_RESCAN_SECONDS) if force else self.rescan_seconds
        if time.monotonic() - self._scanned < wait:
            return
        with self._scan_lock:
            if time.monotonic() - self._scanned < wait:
                return
            entries: dict[Kind, dict[str, Entry]] = {"sweep": {}, "study": {}, "backtest": {}}
            for entry in discover(self.root, cache=self._manifests):
                entries[entry.kind][entry.id] = entry
            self._entries = entries
            self._scanned = time.monotonic()

    def entries(self, kind: Kind) -> list[Entry]:
        self.rescan()
        return list(self._entries[kind].values())

    def _entry(self, kind: Kind, entry_id: str) -> Entry:
        self.rescan()
        entry = self._entries[kind].get(entry_id)
        if entry is None:
            self.rescan(force=True)  # it may have just appeared
            entry = self._entries[kind].get(entry_id)
        if entry is None:
            raise NotFound(f"no {kind} {entry_id!r} under the root")
        return entry

    def _json(self, entry: Entry) -> dict[str, Any]:
        payload = self._files.get(entry.manifest, "json", read_json)
        if payload is None:
            raise NotFound(f"{entry.rel}: its manifest cannot be read")
        return dict(payload)

    def _file(self, entry: Entry, *parts: str) -> Path | None:
        if any(p in ("", ".", "..") or "/" in p or "\\" in p for p in parts):
            return None
        return safe_file(entry.path.joinpath(*parts[:-1]), parts[-1], self.root)

    @staticmethod
    def _status(entry: Entry, written: str, resume: str) -> tuple[str, str | None]:
        """The status a manifest says, and a hint: one that says a run is at work (`running`,
        or a sweep's `grid-done` while it finishes) is true only while a process holds the
        directory's lock (`gridbt._lock.lock_state`, read-only); else it is `interrupted`,
        and the hint is the command that continues it (`resume` if no lock names one)."""
        if written not in _AT_WORK:
            return written, None
        state = lock_state(entry.path)
        owner = state.owner
        if state.held:
            if owner is None:
                return "running", "run by a process its lock file does not name (yet)"
            hint = f"run by {owner.describe()}"
            if owner.host != socket.gethostname():
                hint += (f"; on another host than this server's, so whether it still runs "
                         f"cannot be told from here (its lock is {entry.rel}/{LOCK_NAME})")
            return "running", hint
        gone = ""
        if owner is not None:
            gone = f" (the last, PID {owner.pid} on host {owner.host}, is gone)"
            try:
                command = shlex.split(owner.command)
            except ValueError:
                command = []
            if command and command[0] in ("cli.py", "__main__.py"):
                command[0] = "gridbt"  # it ran as python -m gridbt.cli
            if command[:1] == ["gridbt"]:
                resume = shlex.join([*command, *([] if "--resume" in command
                                                 else ["--resume"])])
        return "interrupted", f"no process runs it{gone}; `{resume}` continues it"

    def health(self) -> Health:
        self.rescan()
        return Health(version=gridbt.__version__, root=str(self.root),
                      sweeps=len(self._entries["sweep"]), studies=len(self._entries["study"]),
                      backtests=len(self._entries["backtest"]))

    # ------------------------------------------------------------------ sweeps
    def _runs(self, entry: Entry, manifest: dict[str, Any]) -> SweepRuns:
        with self._store_lock:
            if self._store is None:
                self._store = RunStore(self._max_sweep_tables,
                                       refresh_seconds=self._refresh_seconds)
        grid = manifest.get("sweep", {}).get("grid", {})
        return self._store.sweep(entry.path, self.root, str(manifest.get("data_fingerprint")),
                                 list(grid))

    def _part_rows(self, entry: Entry, folder: str) -> int:
        directory = entry.path / folder
        if not directory.is_dir():
            return 0
        total = 0
        for part in sorted(directory.glob("part-*.parquet")):
            real = self._file(entry, folder, part.name)
            if real is not None:
                total += self._files.get(real, "rows",
                                         lambda p: pq.read_metadata(p).num_rows)
        return total

    def _dates_of_chain(self, manifest: dict[str, Any]) -> tuple[str | None, str | None]:
        data = manifest.get("sweep", {}).get("data")
        if isinstance(data, str):
            chain = read_json(Path(data) / "manifest.json")
            if chain and chain.get("fingerprint") == manifest.get("data_fingerprint"):
                return chain.get("first_date"), chain.get("last_date")
        return None, None

    def _sweep_dates(self, entry: Entry, manifest: dict[str, Any]) -> tuple[str | None,
                                                                            str | None]:
        first, last = self._curve_dates(entry)
        return (first, last) if first is not None else self._dates_of_chain(manifest)

    def _curve_dates(self, entry: Entry) -> tuple[str | None, str | None]:
        """The first and last day of a sweep's or study's kept curves (`equity/dates.parquet`:
        the chain's days)."""
        dates = self._file(entry, "equity", "dates.parquet")
        if dates is None:
            return None, None

        def ends(path: Path) -> tuple[str | None, str | None]:
            column = pq.read_table(path, columns=["date"]).column("date")
            if len(column) == 0:
                return None, None
            return str(column[0].as_py()), str(column[-1].as_py())

        first, last = self._files.get(dates, "ends", ends)
        return first, last

    def _best(self, manifest: dict[str, Any]) -> BestRun | None:
        best = manifest.get("best") or {}
        if not best.get("param_hash"):
            return None
        kpis = best.get("kpis", {})
        return BestRun(param_hash=str(best["param_hash"]), combo=best.get("combo"),
                       value=_float(kpis.get(manifest.get("objective"))),
                       params=best.get("params", {}))

    def _sweep_item(self, entry: Entry, manifest: dict[str, Any], done: int | None = None,
                    best: BestRun | None = None) -> dict[str, Any]:
        sweep = manifest.get("sweep", {})
        statistics = manifest.get("statistics") or {}
        first, last = self._sweep_dates(entry, manifest)
        done = self._part_rows(entry, "results") if done is None else done
        status, hint = self._status(
            entry, str(manifest.get("status", "")),
            f"gridbt sweep {manifest.get('sweep_file') or 'SWEEP_FILE'} --out {entry.path} "
            f"--resume")
        if status == "failed" and manifest.get("error"):
            hint = str(manifest["error"])  # what the run printed, e.g. a full disk
        return dict(
            id=entry.id, path=entry.rel, name=str(manifest.get("name", entry.rel)),
            description=str(sweep.get("description") or ""),
            strategy=str((manifest.get("base_strategy") or {}).get("name", "")),
            data_fingerprint=str(manifest.get("data_fingerprint", "")),
            data_path=sweep.get("data"), first_date=first, last_date=last,
            status=status, status_hint=hint,
            valid=_int(manifest.get("valid_combinations")), done=done,
            failed=max(_int(manifest.get("failed")), self._part_rows(entry, "failures")),
            objective=str(manifest.get("objective", "sharpe")),
            maximize=bool(manifest.get("maximize", True)),
            best=best or self._best(manifest),
            n_trials=_int(statistics.get("n_trials"), done),
            deflated_sharpe=_float(statistics.get("deflated_sharpe")),
            pbo=_float(statistics.get("pbo")),
            started=str(manifest.get("started", "")),
            finished=str(manifest.get("finished_at", "")),
            seconds=float(manifest.get("seconds") or 0.0),
            code_version=str(manifest.get("code_version", "")),
        )

    def sweeps(self) -> list[SweepItem]:
        """Every sweep under the root (counts from the result files' metadata)."""
        items = []
        for entry in self.entries("sweep"):
            try:
                items.append(SweepItem(**self._sweep_item(entry, self._json(entry))))
            except (NotFound, ValidationError, OSError):
                continue  # removed or rewritten meanwhile
        return items

    def sweep(self, sweep_id: str) -> SweepDetail:
        """One sweep: its item, grid, constraints, base strategy and statistics."""
        entry = self._entry("sweep", sweep_id)
        manifest = self._json(entry)
        runs = self._runs(entry, manifest)
        spec = manifest.get("sweep", {})
        best = self._best(manifest)
        done = runs.count()
        if best is None and done:
            objective = str(manifest.get("objective", "sharpe"))
            top = runs.top(objective, bool(manifest.get("maximize", True)), 1)
            if top and top[0].kpis.get(objective) is not None:
                best = BestRun(param_hash=top[0].param_hash, combo=top[0].combo,
                               value=top[0].kpis.get(objective), params=top[0].params)
        zips = {p: i for i, group in enumerate(spec.get("zip") or []) for p in group}
        grid = spec.get("grid") or {}
        axes = []
        for path in runs.path_order() or list(grid):
            axes.append(GridAxis(path=path, values=self._axis_values(path, grid.get(path)),
                                 zip_group=zips.get(path)))
        return SweepDetail(
            **self._sweep_item(entry, manifest, done=done, best=best),
            engines=self._engines(manifest),
            grid=axes, constraints=list(spec.get("constraints") or []),
            base_strategy=manifest.get("base_strategy") or {},
            heatmap_paths=[a.path for a in axes if len(a.values) >= 2],
            metrics=self.metrics(),
            statistics={k: _float(v) for k, v in (manifest.get("statistics") or {}).items()},
            keep_equity=spec.get("keep_equity", 0), grid_size=_int(manifest.get("grid_size")),
            sweep_file=str(manifest.get("sweep_file", "")),
        )

    @staticmethod
    def _engines(manifest: dict[str, Any]) -> SweepEngines | None:
        """`sweep.json`'s engines, or None where it has none it can tell (written before
        gridbt recorded them, or not by gridbt)."""
        try:
            return SweepEngines.model_validate(manifest.get("engines"))
        except ValidationError:
            return None

    @staticmethod
    def _axis_values(path: str, axis: Any) -> list[Any]:
        from gridbt.sweep.spec import axis_values

        try:
            return [plain(v) for v in axis_values(path, axis)]
        except (ValueError, TypeError):
            return list(axis) if isinstance(axis, list) else []

    def _sweep_runs(self, sweep_id: str) -> tuple[Entry, dict[str, Any], SweepRuns]:
        entry = self._entry("sweep", sweep_id)
        manifest = self._json(entry)
        return entry, manifest, self._runs(entry, manifest)

    def runs(self, sweep_id: str, sort: Sequence[str] | None = None,
             filter_text: str | None = None, limit: int = 50, offset: int = 0,
             distinct: bool = False) -> RunsPage:
        """A page of a sweep's runs (with `distinct`, one per outcome: `SweepRuns.page`);
        `sort` defaults to the objective, best first."""
        _, manifest, runs = self._sweep_runs(sweep_id)
        if not sort:
            sort = [("-" if manifest.get("maximize", True) else "")
                    + str(manifest.get("objective", "sharpe"))]
        return runs.page(sweep_id, sort, filter_text, limit, offset, distinct)

    @staticmethod
    def _direction(metric: str) -> bool:
        known = METRIC_BY_NAME.get(metric)
        return known.higher_is_better if known is not None else True

    def heatmap(self, sweep_id: str, x: str, y: str, metric: str = "sharpe",
                agg: Aggregate = "max", where: Sequence[str] = (),
                filter_text: str | None = None) -> Heatmap:
        """`metric` over the grid cells of paths `x` and `y` (see `SweepRuns.heatmap`)."""
        _, _, runs = self._sweep_runs(sweep_id)
        return runs.heatmap(x, y, metric, agg, self._direction(metric), where, filter_text)

    def distribution(self, sweep_id: str, metric: str = "sharpe", bins: int = 40,
                     filter_text: str | None = None) -> Distribution:
        """`metric`'s histogram, moments and best-so-far records over a sweep's runs."""
        if not 1 <= bins <= MAX_BINS:
            raise QueryError(f"bins: {bins} is not between 1 and {MAX_BINS}")
        _, _, runs = self._sweep_runs(sweep_id)
        return runs.distribution(metric, self._direction(metric), bins, filter_text)

    @staticmethod
    def metrics() -> list[MetricInfo]:
        """The KPI registry: name, label, unit, direction and definition of every KPI."""
        return [MetricInfo(name=m.name, label=m.label, unit=m.unit,
                           higher_is_better=m.higher_is_better, description=m.description)
                for m in METRICS]

    def slices(self, sweep_id: str, path: str, metric: str = "sharpe",
               filter_text: str | None = None) -> Slices:
        _, _, runs = self._sweep_runs(sweep_id)
        return runs.slices(path, metric, self._direction(metric), filter_text)

    def _kept_index(self, entry: Entry) -> dict[str, Path]:
        """param_hash -> the equity file that keeps its curve."""
        folder = entry.path / "equity"
        index: dict[str, Path] = {}
        if not folder.is_dir():
            return index
        for part in sorted(folder.glob("*.parquet")):
            if part.name == "dates.parquet":
                continue
            real = self._file(entry, "equity", part.name)
            if real is None:
                continue

            def hashes(path: Path) -> list[str]:
                schema = pq.read_schema(path)
                if "param_hash" not in schema.names:
                    return []
                return [str(h) for h in pq.read_table(path, columns=["param_hash"])
                        .column("param_hash").to_pylist()]

            for param_hash in self._files.get(real, "hashes", hashes):
                index.setdefault(param_hash, real)
        return index

    def run(self, sweep_id: str, param_hash: str) -> RunDetail:
        """One run: grid values, KPIs, counters and its resolved strategy."""
        entry, manifest, runs = self._sweep_runs(sweep_id)
        row = runs.run(param_hash)
        base = manifest.get("base_strategy") or {}
        spec = run_spec(base, row.params, f"{base.get('name', 'strategy')}#{row.combo}")
        return RunDetail(sweep=sweep_id, param_hash=row.param_hash, combo=row.combo,
                         params=row.params, kpis=row.kpis, skips=row.skips,
                         counters=row.counters, strategy=spec.model_dump(mode="json"),
                         equity_kept=param_hash in self._kept_index(entry))

    def _recomputed(self, sweep_id: str, param_hash: str) -> Recomputed:
        entry, manifest, runs = self._sweep_runs(sweep_id)
        row = runs.run(param_hash)
        base = manifest.get("base_strategy") or {}
        spec = run_spec(base, row.params, f"{base.get('name', 'strategy')}#{row.combo}")
        fingerprint = str(manifest.get("data_fingerprint"))
        return self._recompute.run((str(entry.path), fingerprint, param_hash), spec,
                                   manifest.get("sweep", {}).get("data"), fingerprint,
                                   param_hash)

    def run_equity(self, sweep_id: str, param_hash: str, points: int = 1000,
                   regimes: bool = False) -> Equity:
        """A run's equity curve: the kept one, else recomputed; downsampled to `points`; with
        the underlying's close and (`regimes`) the chain's regime features on each day."""
        check_points(points)
        entry, manifest, _ = self._sweep_runs(sweep_id)
        kept = self._kept_index(entry).get(param_hash)
        if kept is not None:
            table = pq.read_table(kept, columns=["param_hash", "equity"],
                                  filters=[("param_hash", "=", param_hash)])
            equity = np.asarray(table.column("equity")[0].as_py(), dtype=np.float64)
            dates = self._equity_dates(entry, manifest, len(equity))
            return equity_of(dates, equity, points, "kept", self._chain_columns(
                manifest.get("sweep", {}).get("data"), manifest.get("data_fingerprint"), dates,
                regimes))
        outcome = self._recomputed(sweep_id, param_hash)
        return _recomputed_equity(outcome, points, regimes)

    def _chain_columns(self, data: str | None, fingerprint: Any, dates: np.ndarray,
                       regimes: bool) -> dict[str, np.ndarray]:
        """`chain_columns` of the chain a result ran on ({} when it is not at hand: the curve
        is served without them)."""
        try:
            packed = self._recompute.chain(data, str(fingerprint))
        except Unavailable:
            return {}
        return chain_columns(packed, dates, regimes)

    def _equity_dates(self, entry: Entry, manifest: dict[str, Any], n: int) -> np.ndarray:
        path = self._file(entry, "equity", "dates.parquet")
        if path is not None:
            dates = self._files.get(path, "dates", lambda p: pq.read_table(p).column("date")
                                    .to_numpy().astype("datetime64[D]"))
            if len(dates) == n:
                return np.asarray(dates)
        fingerprint = str(manifest.get("data_fingerprint"))
        packed = self._recompute.chain(manifest.get("sweep", {}).get("data"), fingerprint)
        return packed.day_date.astype("datetime64[D]")

    def run_trades(self, sweep_id: str, param_hash: str) -> Trades:
        """A run's trades with their legs (sweeps keep none: the run is recomputed)."""
        return self._recomputed_trades(self._recomputed(sweep_id, param_hash))

    @staticmethod
    def _recomputed_trades(outcome: Recomputed) -> Trades:
        from gridbt.results.tables import trades_table

        return _at_entry(trades_of(trades_table(outcome.result, outcome.packed), "recomputed"),
                         outcome.spec, outcome.packed)

    # ------------------------------------------------------------------ robustness
    def robustness(self, sweep_id: str, metric: str = "sharpe", top: int = 10) -> Robustness:
        """Overfitting statistics and, for the `top` runs by `metric`, their neighbourhood."""
        if not 1 <= top <= _MAX_TOP:
            raise QueryError(f"top: {top} is not between 1 and {_MAX_TOP}")
        entry, manifest, runs = self._sweep_runs(sweep_id)
        higher = self._direction(metric)
        best = runs.top(metric, higher, top)
        statistics = {k: _float(v) for k, v in (manifest.get("statistics") or {}).items()}
        source = "sweep.json" if statistics else "none"
        if not statistics and best:
            computed = self._computed_statistics(sweep_id, entry, manifest, runs)
            if computed:
                statistics, source = computed, "computed"
        zips = (manifest.get("sweep") or {}).get("zip") or []
        rows = [runs.neighbourhood(row, metric, higher, zips) for row in best]
        return Robustness(metric=metric, higher_is_better=higher, statistics=statistics,
                          statistics_source=source, neighbourhood=rows)

    def _computed_statistics(self, sweep_id: str, entry: Entry, manifest: dict[str, Any],
                             runs: SweepRuns) -> dict[str, float | None]:
        """DSR and PBO of a sweep that has not finished (its `sweep.json` has none yet), from
        the block statistics of its result parts and the best run recomputed. O(runs) work:
        kept until the results change, and while a sweep runs, reused for
        `_RUNNING_STATISTICS_SECONDS` however many results land meanwhile."""
        earlier = self._statistics.get(entry.path)
        if earlier is not None and time.monotonic() - earlier[0] < _RUNNING_STATISTICS_SECONDS:
            return earlier[1]
        objective = str(manifest.get("objective", "sharpe"))
        maximize = bool(manifest.get("maximize", True))

        def make() -> dict[str, float | None]:
            from gridbt.sweep.finish import overfitting_statistics

            frame = self._outcome_blocks(entry, manifest)
            top = runs.top(objective, maximize, 1)
            if frame is None or not top or len(frame) < 2:
                return {}
            outcome = self._recomputed(sweep_id, top[0].param_hash)
            stats = overfitting_statistics(frame, outcome.result.equity[None, :])
            return {k: _float(v) for k, v in stats.items()}

        computed: dict[str, float | None] = runs.cached(("statistics",), make)
        self._statistics[entry.path] = (time.monotonic(), computed)
        return computed

    def _outcome_blocks(self, entry: Entry, manifest: dict[str, Any]) -> pd.DataFrame | None:
        """The block statistics of a sweep's result parts: one row per distinct outcome, the
        best-ranked run of each, as `finish_sweep` counts trials (None when the parts have no
        block statistics)."""
        from gridbt.sweep.finish import BLOCK_COLUMNS, distinct_outcomes, ranked
        from gridbt.sweep.results import arrow_lists

        objective = str(manifest.get("objective", "sharpe"))
        maximize = bool(manifest.get("maximize", True))
        files = [p for p in sorted((entry.path / "results").glob("part-*.parquet"))
                 if inside(p.resolve(), self.root)]
        names = set(pq.read_schema(files[0]).names) if files else set()
        if not set(BLOCK_COLUMNS) <= names:
            return None
        wanted = ["param_hash", "sharpe", *BLOCK_COLUMNS]
        wanted += [c for c in ("data_fingerprint", "combo", "outcome_hash", objective)
                   if c in names and c not in wanted]
        table = pa.concat_tables([pq.read_table(f, columns=wanted) for f in files],
                                 promote_options="default")
        # rank and pick the rows without the block lists, then take those rows' lists: moving
        # a million rows' lists through pandas' filters and sorts cost seconds and a GB
        frame = table.drop_columns(list(BLOCK_COLUMNS)).to_pandas()
        frame["_row"] = np.arange(len(frame))
        if "data_fingerprint" in frame:
            frame = frame[frame["data_fingerprint"] == manifest.get("data_fingerprint")]
        frame = frame.drop_duplicates("param_hash")  # the first written, as the runs
        if {"combo", objective} <= set(frame.columns):
            frame = distinct_outcomes(ranked(frame, objective, maximize))
        frame = frame.reset_index(drop=True)
        lists = table.select(list(BLOCK_COLUMNS)).take(pa.array(frame["_row"].to_numpy()))
        lists_frame = lists.to_pandas(types_mapper=arrow_lists)
        for column in BLOCK_COLUMNS:
            frame[column] = lists_frame[column].array
        return frame.drop(columns="_row")

    def stability(self, sweep_id: str) -> Stability:
        """How the runs' Sharpe ranks hold from one time block to the next, and from the first
        half of the days to the second (`stability_of`), over the distinct outcomes."""
        from gridbt.results.stability import stability_of
        from gridbt.sweep.finish import BLOCK_COLUMNS, block_matrix

        entry, manifest, runs = self._sweep_runs(sweep_id)

        def make() -> Stability:
            frame = self._outcome_blocks(entry, manifest)
            if frame is None or len(frame) < 3:
                raise Unavailable(f"sweep {sweep_id}: fewer than 3 distinct outcomes with block "
                                  "statistics; nothing to rank")
            stats = np.stack([block_matrix(frame[c]) for c in BLOCK_COLUMNS], axis=-1)
            days = int(stats[0, :, 0].sum()) + 1
            return stability_of(stats, self._equity_dates(entry, manifest, days))

        result: Stability = runs.cached(("stability",), make)
        return result

    # ------------------------------------------------------------------ studies
    def _study_files(self, entry: Entry) -> _StudyFiles:
        """A study directory's manifests, and whether a run started since it last finished."""
        manifests: dict[str, tuple[dict[str, Any], int] | None] = {}
        for name in ("summary.json", "study.json"):
            path = self._file(entry, name)
            manifests[name] = None
            if path is None:
                continue
            try:
                mtime_ns = path.stat().st_mtime_ns
                payload = self._files.get(path, "json", read_json)
            except (OSError, NotFound):
                continue
            if payload is not None:
                manifests[name] = (dict(payload), mtime_ns)
        summary, start = manifests["summary.json"], manifests["study.json"]
        if summary is not None and "study" not in summary[0]:
            summary = None
        if summary is None and start is None:
            raise NotFound(f"{entry.rel}: its manifest cannot be read")
        # study.json says how the last run went: `done` once its summary is written; any
        # other status is a run begun since (at work, interrupted or failed)
        live = start is not None and (summary is None or start[0].get("status") != "done")
        return _StudyFiles(summary=summary[0] if summary else None,
                           start=start[0] if start else None, live=live,
                           mtime_ns=max(m[1] for m in (summary, start) if m is not None))

    def _study_item(self, entry: Entry, files: _StudyFiles) -> dict[str, Any]:
        # a run started since the study last finished: its results are not known yet
        summary = files.summary if files.summary is not None and not files.live else {}
        about = (files.start if files.live else files.summary) or {}  # name, objectives, ...
        statistics = summary.get("statistics") or {}
        walk = summary.get("walk_forward") or {}
        trials = {str(k): _int(v) for k, v in (summary.get("trials") or {}).items()}
        status, hint = "done", None
        first, last = self._curve_dates(entry)
        if files.live and files.start is not None:
            trials = self._stored_counts(entry, files.start)
            source = files.start.get("study_file", "STUDY_FILE")
            status, hint = self._status(entry, str(files.start.get("status", "running")),
                                        f"gridbt optimize {source} --out {entry.path} --resume")
            if status == "failed" and files.start.get("error"):
                hint = str(files.start["error"])
        return dict(
            id=entry.id, path=entry.rel, name=str(about.get("study", entry.rel)),
            objectives=list(about.get("objectives") or []), sampler=about.get("sampler"),
            pruner=about.get("pruner"), trials=trials, status=status, status_hint=hint,
            planned_trials=(_int(files.start.get("planned_trials"))
                            if files.start and "planned_trials" in files.start else None),
            parameter_sets=_int(summary.get("parameter_sets")),
            n_trials=(_int(statistics["n_trials"]) if _float(statistics.get("n_trials"))
                      is not None else None),
            best=summary.get("best"),
            deflated_sharpe=_float(statistics.get("deflated_sharpe")),
            pbo=_float(statistics.get("pbo")),
            walk_forward_degradation=_float(walk.get("degradation")),
            first_date=first, last_date=last, updated=_iso(files.mtime_ns),
        )

    def studies(self) -> list[StudyItem]:
        """Every study under the root: finished ones, and those running or interrupted."""
        items = []
        for entry in self.entries("study"):
            try:
                items.append(StudyItem(**self._study_item(entry, self._study_files(entry))))
            except (NotFound, ValidationError, OSError):
                continue
        return items

    def _storage(self, manifest: dict[str, Any]) -> Path | None:
        """The real path of a study's SQLite storage if it is a file under the root (None for
        another storage)."""
        storage = str(manifest.get("storage") or "")
        if not storage.startswith("sqlite:///"):
            return None
        try:
            real = Path(storage.removeprefix("sqlite:///")).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if inside(real, self.root) and real.is_file() else None

    @staticmethod
    def _read_storage(db: Path, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a query on a study's SQLite storage opened read-only ([] on any error)."""
        try:
            with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=2) as con:
                return con.execute(sql, list(params)).fetchall()
        except sqlite3.Error:
            return []

    def _stored_counts(self, entry: Entry, manifest: dict[str, Any]) -> dict[str, int]:
        """Finished trials by state in a running study's storage ({} if it cannot be read)."""
        db = self._storage(manifest)
        if db is None:
            return {}
        rows = self._read_storage(
            db, "SELECT t.state, count(*) FROM trials t JOIN studies s ON s.study_id = "
            "t.study_id WHERE s.study_name = ? AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL') "
            "GROUP BY t.state", [str(manifest.get("study"))])
        return {str(state).lower(): int(n) for state, n in rows}

    def _stored_trials(self, entry: Entry, manifest: dict[str, Any]) -> dict[int, _Stored]:
        """Per trial number, what the study's SQLite storage holds of each finished trial
        (state, objective values, gridbt's attributes), read-only; {} for another storage.
        Kept until the storage or its write-ahead log changes."""
        db = self._storage(manifest)
        if db is None:
            return {}
        name = str(manifest.get("study"))
        of_study = ("FROM trials t JOIN studies s ON s.study_id = t.study_id WHERE "
                    "s.study_name = ? AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL')")

        def read(path: Path) -> dict[int, _Stored]:
            import json

            trials = {int(trial_id): _Stored(int(number), str(state)) for trial_id, number, state
                      in self._read_storage(path, f"SELECT t.trial_id, t.number, t.state "
                                            f"{of_study}", [name])}
            for trial_id, objective, value, kind in self._read_storage(
                    path, f"SELECT v.trial_id, v.objective, v.value, v.value_type FROM "
                    f"trial_values v WHERE v.trial_id IN (SELECT t.trial_id {of_study})",
                    [name]):
                if int(trial_id) in trials:
                    number = {"INF_POS": math.inf, "INF_NEG": -math.inf}.get(kind, value)
                    trials[int(trial_id)].values[int(objective)] = _float(number)
            for trial_id, key, text in self._read_storage(
                    path, f"SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes "
                    f"a WHERE a.key IN ('gridbt.result', 'gridbt.values', 'gridbt.error') AND "
                    f"a.trial_id IN (SELECT t.trial_id {of_study})", [name]):
                try:
                    value = json.loads(text)
                except ValueError:
                    continue
                if int(trial_id) in trials:
                    trials[int(trial_id)].attributes[str(key)] = value
            return {t.number: t for t in trials.values()}

        wal = db.with_name(db.name + "-wal")
        stored: dict[int, _Stored] = self._files.get(
            db, "trials", read, also=[wal] if wal.exists() else [])
        return stored

    def _fold_values(self, entry: Entry, summary: dict[str, Any]) -> dict[int, list[Any]]:
        """Per trial number, its first objective on each fold, from the study's SQLite
        storage opened read-only ({} for another storage, or one outside the root)."""
        objectives = summary.get("objectives") or [{}]
        kpi = objectives[0].get("kpi") if objectives else None
        if kpi is None:
            return {}
        return {number: stored.fold_values(str(kpi))
                for number, stored in self._stored_trials(entry, summary).items()
                if "gridbt.result" in stored.attributes}

    def _study_trials(self, entry: Entry, files: _StudyFiles) -> list[Trial]:
        if files.live and files.start is not None:  # the trials so far, from the storage
            return self._running_trials(entry, files.start)
        summary = files.summary or {}
        path = self._file(entry, "trials.parquet")
        if path is None:
            return []
        rows = self._files.get(path, "rows", lambda p: pq.read_table(p).to_pylist())
        objectives = [str(o.get("kpi")) for o in summary.get("objectives") or []]
        known = {"trial", "state", "ran", "error", "seconds", *KPI_NAMES,
                 *(f"objective_{k}" for k in objectives)}
        folds = self._fold_values(entry, summary)
        kept = set(self._kept_trials(entry))
        out = []
        for row in rows:
            number = int(row["trial"])
            out.append(Trial(
                number=number, state=str(row.get("state")),
                values=[_float(row.get(f"objective_{k}")) for k in objectives],
                params={k: plain(v) for k, v in row.items() if k not in known},
                kpis={k: _float(row.get(k)) for k in KPI_NAMES if k in row},
                fold_values=folds.get(number), error=row.get("error"),
                equity_kept=number in kept))
        return out

    def _running_trials(self, entry: Entry, start: dict[str, Any]) -> list[Trial]:
        """The finished trials of a study that has not finished: their state, objective
        values, space values and per-fold first objective (no span KPIs: those are computed
        when the study finishes)."""
        objectives = [str(o.get("kpi")) for o in start.get("objectives") or []]
        out = []
        for number, stored in sorted(self._stored_trials(entry, start).items()):
            complete = stored.state == "COMPLETE"
            out.append(Trial(
                number=number, state=stored.state,
                values=[stored.values.get(j) if complete else None
                        for j in range(len(objectives))],
                params={k: plain(v) for k, v in stored.space_values().items()}, kpis={},
                fold_values=(stored.fold_values(objectives[0]) if objectives
                             and "gridbt.result" in stored.attributes else None),
                error=(str(stored.attributes["gridbt.error"])
                       if "gridbt.error" in stored.attributes else None),
                equity_kept=False))
        return out

    def _kept_trials(self, entry: Entry) -> list[int]:
        path = self._file(entry, "equity", "top.parquet")
        if path is None:
            return []
        trials: list[int] = self._files.get(path, "trials", lambda p: [
            int(t) for t in pq.read_table(p, columns=["trial"]).column("trial").to_pylist()])
        return trials

    def study(self, study_id: str) -> StudyDetail:
        """One study: its summary, every finished trial, the Pareto front; while it runs (or
        once interrupted), its start manifest and the trials its storage holds so far."""
        entry = self._entry("study", study_id)
        files = self._study_files(entry)
        summary = files.summary if files.summary is not None and not files.live else (
            files.start or {})
        return StudyDetail(**self._study_item(entry, files), summary=summary,
                           trial_rows=self._study_trials(entry, files),
                           pareto=list(summary.get("pareto") or []))

    def _trial(self, study_id: str, number: int) -> tuple[Entry, _StudyFiles, Trial]:
        entry = self._entry("study", study_id)
        files = self._study_files(entry)
        for trial in self._study_trials(entry, files):
            if trial.number == number:
                return entry, files, trial
        raise NotFound(f"trial {number}: study {study_id} has no such finished trial")

    @staticmethod
    def _trial_spec(files: _StudyFiles, trial: Trial) -> StrategySpec:
        """A trial's strategy: the base strategy `study.json` records with the trial's values,
        where a conditional path the trial did not sample (None) keeps the base value."""
        start = files.start or {}
        base = start.get("base_strategy")
        if not isinstance(base, dict):
            raise Unavailable(
                f"trial {trial.number}: the study did not record its base strategy (it last ran "
                "before gridbt did); gridbt optimize STUDY_FILE --out DIR --resume records it "
                "without running a trial")
        conditional = set(start.get("conditional_paths") or [])
        values = {p: v for p, v in trial.params.items() if not (v is None and p in conditional)}
        return run_spec(base, values, f"{base.get('name', 'strategy')}#t{trial.number}")

    def trial(self, study_id: str, number: int) -> TrialDetail:
        """One trial: its row, its resolved strategy and whether it can be backtested again."""
        _, files, trial = self._trial(study_id, number)
        start = files.start or {}
        strategy, note = None, None
        try:
            strategy = self._trial_spec(files, trial).model_dump(mode="json")
        except Unavailable as exc:
            note = str(exc)
        data = start.get("data")
        return TrialDetail(
            **trial.model_dump(), study=study_id, strategy=strategy, strategy_note=note,
            recomputable=strategy is not None and trial.state != "FAIL",
            data=str(data) if data is not None else None,
            data_fingerprint=start.get("data_fingerprint"),
            code_version=start.get("code_version"))

    def _trial_recomputed(self, study_id: str, number: int,
                          window: tuple[int, int] | None = None) -> Recomputed:
        """A trial backtested again over the whole chain, or over the day `window` alone."""
        entry, files, trial = self._trial(study_id, number)
        if trial.state == "FAIL":
            raise NotFound(f"trial {number} failed ({trial.error or 'no reason recorded'}): it "
                           "has no backtest")
        spec = self._trial_spec(files, trial)
        start = files.start or {}
        fingerprint = str(start.get("data_fingerprint"))
        key = (str(entry.path), fingerprint, f"trial {number}", str(window))
        return self._recompute.run(key, spec, start.get("data"), fingerprint, window=window)

    def trial_equity(self, study_id: str, number: int, points: int = 1000,
                     regimes: bool = False) -> Equity:
        """A trial's whole-chain equity curve: the kept one (a study keeps its best
        `keep_equity`), else backtested again; the chain's columns as for a run."""
        check_points(points)
        entry = self._entry("study", study_id)
        path = self._file(entry, "equity", "top.parquet")
        if path is None or number not in self._kept_trials(entry):
            return _recomputed_equity(self._trial_recomputed(study_id, number), points, regimes)
        table = pq.read_table(path, columns=["trial", "equity"], filters=[("trial", "=", number)])
        equity = np.asarray(table.column("equity")[0].as_py(), dtype=np.float64)
        dates_path = self._file(entry, "equity", "dates.parquet")
        if dates_path is None:
            raise NotFound(f"study {study_id}: equity/dates.parquet is missing")
        dates = pq.read_table(dates_path).column("date").to_numpy().astype("datetime64[D]")
        start = self._study_files(entry).start or {}
        return equity_of(dates, equity, points, "kept", self._chain_columns(
            start.get("data"), start.get("data_fingerprint"), dates, regimes))

    def trial_spans(self, study_id: str, number: int) -> TrialSpans:
        """A trial's KPIs over its study's in-sample span (the study's), over the days after
        it and over the whole chain (`TrialSpans`), and the whole chain's skipped entries; all
        but the first from the trial backtested again."""
        from gridbt.kernel.dispatch import kpis_of

        _, files, trial = self._trial(study_id, number)
        lo, hi, packed = self._in_sample_span(study_id, files)
        n = packed.n_days
        whole = self._trial_recomputed(study_id, number)
        capital = whole.spec.capital

        def over(first: int, end: int, kpis: dict[str, Any]) -> SpanKpis:
            first_date, last_date = _span_dates(packed, first, end)
            return SpanKpis(first_date=first_date, last_date=last_date, days=end - first,
                            kpis={k: _float(v) for k, v in kpis.items()})

        after = None
        if hi < n:  # as the study measures a fold out of sample: the days' backtest alone
            alone = self._trial_recomputed(study_id, number, window=(hi, n))
            after = over(hi, n, kpis_of(alone.result, packed, capital))
        result = whole.result
        return TrialSpans(
            study=study_id, number=number, in_sample=over(lo, hi, trial.kpis), after=after,
            whole=over(0, n, kpis_of(result, packed, capital)),
            skips={name: int(v) for name, v in zip(SkipReason.NAMES, result.skips, strict=True)},
            counters={"missing_quote_days": int(result.missing_quote_days),
                      "stale_fills": int(result.stale_fills)})

    def _in_sample_span(self, study_id: str,
                        files: _StudyFiles) -> tuple[int, int, PackedChain]:
        """A finished study's in-sample span [first, end) and the chain it is days of."""
        summary = files.summary if files.summary is not None and not files.live else {}
        span = summary.get("in_sample_span")
        if not (isinstance(span, list) and len(span) == 2):
            raise Unavailable(f"study {study_id}: its in-sample span is recorded when it "
                              "finishes (it has not)")
        start = files.start or {}
        packed = self._recompute.chain(start.get("data"), str(start.get("data_fingerprint")))
        lo, hi = int(span[0]), int(span[1])
        if not 0 <= lo < hi <= packed.n_days:
            raise Unavailable(f"study {study_id}: its in-sample span {span} is not days of "
                              f"its chain ({packed.n_days} days)")
        return lo, hi, packed

    def study_after(self, study_id: str, metric: str | None = None,
                    top: int = 200) -> StudyAfter:
        """The best `top` complete trials by `metric` in sample (default: the first
        objective), each backtested again over the days after the in-sample span alone, and
        how their ranks there follow their ranks in sample (`StudyAfter`)."""
        from gridbt.results.stability import spearman, top_decile_percentile

        if not 1 <= top <= MAX_AFTER_TRIALS:
            raise QueryError(f"top: {top} is not between 1 and {MAX_AFTER_TRIALS:,}")
        entry = self._entry("study", study_id)
        files = self._study_files(entry)
        objectives = (files.summary or {}).get("objectives") or [{"kpi": "sharpe"}]
        metric = metric or str(objectives[0].get("kpi"))
        if metric not in METRIC_BY_NAME:
            raise QueryError(f"metric: unknown KPI {metric!r}; KPIs: {', '.join(KPI_NAMES)}")
        _, first, packed = self._in_sample_span(study_id, files)
        end = packed.n_days
        if first == end:
            raise Unavailable(f"study {study_id} ranked its trials on the whole chain: no day "
                              "is after its in-sample span")
        sign = 1.0 if METRIC_BY_NAME[metric].higher_is_better else -1.0
        start = files.start or {}

        def make(_: Path) -> StudyAfter:
            valued = [(t, _float(t.kpis.get(metric))) for t in self._study_trials(entry, files)
                      if t.state == "COMPLETE"]
            ranked = sorted(((t, v) for t, v in valued if v is not None),
                            key=lambda tv: (-sign * tv[1], tv[0].number))
            chosen = ranked[:top]
            kpis = self._recompute.batch_kpis(
                [self._trial_spec(files, t) for t, _ in chosen], start.get("data"),
                str(start.get("data_fingerprint")), (first, end))
            inside = np.array([v for _, v in chosen], dtype=float)
            after = kpis[:, KPI_INDEX[metric]]
            first_date, last_date = _span_dates(packed, first, end)
            return StudyAfter(
                study=study_id, metric=metric, first_date=first_date, last_date=last_date,
                complete=len(ranked), trials=len(chosen),
                rank_correlation=spearman(inside, after),
                top_decile_percentile=top_decile_percentile(sign * inside, sign * after),
                points=[TrialAfter(number=t.number, in_sample=v, after=_float(a))
                        for (t, v), a in zip(chosen, after, strict=True)])

        summary_path = self._file(entry, "summary.json")
        assert summary_path is not None  # a finished study has one (_in_sample_span)
        result: StudyAfter = self._files.get(summary_path, f"after {metric} {top}", make)
        return result

    def trial_trades(self, study_id: str, number: int) -> Trades:
        """A trial's trades over the whole chain, with their legs (backtested again: a study
        keeps none)."""
        return self._recomputed_trades(self._trial_recomputed(study_id, number))

    # ------------------------------------------------------------------ backtests
    def _summary(self, entry: Entry) -> BacktestSummary:
        try:
            return BacktestSummary.model_validate(self._json(entry))
        except ValidationError as exc:
            raise NotFound(f"backtest {entry.id}: summary.json does not validate: "
                           f"{exc.errors()[0]['msg']}") from None

    def _backtest_item(self, entry: Entry, summary: BacktestSummary) -> dict[str, Any]:
        return dict(
            id=entry.id, path=entry.rel, name=str(summary.strategy.get("name", entry.rel)),
            engine=summary.engine, data_fingerprint=summary.data.fingerprint,
            first_date=summary.data.first_date, last_date=summary.data.last_date,
            kpis={k: _float(v) for k, v in summary.kpis.items()},
            trades=sum(summary.exit_reasons.values()), updated=_iso(entry.mtime_ns),
        )

    def backtests(self) -> list[BacktestItem]:
        items = []
        for entry in self.entries("backtest"):
            try:
                items.append(BacktestItem(**self._backtest_item(entry, self._summary(entry))))
            except NotFound:
                continue
        return items

    def backtest(self, backtest_id: str) -> BacktestDetail:
        entry = self._entry("backtest", backtest_id)
        summary = self._summary(entry)
        return BacktestDetail(**self._backtest_item(entry, summary), summary=summary)

    def _backtest_file(self, backtest_id: str, role: str) -> tuple[BacktestSummary, Path]:
        entry = self._entry("backtest", backtest_id)
        summary = self._summary(entry)
        name = summary.files.get(role)
        path = self._file(entry, name) if name else None
        if path is None:
            raise NotFound(f"backtest {backtest_id}: no {role} file")
        return summary, path

    def backtest_equity(self, backtest_id: str, points: int = 1000,
                        regimes: bool = False) -> Equity:
        """The daily equity and book of a backtest (greeks, hedge, margin, P&L attribution);
        with `regimes`, the chain's regime features on each day too."""
        check_points(points)
        summary, path = self._backtest_file(backtest_id, "equity")
        table: pa.Table = self._files.get(path, "table", pq.read_table)
        columns = {name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                   for name in table.column_names
                   if name not in ("date", "equity", "drawdown")
                   and (pa.types.is_floating(table.schema.field(name).type)
                        or pa.types.is_integer(table.schema.field(name).type)
                        or pa.types.is_boolean(table.schema.field(name).type))}
        dates = table.column("date").to_numpy().astype("datetime64[D]")
        equity = table.column("equity").to_numpy().astype(np.float64)
        if regimes:
            chain = self._chain_columns(summary.data.path, summary.data.fingerprint, dates, True)
            columns = {**chain, **columns}  # the book's own spot, where it has one
        return equity_of(dates, equity, points, "file", columns)

    def backtest_trades(self, backtest_id: str) -> Trades:
        """A backtest's trades with their legs, each leg's entry delta and the trade's regime
        at entry read from the chain the backtest ran on (None and {} where that chain is not
        available)."""
        summary, path = self._backtest_file(backtest_id, "trades")
        table: pa.Table = self._files.get(path, "table", pq.read_table)
        try:
            spec = StrategySpec.model_validate(summary.strategy)
            packed = self._recompute.chain(summary.data.path, summary.data.fingerprint)
        except (Unavailable, ValidationError):
            return trades_of(table, "file")
        trades: Trades = self._files.get(
            path, "trades", lambda _: _at_entry(trades_of(table, "file"), spec, packed))
        return trades

    # ------------------------------------------------------------------ payoff
    def payoff(self, trade: int, *, backtest: str | None = None, sweep: str | None = None,
               run: str | None = None, study: str | None = None, trial: int | None = None,
               points: int = 201) -> Payoff:
        """The payoff diagram of trade `trade` of a backtest, a sweep's run or a study's
        trial."""
        from gridbt.results.payoff import payoff_of
        from gridbt.results.tables import trades_table

        kinds = (backtest is not None) + (sweep is not None) + (study is not None)
        if kinds != 1 or (sweep is None) != (run is None) or (study is None) != (trial is None):
            raise QueryError("payoff: give backtest=ID, sweep=ID and run=PARAM_HASH, or "
                             "study=ID and trial=NUMBER")
        if backtest is not None:
            summary = self.backtest(backtest).summary
            trades = self.backtest_trades(backtest)
            spec = StrategySpec.model_validate(summary.strategy)
            packed = self._recompute.chain(summary.data.path, summary.data.fingerprint)
        else:
            if sweep is not None and run is not None:
                outcome = self._recomputed(sweep, run)
            else:
                assert study is not None and trial is not None
                outcome = self._trial_recomputed(study, trial)
            trades = trades_of(trades_table(outcome.result, outcome.packed), "recomputed")
            spec, packed = outcome.spec, outcome.packed
        if not 0 <= trade < trades.count:
            raise NotFound(f"trade {trade}: there are {trades.count} trades (0 to "
                           f"{trades.count - 1})")
        return payoff_of(trades.trades[trade], spec, packed, points)

    # ------------------------------------------------------------------ events
    def states(self) -> dict[tuple[Kind, str], State]:
        """What each entry looks like now, for change events (cheap: manifests and the
        result files' metadata)."""
        self.rescan()
        out: dict[tuple[Kind, str], State] = {}
        for kind, entries in self._entries.items():
            for entry in entries.values():
                try:
                    stat = entry.manifest.stat()
                except OSError:
                    continue
                if kind == "sweep":
                    try:
                        manifest = self._json(entry)
                    except NotFound:
                        continue
                    out[(kind, entry.id)] = (
                        self._status(entry, str(manifest.get("status", "")), "")[0],
                        self._part_rows(entry, "results"),
                        _int(manifest.get("valid_combinations")),
                        max(_int(manifest.get("failed")), self._part_rows(entry, "failures")),
                        stat.st_mtime_ns)
                elif kind == "study":
                    try:
                        item = self._study_item(entry, self._study_files(entry))
                    except (NotFound, OSError):
                        continue
                    trials = item["trials"]
                    out[(kind, entry.id)] = (item["status"], sum(trials.values()),
                                             item["planned_trials"], trials.get("fail", 0),
                                             stat.st_mtime_ns)
                else:
                    out[(kind, entry.id)] = ("done", None, None, None, stat.st_mtime_ns)
        return out


def _recomputed_equity(outcome: Recomputed, points: int, regimes: bool) -> Equity:
    """A run backtested again: its equity and the chain's columns, downsampled."""
    dates = outcome.packed.day_date.astype("datetime64[D]")
    return equity_of(dates, outcome.result.equity, points, "recomputed",
                     chain_columns(outcome.packed, dates, regimes))


def _at_entry(trades: Trades, spec: StrategySpec, packed: PackedChain) -> Trades:
    """`trades` with what the chain says at each entry: the legs' deltas, the regime."""
    from gridbt.results.payoff import with_entry_deltas, with_entry_regimes

    return with_entry_regimes(with_entry_deltas(trades, spec, packed), packed)
