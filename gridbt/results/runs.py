"""The runs of a sweep, queried with DuckDB: pages, heatmaps, slices, neighbourhoods.

Each sweep's result parts (`results/part-*.parquet`, the files a running sweep appends to) are
read once into a table of one in-process DuckDB database shared by all sweeps: one row per
`param_hash` (the first written, when concurrent writers left duplicates), rows of another
chain's fingerprint left out, NaN KPIs as NULL. Before every query the part files are listed;
new parts are appended, any other change rebuilds the table, so a running sweep's pages grow
and a finished one costs nothing but the listing. Pages are SQL over that table with the
user's values bound as parameters (`results.query`); nothing is loaded into pandas per request.
Heatmaps and slices select their runs with the same SQL, then reduce the metric per cell in
numpy over columns read once per table version (`results.columns`, `plots.group_stats`): exact
medians and quartiles in time linear in the runs, where DuckDB's sort them per cell.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from gridbt._typing import BoolArray, FloatArray, IntArray
from gridbt.kernel.enums import SkipReason
from gridbt.kernel.metrics import KPI_NAMES
from gridbt.results.columns import ColumnCache
from gridbt.results.discovery import inside
from gridbt.results.errors import NotFound, QueryError
from gridbt.results.models import (
    Aggregate,
    Distribution,
    Heatmap,
    Neighbourhood,
    RunRow,
    RunsPage,
    SliceRow,
    Slices,
)
from gridbt.results.plots import (
    AGGREGATES,
    MAX_HEATMAP_CELLS,
    axis_identity,
    axis_sort_key,
    finite_or_none,
    group_stats,
    heatmap_of_groups,
    plain,
)
from gridbt.results.query import (
    ColumnKind,
    compile_filter,
    compile_sort,
    parse_value,
    quote_name,
    sort_key,
)

if TYPE_CHECKING:
    import duckdb

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "RunStore", "SweepRuns"]

MAX_LIMIT = 1000
MAX_OFFSET = 100_000_000
COUNTERS = ("missing_quote_days", "stale_fills")
SKIPS = tuple(f"skip_{reason}" for reason in SkipReason.NAMES)
#: read into the table but neither filtered, sorted nor listed: what runs share (`distinct`)
_HIDDEN = ("outcome_hash",)
#: the most sorted runs a page of distinct outcomes reads before it takes a window over all
_DISTINCT_SCAN = 65_536
_T = TypeVar("_T")
#: answers (pages, heatmaps, slices, axes) kept per sweep until its results change
_CACHED = 256
_CACHED_CELLS = 10_000


def _kind(duck_type: str) -> ColumnKind:
    text = duck_type.upper()
    if "[" in text or text.startswith(("LIST", "STRUCT", "MAP")):
        return "list"
    if text == "BOOLEAN":
        return "bool"
    if text.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT",
                        "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")):
        return "number"
    return "text"


@dataclass(frozen=True)
class _Part:
    path: str
    size: int
    mtime_ns: int


class RunStore:
    """One in-process DuckDB database holding the runs of the sweeps recently queried.

    At most `max_sweeps` tables are kept; the least recently used is dropped (and rebuilt from
    its parts when it is queried again). A sweep's result files are listed again at most every
    `refresh_seconds` (a running sweep's new results show within that time).
    """

    def __init__(self, max_sweeps: int = 8, threads: int | None = None,
                 refresh_seconds: float = 0.5, columns: ColumnCache | None = None):
        import duckdb

        self.refresh_seconds = refresh_seconds
        self.columns = columns or ColumnCache()

        self._con = duckdb.connect(":memory:", config={
            "threads": threads or max(1, min(os.cpu_count() or 1, 4)),
            "preserve_insertion_order": False,
        })
        self._lock = threading.Lock()
        self._sweeps: OrderedDict[Path, SweepRuns] = OrderedDict()
        self._max = max_sweeps
        self._next = 0

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the shared database for one thread's queries."""
        return self._con.cursor()

    def sweep(self, directory: Path, root: Path, fingerprint: str,
              paths: Sequence[str]) -> SweepRuns:
        """The runs of the sweep in `directory` (a table made or reused)."""
        with self._lock:
            runs = self._sweeps.get(directory)
            if runs is None or runs.fingerprint != fingerprint or runs.paths != tuple(paths):
                if runs is not None:
                    runs.drop()
                self._next += 1
                runs = SweepRuns(self, f"runs_{self._next}", directory, root, fingerprint,
                                 paths)
                self._sweeps[directory] = runs
            self._sweeps.move_to_end(directory)
            while len(self._sweeps) > self._max:
                _, old = self._sweeps.popitem(last=False)
                old.drop()
            return runs


class SweepRuns:
    """The runs of one sweep as a DuckDB table kept in step with its result parts."""

    def __init__(self, store: RunStore, table: str, directory: Path, root: Path,
                 fingerprint: str, paths: Sequence[str]):
        self.store = store
        self.table = quote_name(table)
        self.directory = directory
        self.root = root
        self.fingerprint = fingerprint
        self.paths = tuple(paths)
        self.version = 0  # bumped whenever the table changes
        self._parts: tuple[_Part, ...] = ()
        self._listed = -math.inf
        self._columns: dict[str, ColumnKind] = {}
        self._types: dict[str, str] = {}  # DuckDB's type of each column
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()

    # ---------------------------------------------------------------- the table
    def _list_parts(self) -> tuple[_Part, ...]:
        folder = self.directory / "results"
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return ()
        if not inside(folder.resolve(), self.root):
            return ()
        parts = []
        for entry in entries:
            if not (entry.name.startswith("part-") and entry.name.endswith(".parquet")):
                continue
            try:
                if entry.is_symlink():  # followed only while it stays under the root
                    real = Path(entry.path).resolve(strict=True)
                    if not inside(real, self.root) or not real.is_file():
                        continue
                    stat, path = real.stat(), str(real)
                elif entry.is_file(follow_symlinks=False):
                    stat, path = entry.stat(follow_symlinks=False), entry.path
                else:
                    continue
            except (OSError, RuntimeError):
                continue
            parts.append(_Part(path, stat.st_size, stat.st_mtime_ns))
        return tuple(parts)

    def refresh(self) -> None:
        """Bring the table in step with the part files (append new parts, else rebuild);
        the files are listed at most every `RunStore.refresh_seconds`."""
        now = time.monotonic()
        if self._parts and now - self._listed < self.store.refresh_seconds:
            return
        parts = self._list_parts()
        self._listed = now
        if parts == self._parts:
            return
        with self._lock:
            if parts == self._parts:
                return
            known = set(self._parts)
            appended = (len(parts) > len(self._parts) and known <= set(parts)
                        and self._columns)
            cursor = self.store.cursor()
            try:
                if appended:
                    try:
                        self._append(cursor, [p.path for p in parts if p not in known])
                    except Exception:  # e.g. new parts with other columns: read them all
                        self._build(cursor, [p.path for p in parts])
                else:
                    self._build(cursor, [p.path for p in parts])
            finally:
                cursor.close()
            self._parts = parts
            self.version += 1
            self._cache.clear()
            self.store.columns.drop(self.table)

    def _select(self, available: dict[str, str]) -> tuple[list[str], str]:
        paths = [n for n in available if n in self.paths]  # the sweep file's order
        wanted = ["combo", "param_hash", *paths, *KPI_NAMES, *SKIPS, *COUNTERS, *_HIDDEN]
        names = [n for n in dict.fromkeys(wanted) if n in available]
        terms = []
        for name in names:
            column = quote_name(name)
            if available[name].upper() in ("DOUBLE", "FLOAT", "REAL"):
                terms.append(f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END AS {column}")
            else:
                terms.append(column)
        return names, ", ".join(terms)

    def _source(self, available: dict[str, str], new_only: bool = False,
                first_only: bool = True) -> str:
        """Rows of the parts (bound as the first parameter): this chain's, the first of each
        `param_hash` (with `first_only`: every row otherwise); with `new_only`, only hashes
        not in the table yet."""
        conditions = ["data_fingerprint = ?"] if "data_fingerprint" in available else []
        if new_only:
            conditions.append(f"param_hash NOT IN (SELECT param_hash FROM {self.table})")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        if not first_only:
            return f"FROM read_parquet(?, union_by_name = true) {where}"
        return (f"FROM read_parquet(?, union_by_name = true, filename = true, "
                f"file_row_number = true) {where} QUALIFY row_number() OVER "
                f"(PARTITION BY param_hash ORDER BY filename, file_row_number) = 1")

    def _arguments(self, files: list[str], available: dict[str, str]) -> list[Any]:
        return [files, self.fingerprint] if "data_fingerprint" in available else [files]

    def _build(self, cursor: duckdb.DuckDBPyConnection, files: list[str]) -> None:
        if not files:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            self._columns, self._types = {}, {}
            return
        described = cursor.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]).fetchall()
        available = {str(row[0]): str(row[1]) for row in described}
        if "param_hash" not in available or "combo" not in available:
            raise NotFound(f"{self.directory}: result parts without param_hash and combo")
        names, select = self._select(available)
        # every row first, then, only if a hash is there twice (concurrent writers), the
        # first of each: the window that picks it costs three times the read
        cursor.execute(f"CREATE OR REPLACE TABLE {self.table} AS SELECT {select} "
                       f"{self._source(available, first_only=False)}",
                       self._arguments(files, available))
        repeated = cursor.execute(f"SELECT count(*) - count(DISTINCT param_hash) "
                                  f"FROM {self.table}").fetchall()[0][0]
        if repeated:
            cursor.execute(f"CREATE OR REPLACE TABLE {self.table} AS SELECT {select} "
                           f"{self._source(available)}", self._arguments(files, available))
        types = cursor.execute(f"DESCRIBE {self.table}").fetchall()
        self._types = {str(row[0]): str(row[1]) for row in types}
        self._columns = {name: _kind(kind) for name, kind in self._types.items()
                         if name not in _HIDDEN}

    def _append(self, cursor: duckdb.DuckDBPyConnection, files: list[str]) -> None:
        described = cursor.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]).fetchall()
        available = {str(row[0]): str(row[1]) for row in described}
        names, select = self._select(available)
        if names != list(self._types):
            raise ValueError("the new parts have other columns")
        cursor.execute(f"INSERT INTO {self.table} SELECT {select} "
                       f"{self._source(available, new_only=True)}",
                       self._arguments(files, available))

    def drop(self) -> None:
        with self._lock:
            cursor = self.store.cursor()
            try:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            finally:
                cursor.close()
            self._parts = ()
            self._columns = {}
            self._cache.clear()
            self.store.columns.drop(self.table)

    # ---------------------------------------------------------------- helpers
    def columns(self) -> dict[str, ColumnKind]:
        """Name -> kind of every column of the runs (empty before the first result)."""
        self.refresh()
        return dict(self._columns)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.store.cursor()
        try:
            return cursor.execute(sql, list(params)).fetchall()
        finally:
            cursor.close()

    def cached(self, key: tuple[Any, ...], make: Callable[[], _T]) -> _T:
        """`make()`, kept until the table changes (the last `_CACHED` answers)."""
        version = self.version
        full = (version, *key)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                cached: _T = self._cache[full]
                return cached
        value = make()
        with self._cache_lock:
            if self.version == version:
                self._cache[full] = value
                while len(self._cache) > _CACHED:
                    self._cache.popitem(last=False)
        return value

    def _params_present(self) -> list[str]:
        return [c for c in self._columns if c in self.paths]

    def path_order(self) -> list[str]:
        """The grid paths in the sweep file's order (as the result parts hold them)."""
        self.refresh()
        present = self._params_present()
        return present + [p for p in self.paths if p not in present]

    def _row(self, names: Sequence[str], values: Sequence[Any], same: int | None = None
             ) -> RunRow:
        record = dict(zip(names, values, strict=True))
        return RunRow(
            param_hash=str(record["param_hash"]), combo=int(record["combo"]),
            params={p: plain(record[p]) for p in self._params_present()},
            kpis={k: finite_or_none(record[k]) for k in KPI_NAMES if k in record},
            skips={s.removeprefix("skip_"): record[s] for s in SKIPS if s in record},
            counters={c: record[c] for c in COUNTERS if c in record},
            same=same,
        )

    def _require(self, name: str, what: str, kinds: tuple[ColumnKind, ...] | None = None,
                 among: Sequence[str] | None = None) -> ColumnKind:
        pool = list(among) if among is not None else list(self._columns)
        if name not in pool:
            raise QueryError(f"{what}: unknown {'path' if among is not None else 'name'} "
                             f"{name!r}; choose one of: {', '.join(pool)}")
        kind = self._columns[name]
        if kinds is not None and kind not in kinds:
            raise QueryError(f"{what}: {name} holds {kind} values, not numbers")
        return kind

    def _where(self, filter_text: str | None, fixed: Sequence[str]) -> tuple[str, list[Any]]:
        compiled = compile_filter(filter_text, self._columns)
        sql, params = [compiled.sql], list(compiled.params)
        for item in fixed:
            path, sep, text = item.partition(":")
            if not sep:
                raise QueryError(f"where: {item!r} is not PATH:VALUE")
            kind = self._require(path, "where", among=self._params_present())
            value = parse_value(text, kind, path)
            if value is None:
                sql.append(f"{quote_name(path)} IS NULL")
            else:
                sql.append(f"{quote_name(path)} IS NOT DISTINCT FROM ?")
                params.append(value)
        return " AND ".join(f"({s})" for s in sql), params

    def _hashes(self, row_ids: IntArray) -> npt.NDArray[np.object_]:
        """The param_hash of each row id (None for -1): a join with the ids handed to DuckDB
        as an Arrow table, far cheaper than carrying strings through an aggregate, and than
        binding the ids as a list (250,000 ids: 40 ms against 260)."""
        out = np.full(len(row_ids), None, dtype=object)
        wanted = np.flatnonzero(row_ids >= 0)
        if not len(wanted):
            return out
        import pyarrow as pa

        cursor = self.store.cursor()
        try:  # a view of this cursor's connection alone
            cursor.register("wanted_rows", pa.table({"at": wanted, "row_id": row_ids[wanted]}))
            found = cursor.execute(f"SELECT w.at, t.param_hash FROM wanted_rows w JOIN "
                                   f"{self.table} t ON t.rowid = w.row_id").fetchnumpy()
        finally:
            cursor.close()
        out[found["at"]] = found["param_hash"]
        return out

    def axis(self, path: str) -> list[Any]:
        """Every value `path` takes among the runs, in axis order."""
        self.refresh()
        self._require(path, "path", among=self._params_present())
        return self._axis(path)

    def _axis(self, path: str) -> list[Any]:
        def make() -> list[Any]:
            rows = self._query(f"SELECT DISTINCT {quote_name(path)} FROM {self.table}")
            return sorted((plain(r[0]) for r in rows), key=axis_sort_key)

        return self.cached(("axis", path), make)

    # ------------------------------------------------------------ numpy columns
    # Read under `self._lock` (the table cannot change meanwhile), indexed by row id.
    def _slots(self) -> int:
        """One more than the largest row id: the length of the numpy columns."""
        return self.cached(("slots",), lambda: int(
            self._query(f"SELECT coalesce(max(rowid) + 1, 0) FROM {self.table}")[0][0]))

    def _metric_column(self, metric: str) -> FloatArray:
        """`metric` by row id as float64 (NaN where undefined)."""
        def make() -> FloatArray:
            out = np.full(self._slots(), np.nan)
            fetched = self._fetch(f"SELECT rowid, CAST({quote_name(metric)} AS DOUBLE) AS v "
                                  f"FROM {self.table}")
            out[fetched["rowid"]] = np.ma.filled(fetched["v"], np.nan)
            return out

        return self.store.columns.get((self.table, self.version, "metric", metric), make)

    def _code_column(self, path: str, values: list[Any]) -> IntArray:
        """Each run's position of its `path` value in `values` (the axis), by row id; -1 for
        a row id that is no run."""
        def make() -> IntArray:
            out = np.full(self._slots(), -1, dtype=np.int64)
            # the axis values joined back to the column: one hash join, for any column type
            fetched = self._fetch(
                f"SELECT t.rowid, v.code FROM {self.table} t JOIN (SELECT "
                f"unnest(CAST(? AS {self._types[path]}[])) AS value, "
                f"unnest(CAST(? AS BIGINT[])) AS code) v "
                f"ON t.{quote_name(path)} IS NOT DISTINCT FROM v.value",
                [values, list(range(len(values)))])
            out[fetched["rowid"]] = fetched["code"]
            return out

        return self.store.columns.get((self.table, self.version, "codes", path), make)

    def _selected(self, where: str, params: Sequence[Any]) -> BoolArray | None:
        """The runs passing a compiled condition, as a mask by row id (None: every run)."""
        if where == "(TRUE)" and not params:
            return None
        slots = self._slots()
        if slots == 0:
            return np.zeros(0, dtype=np.bool_)
        # one bit per row id, as text: a sixth of the bytes of the row ids themselves
        bits = self._query(f"SELECT bitstring_agg(rowid, 0, {slots - 1}) FROM {self.table} "
                           f"WHERE {where}", params)[0][0]
        if bits is None:  # no run passes
            return np.zeros(slots, dtype=np.bool_)
        mask: BoolArray = np.frombuffer(str(bits).encode("ascii"), dtype=np.uint8) == ord("1")
        return mask

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        cursor = self.store.cursor()
        try:
            fetched: dict[str, Any] = cursor.execute(sql, list(params)).fetchnumpy()
            return fetched
        finally:
            cursor.close()

    # ---------------------------------------------------------------- queries
    def count(self) -> int:
        """Runs with a result."""
        self.refresh()
        if not self._columns:
            return 0
        return self.cached(("count",), lambda: int(
            self._query(f"SELECT count(*) FROM {self.table}")[0][0]))

    def page(self, sweep_id: str, sort: Sequence[str], filter_text: str | None, limit: int,
             offset: int, distinct: bool = False) -> RunsPage:
        """A page of runs sorted by `sort` keys (`-` descending; ties by combination id). With
        `distinct`, one run per outcome (`outcome_hash`, the trade sequence): the first in
        that order of the runs that share it, with `same`, how many of the runs that pass the
        filter do (a run without a hash, written before sweeps had them, is its own)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit: {limit} is not between 1 and {MAX_LIMIT:,}")
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset: {offset} is not between 0 and {MAX_OFFSET:,}")
        self.refresh()
        if not self._columns:
            compile_filter(filter_text, {})  # an empty sweep still names a bad filter
            return RunsPage(sweep=sweep_id, total=0, offset=offset, limit=limit,
                            sort=list(sort), filter=filter_text, distinct=distinct, rows=[])
        return self.cached(("page", sweep_id, tuple(sort), filter_text, limit, offset, distinct),
                           lambda: self._page(sweep_id, sort, filter_text, limit, offset,
                                              distinct))

    def _page(self, sweep_id: str, sort: Sequence[str], filter_text: str | None, limit: int,
              offset: int, distinct: bool) -> RunsPage:
        order = compile_sort(sort, self._columns)
        where, params = self._where(filter_text, ())
        names = list(self._columns)
        select = ", ".join(quote_name(n) for n in names)
        order_by = f"{order}, combo" if order else "combo"
        if distinct and "outcome_hash" in self._types:
            firsts = self._first_of_outcomes(where, params, order_by, sort, offset + limit)
            page = firsts[offset:offset + limit]
            same = self._sharing(where, params, [h for _, h in page if h is not None])
            wanted = [combo for combo, _ in page]
            at = names.index("combo")
            found = {int(r[at]): r for r in self._query(
                f"SELECT {select} FROM {self.table} WHERE combo IN (SELECT unnest(?))",
                [wanted])}
            total = self.cached(("outcomes", filter_text), lambda: int(self._query(
                f"SELECT count(DISTINCT outcome_hash) + count(*) FILTER (outcome_hash IS NULL) "
                f"FROM {self.table} WHERE {where}", params)[0][0]))
            return RunsPage(sweep=sweep_id, total=total, offset=offset, limit=limit,
                            sort=list(sort), filter=filter_text, distinct=True,
                            rows=[self._row(names, found[combo],
                                            same=1 if h is None else same[h])
                                  for combo, h in page])
        rows = self._query(f"SELECT {select} FROM {self.table} WHERE {where} ORDER BY "
                           f"{order_by} LIMIT ? OFFSET ?", [*params, limit, offset])
        total = (self.count() if filter_text is None or not filter_text.strip() else
                 int(self._query(f"SELECT count(*) FROM {self.table} WHERE {where}",
                                 params)[0][0]))
        return RunsPage(sweep=sweep_id, total=total, offset=offset, limit=limit,
                        sort=list(sort), filter=filter_text, distinct=distinct,
                        rows=[self._row(names, r, same=1 if distinct else None) for r in rows])

    def _first_of_outcomes(self, where: str, params: list[Any], order_by: str,
                           sort: Sequence[str], n: int) -> list[tuple[int, int | None]]:
        """The first `n` outcomes in the order `order_by` of the runs passing `where`, each
        as (its first run's combo, its hash; None for a run without one, its own outcome).
        The sorted runs are read a few times `n` at a time (a top-N sort, ~15 ms at 10^6
        runs), growing until `n` outcomes are among them; past `_DISTINCT_SCAN` runs, one
        window over every run picks them (~120 ms at 10^6)."""
        k = max(4 * n, 256)
        while k <= _DISTINCT_SCAN:
            rows = self._query(f"SELECT combo, outcome_hash FROM {self.table} WHERE {where} "
                               f"ORDER BY {order_by} LIMIT ?", [*params, k])
            seen: set[int] = set()
            firsts: list[tuple[int, int | None]] = []
            for combo, outcome in rows:
                if outcome is None or outcome not in seen:
                    if outcome is not None:
                        seen.add(outcome)
                    firsts.append((int(combo), outcome))
                    if len(firsts) == n:
                        return firsts
            if len(rows) < k:  # every run read: fewer outcomes than asked for
                return firsts
            k *= 4
        outcome = "outcome_hash, CASE WHEN outcome_hash IS NULL THEN combo END"
        keys = "".join(f"{quote_name(name)}, " for name in dict.fromkeys(
            sort_key(raw)[0] for raw in sort) if name != "combo")
        rows = self._query(
            f"SELECT combo, outcome_hash FROM (SELECT combo, outcome_hash, {keys}row_number() "
            f"OVER (PARTITION BY {outcome} ORDER BY {order_by}) AS k FROM {self.table} "
            f"WHERE {where}) WHERE k = 1 ORDER BY {order_by} LIMIT ?", [*params, n])
        return [(int(combo), h) for combo, h in rows]

    def _sharing(self, where: str, params: list[Any], outcomes: list[int]) -> dict[int, int]:
        """How many runs passing `where` have each of `outcomes`."""
        if not outcomes:
            return {}
        return {int(h): int(n) for h, n in self._query(
            f"SELECT outcome_hash, count(*) FROM {self.table} WHERE ({where}) AND "
            f"outcome_hash IN (SELECT unnest(?)) GROUP BY outcome_hash", [*params, outcomes])}

    def run(self, param_hash: str) -> RunRow:
        """One run by its parameter hash."""
        self.refresh()
        if not self._columns:
            raise NotFound(f"run {param_hash}: the sweep has no results yet")
        names = list(self._columns)
        select = ", ".join(quote_name(n) for n in names)
        rows = self._query(f"SELECT {select} FROM {self.table} WHERE param_hash = ? LIMIT 1",
                           [param_hash])
        if not rows:
            raise NotFound(f"run {param_hash}: not among the sweep's results")
        return self._row(names, rows[0])

    def heatmap(self, x: str, y: str, metric: str, agg: Aggregate, higher_is_better: bool,
                fixed: Sequence[str] = (), filter_text: str | None = None) -> Heatmap:
        """`metric` over the (x, y) cells, reduced by `agg` over the other paths' runs (those
        passing `fixed` PATH:VALUE pins and `filter_text`), with each cell's best run."""
        self.refresh()
        if agg not in AGGREGATES:
            raise QueryError(f"agg: {agg!r} is not one of {', '.join(AGGREGATES)}")
        if not self._columns:
            return Heatmap(x=x, y=y, metric=metric, agg=agg, higher_is_better=higher_is_better,
                           where={}, x_values=[], y_values=[], values=[], counts=[], best=[],
                           runs=0)
        params = self._params_present()
        self._require(x, "x", among=params)
        self._require(y, "y", among=params)
        if x == y:
            raise QueryError(f"x and y are both {x!r}")
        self._require(metric, "metric", ("number",))
        xs, ys = self.axis(x), self.axis(y)
        if len(xs) * len(ys) > MAX_HEATMAP_CELLS:
            raise QueryError(f"x, y: {len(xs):,} x {len(ys):,} cells is more than "
                             f"{MAX_HEATMAP_CELLS:,}")
        def make() -> Heatmap:
            return self._heatmap(x, y, xs, ys, metric, agg, higher_is_better, fixed,
                                 filter_text)

        if len(xs) * len(ys) > _CACHED_CELLS:  # large answers are not kept
            return make()
        return self.cached(("heatmap", x, y, metric, agg, higher_is_better, tuple(fixed),
                            filter_text), make)

    def _heatmap(self, x: str, y: str, xs: list[Any], ys: list[Any], metric: str,
                 agg: Aggregate, higher_is_better: bool, fixed: Sequence[str],
                 filter_text: str | None) -> Heatmap:
        where, values = self._where(filter_text, fixed)
        with self._lock:  # the table stays as it is while its columns are read
            if self._axis(x) != xs or self._axis(y) != ys:  # changed since they were read
                xs, ys = self._axis(x), self._axis(y)
            cells = self._code_column(y, ys) * len(xs) + self._code_column(x, xs)
            stats = group_stats(self._metric_column(metric), cells, len(xs) * len(ys),
                                higher_is_better=higher_is_better,
                                selected=self._selected(where, values),
                                quantiles=(0.5,) if agg == "median" else ())
            best = self._hashes(stats.best)
        pins = {item.partition(":")[0]: parse_value(item.partition(":")[2],
                                                    self._columns[item.partition(":")[0]],
                                                    item.partition(":")[0]) for item in fixed}
        return heatmap_of_groups(stats, agg, best, x=x, y=y, metric=metric,
                                 higher_is_better=higher_is_better, where=pins, x_values=xs,
                                 y_values=ys)

    def slices(self, path: str, metric: str, higher_is_better: bool,
               filter_text: str | None = None) -> Slices:
        """Per value of `path`: the distribution of `metric` over the other paths' runs."""
        self.refresh()
        if not self._columns:
            return Slices(path=path, metric=metric, higher_is_better=higher_is_better, rows=[])
        self._require(path, "path", among=self._params_present())
        self._require(metric, "metric", ("number",))
        return self.cached(("slices", path, metric, higher_is_better, filter_text),
                           lambda: self._slices(path, metric, higher_is_better, filter_text))

    def _slices(self, path: str, metric: str, higher_is_better: bool,
                filter_text: str | None) -> Slices:
        where, params = self._where(filter_text, ())
        with self._lock:  # the table stays as it is while its columns are read
            values = self._axis(path)
            stats = group_stats(self._metric_column(metric), self._code_column(path, values),
                                len(values), higher_is_better=higher_is_better,
                                selected=self._selected(where, params),
                                quantiles=(0.25, 0.5, 0.75))
        out = []
        for i in np.flatnonzero(stats.rows):
            q1, median, q3 = stats.quantiles[i]
            out.append(SliceRow(value=values[i], count=int(stats.count[i]),
                                min=finite_or_none(stats.min[i]), q1=finite_or_none(q1),
                                median=finite_or_none(median), q3=finite_or_none(q3),
                                max=finite_or_none(stats.max[i]),
                                mean=finite_or_none(stats.mean[i])))
        return Slices(path=path, metric=metric, higher_is_better=higher_is_better, rows=out)

    def distribution(self, metric: str, higher_is_better: bool, bins: int,
                     filter_text: str | None = None) -> Distribution:
        """The histogram (`bins` equal bins from the lowest to the highest value), mean and
        standard deviation of `metric`, and its best-so-far records in combination order."""
        self.refresh()
        if not self._columns:
            return Distribution(metric=metric, higher_is_better=higher_is_better, runs=0,
                                undefined=0, mean=None, std=None, edges=[], counts=[],
                                record_combos=[], record_values=[])
        self._require(metric, "metric", ("number",))
        return self.cached(("distribution", metric, higher_is_better, bins, filter_text),
                           lambda: self._distribution(metric, higher_is_better, bins,
                                                      filter_text))

    def _distribution(self, metric: str, higher_is_better: bool, bins: int,
                      filter_text: str | None) -> Distribution:
        where, params = self._where(filter_text, ())
        m = quote_name(metric)
        defined, total, low, high, mean, std = self._query(
            f"SELECT count({m}), count(*), min({m}), max({m}), avg({m}), stddev_samp({m}) "
            f"FROM {self.table} WHERE {where}", params)[0]
        edges: list[float] = []
        counts: list[int] = []
        if defined:
            lo, hi = float(low), float(high)
            width = (hi - lo) / bins if hi > lo else 1.0
            rows = self._query(
                f"SELECT least(CAST(floor(({m} - ?) / ?) AS BIGINT), ?) AS b, count(*) "
                f"FROM {self.table} WHERE ({where}) AND {m} IS NOT NULL GROUP BY b",
                [lo, width, bins - 1, *params])
            n_bins = bins if hi > lo else 1
            counts = [0] * n_bins
            for b, n in rows:
                counts[min(int(b), n_bins - 1)] += int(n)
            edges = [lo + i * width for i in range(n_bins + 1)]
        best = "max" if higher_is_better else "min"
        beats = ">" if higher_is_better else "<"
        records = self._query(
            f"SELECT combo, {m} FROM (SELECT combo, {m}, {best}({m}) OVER (ORDER BY combo "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM {self.table} "
            f"WHERE ({where}) AND {m} IS NOT NULL) WHERE before IS NULL OR {m} {beats} before "
            f"ORDER BY combo", params)
        return Distribution(
            metric=metric, higher_is_better=higher_is_better, runs=int(defined),
            undefined=int(total) - int(defined), mean=finite_or_none(mean),
            std=finite_or_none(std), edges=edges, counts=counts,
            record_combos=[int(r[0]) for r in records],
            record_values=[float(r[1]) for r in records])

    def top(self, metric: str, higher_is_better: bool, n: int) -> list[RunRow]:
        """The best `n` outcomes by `metric` (undefined last), each as its best run: the
        neighbourhoods of copies of one strategy would only repeat its number."""
        self.refresh()
        if not self._columns:
            return []
        self._require(metric, "metric", ("number",))
        sign = "-" if higher_is_better else ""
        return self.page("", [f"{sign}{metric}"], None, n, 0, distinct=True).rows

    def neighbourhood(self, row: RunRow, metric: str, higher_is_better: bool,
                      zips: Sequence[Sequence[str]] = ()) -> Neighbourhood:
        """`metric` around a run: over the runs within one step (in axis order) of it on every
        grid path, itself included, and one step down and up each axis alone: a path, or the
        paths of a zip group (`zips`, the sweep file's) together, which are one axis of the
        grid, named by its first path in grid order."""
        key = ("neighbourhood", row.param_hash, metric, higher_is_better,
               tuple(map(tuple, zips)))
        return self.cached(key, lambda: self._neighbourhood(row, metric, higher_is_better, zips))

    def _neighbourhood(self, row: RunRow, metric: str, higher: bool,
                       zips: Sequence[Sequence[str]]) -> Neighbourhood:
        steps: dict[str, tuple[int, list[Any]]] = {}
        for path in self._params_present():
            values = self.axis(path)
            at = [axis_identity(v) for v in values].index(axis_identity(row.params[path]))
            steps[path] = (at, values)
        around = [v for v in self._metric_where(metric, {
            path: values[max(at - 1, 0):at + 2] for path, (at, values) in steps.items()})
            if v is not None]
        # a zip group's first path in grid order leads it, as the browser's axes do
        zipped = {path: [p for p in steps if p in group] for group in zips for path in group}
        sensitivity: dict[str, list[float | None]] = {}
        for path in steps:
            axis = zipped.get(path) or [path]
            if axis[0] != path:  # a zip group is stepped once, under its first path
                continue
            at, values = steps[path]
            found: list[float | None] = []
            for step in (-1, 1):
                hits: list[float] = []
                if 0 <= at + step < len(values):
                    # the rest of a zip group follows its first path (pinned, they would pair
                    # values the group does not)
                    pins = {p: [row.params[p]] for p in steps if p not in axis}
                    pins[path] = [values[at + step]]
                    hits = [v for v in self._metric_where(metric, pins) if v is not None]
                found.append(hits[0] if hits else None)
            sensitivity[path] = found
        worst = (min(around) if higher else max(around)) if around else None
        return Neighbourhood(
            param_hash=row.param_hash, params=row.params, value=row.kpis.get(metric),
            mean=float(sum(around) / len(around)) if around else None, worst=worst,
            neighbours=len(around), sensitivity=sensitivity)

    def _metric_where(self, metric: str, pins: dict[str, list[Any]]) -> list[float | None]:
        """`metric` of the runs whose every pinned path takes one of its listed values."""
        terms, params = [], []
        for path, values in pins.items():
            options = []
            for value in values:
                if value is None:
                    options.append(f"{quote_name(path)} IS NULL")
                else:
                    options.append(f"{quote_name(path)} IS NOT DISTINCT FROM ?")
                    params.append(value)
            terms.append("(" + " OR ".join(options) + ")")
        where = " AND ".join(terms) or "TRUE"
        rows = self._query(f"SELECT {quote_name(metric)} FROM {self.table} WHERE {where}",
                           params)
        return [finite_or_none(r[0]) for r in rows]
