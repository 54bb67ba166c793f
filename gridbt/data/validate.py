"""Chain validation: every check reports what it found and what its policy did to it.

Policies: `error` raises `ValidationError` naming the first offending row; `drop` removes the
offending rows; `repair` fixes them in place (what "fix" means is listed per check in
`CHECKS`); `report` only counts. Nothing is ever dropped without being counted.

A row is named by where it came from (`RowOrigins`): its file and its data row there, counted
from 1 as in every data error (`gridbt.data.errors`): the rows of a vendor file for an import,
those of a chain's Parquet files for a stored chain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridbt._typing import BoolArray, FloatArray, IntArray, PathLike
from gridbt.data import blackscholes
from gridbt.data.calendar import is_trading_day
from gridbt.data.errors import ValidationError
from gridbt.data.schema import GREEK_FIELDS, conform, sort_order
from gridbt.data.store import LoadedChain, load_chain, partition_path

__all__ = [
    "CHECKS",
    "CheckResult",
    "Policy",
    "RowOrigins",
    "ValidationConfig",
    "ValidationReport",
    "today",
    "validate",
    "validate_chain",
]

Policy = Literal["error", "drop", "repair", "report"]

#: check name -> (policies it accepts, what `repair` does)
CHECKS: dict[str, tuple[tuple[Policy, ...], str]] = {
    "crossed_quote": (("error", "drop", "repair", "report"), "swap bid and ask"),
    "negative_price": (("error", "drop", "repair", "report"), "clip the negative side to 0"),
    "duplicate_key": (
        ("error", "drop", "repair", "report"),
        "keep one row per key: the tightest non-crossed spread, then the first",
    ),
    "expiry_before_date": (("error", "drop", "report"), "-"),
    "future_date": (("error", "drop", "report"), "-"),
    "missing_spot": (
        ("error", "drop", "repair", "report"),
        "use the day's spot from its other rows, else the previous day's",
    ),
    "nan_greeks": (
        ("error", "drop", "repair", "report"),
        "solve iv from the mid and compute greeks by Black-Scholes (rate, dividend from config)",
    ),
    "calendar_gap": (("error", "report"), "-"),
}

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class ValidationConfig:
    """Per-check policies plus the rates used when greeks are repaired."""

    crossed_quote: Policy = "drop"
    negative_price: Policy = "drop"
    duplicate_key: Policy = "repair"
    expiry_before_date: Policy = "drop"
    future_date: Policy = "report"
    missing_spot: Policy = "repair"
    nan_greeks: Policy = "repair"
    calendar_gap: Policy = "report"
    rate: float = 0.0
    dividend: float = 0.0

    def __post_init__(self) -> None:
        for name, (allowed, _) in CHECKS.items():
            policy = getattr(self, name)
            if policy not in allowed:
                raise ValueError(
                    f"validation policy {name}: {policy!r} is not one of {', '.join(allowed)}"
                )

    def with_policies(self, policies: dict[str, str]) -> ValidationConfig:
        """Return a copy with some policies replaced (`{"crossed_quote": "error"}`)."""
        unknown = set(policies) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown validation check(s): {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in CHECKS} | policies
        return ValidationConfig(**values, rate=self.rate, dividend=self.dividend)


@dataclass(frozen=True)
class CheckResult:
    name: str
    policy: Policy
    found: int
    touched: int
    example: str = ""


@dataclass
class ValidationReport:
    rows_in: int = 0
    rows_out: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    unsolvable_iv: int = 0

    @property
    def ok(self) -> bool:
        return all(c.found == 0 for c in self.checks)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "unsolvable_iv": self.unsolvable_iv,
            "checks": [c.__dict__ for c in self.checks],
        }

    def lines(self) -> list[str]:
        out = [f"rows in {self.rows_in:,}, rows out {self.rows_out:,}"]
        for c in self.checks:
            note = f"  e.g. {c.example}" if c.example and c.found else ""
            out.append(
                f"{c.name:<20} {c.policy:<7} found {c.found:>10,}  touched {c.touched:>10,}{note}"
            )
        if self.unsolvable_iv:
            out.append(f"quotes with no solvable iv: {self.unsolvable_iv:,} (greeks left NaN)")
        return out


@dataclass(frozen=True)
class RowOrigins:
    """Where each row of a table came from: file `sources[source[i]]`, data row `row[i]`."""

    sources: tuple[str, ...]
    #: int32, an index into `sources` per row.
    source: np.ndarray
    #: int64, the data row in its file, from 1.
    row: IntArray

    @classmethod
    def of_table(cls, name: str, rows: int) -> RowOrigins:
        """The rows of one table or file, numbered from 1."""
        return cls((name,), np.zeros(rows, np.int32), np.arange(1, rows + 1, dtype=np.int64))

    def describe(self, position: int) -> str:
        """`data row N`, preceded by the file when there are several."""
        row = f"data row {int(self.row[position])}"
        if len(self.sources) == 1:
            return row
        return f"{self.sources[int(self.source[position])]} {row}"


def today() -> dt.date:
    """Today's date, the later of the UTC and the local one: a quote dated after it is in the
    future wherever the user is."""
    now = dt.datetime.now(dt.UTC)
    return max(now.date(), now.astimezone().date())


def _col(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(table.column(name).to_numpy(), dtype=np.float64)


def _date_text(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=int(days))).isoformat()


class _Validator:
    def __init__(self, table: pa.Table, config: ValidationConfig, source: str,
                 origins: RowOrigins) -> None:
        if len(origins.row) != table.num_rows:
            raise ValueError(f"{len(origins.row)} row origins for {table.num_rows} rows")
        self.table = table
        self.config = config
        self.source = source
        self.origins = origins
        #: the position in the input table of each row of `table` (rows are dropped, sorted)
        self.position = np.arange(table.num_rows, dtype=np.int64)
        self.report = ValidationReport(rows_in=table.num_rows)

    def _describe_row(self, row: int) -> str:
        rec = self.table.slice(row, 1).to_pylist()[0]
        return (
            f"{self.origins.describe(int(self.position[row]))}: date {rec['date']}, "
            f"expiry {rec['expiry']}, strike {rec['strike']}, right {rec['right']}"
        )

    def _keep(self, keep: BoolArray) -> None:
        self.table = self.table.filter(pa.array(keep))
        self.position = self.position[keep]

    def _apply(self, name: str, mask: BoolArray, values: FloatArray | None, column: str) -> bool:
        """Record a check; raise under `error`; drop under `drop`. Return True if repair is due."""
        policy: Policy = getattr(self.config, name)
        found = int(mask.sum())
        example = ""
        if found:
            row = int(np.flatnonzero(mask)[0])
            value = None if values is None else float(values[row])
            example = self._describe_row(row) + (
                "" if value is None else f", {column}={value!r}"
            )
        if found and policy == "error":
            raise ValidationError(
                f"check {name} failed on {found:,} row(s); first: {example}",
                path=self.source,
                column=column,
            )
        touched = found if policy in ("drop", "repair") else 0
        self.report.checks.append(CheckResult(name, policy, found, touched, example))
        if found and policy == "drop":
            self._keep(~mask)
        return bool(found) and policy == "repair"

    def run(self) -> tuple[pa.Table, ValidationReport]:
        self._expiry_before_date()
        self._future_date()
        self._negative_price()
        self._crossed_quote()
        self._duplicate_key()
        self._missing_spot()
        self._nan_greeks()
        self._calendar_gap()
        self.report.rows_out = self.table.num_rows
        return self.table, self.report

    def _expiry_before_date(self) -> None:
        date = self.table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
        expiry = self.table.column("expiry").to_numpy().astype("datetime64[D]").astype(np.int64)
        self._apply("expiry_before_date", expiry < date, None, "expiry")

    def _future_date(self) -> None:
        date = self.table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
        limit = (today() - _EPOCH).days
        self._apply("future_date", date > limit, None, "date")

    def _negative_price(self) -> None:
        bid, ask = _col(self.table, "bid"), _col(self.table, "ask")
        mask = (bid < 0) | (ask < 0)
        if self._apply("negative_price", mask, np.where(bid < 0, bid, ask), "bid/ask"):
            self._set("bid", np.maximum(_col(self.table, "bid"), 0.0))
            self._set("ask", np.maximum(_col(self.table, "ask"), 0.0))

    def _crossed_quote(self) -> None:
        bid, ask = _col(self.table, "bid"), _col(self.table, "ask")
        mask = bid > ask
        if self._apply("crossed_quote", mask, bid - ask, "bid-ask"):
            self._set("bid", np.fmin(bid, ask))
            self._set("ask", np.fmax(bid, ask))

    def _duplicate_key(self) -> None:
        order = sort_order(self.table)
        keyed = self.table.take(order)
        self.table = keyed
        self.position = self.position[order.to_numpy()]
        date = keyed.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
        expiry = keyed.column("expiry").to_numpy().astype("datetime64[D]").astype(np.int64)
        strike = _col(keyed, "strike")
        right = pc.cast(keyed.column("right"), pa.string()).to_numpy(zero_copy_only=False)
        same = np.zeros(keyed.num_rows, dtype=bool)
        if keyed.num_rows > 1:
            same[1:] = (
                (date[1:] == date[:-1])
                & (expiry[1:] == expiry[:-1])
                & (strike[1:] == strike[:-1])
                & (right[1:] == right[:-1])
            )
        # A row is a duplicate if it shares its key with its predecessor or successor.
        dup = same.copy()
        dup[:-1] |= same[1:]
        policy = self.config.duplicate_key
        if policy == "repair" and dup.any():
            found = int(dup.sum())
            example = self._describe_row(int(np.flatnonzero(dup)[0]))
            spread = _col(keyed, "ask") - _col(keyed, "bid")
            spread = np.where(np.isfinite(spread) & (spread >= 0), spread, np.inf)
            group = np.cumsum(~same) - 1
            order = np.lexsort((np.arange(len(group)), spread, group))
            first = np.ones(len(order), dtype=bool)
            first[1:] = group[order][1:] != group[order][:-1]
            keep = np.zeros(len(group), dtype=bool)
            keep[order[first]] = True
            self._keep(keep)
            self.report.checks.append(
                CheckResult("duplicate_key", policy, found, int((~keep).sum()), example)
            )
            return
        self._apply("duplicate_key", dup, None, "date/expiry/strike/right")

    def _missing_spot(self) -> None:
        spot = _col(self.table, "spot")
        mask = ~(np.isfinite(spot) & (spot > 0))
        if self._apply("missing_spot", mask, spot, "spot"):
            date = self.table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
            days, inverse = np.unique(date, return_inverse=True)
            per_day = np.full(len(days), np.nan)
            good = ~mask
            # rows are day-sorted, so the last good row of each day gives its spot
            per_day[inverse[good]] = spot[good]
            for i in range(1, len(per_day)):
                if not np.isfinite(per_day[i]):
                    per_day[i] = per_day[i - 1]
            still = ~np.isfinite(per_day[inverse]) & mask
            if still.any():
                row = int(np.flatnonzero(still)[0])
                raise ValidationError(
                    "spot is missing and cannot be repaired (no earlier spot); "
                    + self._describe_row(row),
                    path=self.source,
                    column="spot",
                )
            self._set("spot", np.where(mask, per_day[inverse], spot))

    def _nan_greeks(self) -> None:
        values = np.column_stack([_col(self.table, g) for g in GREEK_FIELDS])
        mask = ~np.isfinite(values).all(axis=1)
        if not self._apply("nan_greeks", np.asarray(mask), None, "iv/delta/gamma/vega/theta"):
            return
        idx = np.flatnonzero(mask)
        date = self.table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
        expiry = self.table.column("expiry").to_numpy().astype("datetime64[D]").astype(np.int64)
        years = (expiry[idx] - date[idx]) / 365.0
        spot, strike = _col(self.table, "spot")[idx], _col(self.table, "strike")[idx]
        mid = 0.5 * (_col(self.table, "bid")[idx] + _col(self.table, "ask")[idx])
        is_call = pc.equal(pc.cast(self.table.column("right"), pa.string()), "C").to_numpy(
            zero_copy_only=False
        )[idx]
        rate, div = self.config.rate, self.config.dividend
        iv = _col(self.table, "iv")[idx]
        iv = np.where(
            np.isfinite(iv),
            iv,
            blackscholes.implied_vol(mid, spot, strike, years, rate, div, is_call),
        )
        self.report.unsolvable_iv = int((~np.isfinite(iv)).sum())
        g = blackscholes.greeks(spot, strike, years, rate, div, iv, is_call)
        for name, computed in zip(
            GREEK_FIELDS, (iv, g.delta, g.gamma, g.vega, g.theta), strict=True
        ):
            column = _col(self.table, name).copy()
            current = column[idx]
            column[idx] = np.where(np.isfinite(current), current, computed)
            self._set(name, column)

    def _calendar_gap(self) -> None:
        days = np.unique(
            self.table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
        )
        gaps: list[int] = []
        if len(days) > 1:
            present = set(days.tolist())
            for d in range(int(days[0]) + 1, int(days[-1])):
                if d not in present and is_trading_day(_EPOCH + dt.timedelta(days=d)):
                    gaps.append(d)
        policy = self.config.calendar_gap
        example = f"no quotes on trading day {_date_text(gaps[0])}" if gaps else ""
        if gaps and policy == "error":
            raise ValidationError(
                f"check calendar_gap failed on {len(gaps)} day(s); first: {example}",
                path=self.source,
                column="date",
            )
        self.report.checks.append(CheckResult("calendar_gap", policy, len(gaps), 0, example))

    def _set(self, name: str, values: FloatArray) -> None:
        index = self.table.schema.get_field_index(name)
        self.table = self.table.set_column(index, name, pa.array(values, type=pa.float64()))


def validate(
    table: pa.Table,
    config: ValidationConfig | None = None,
    *,
    source: PathLike = "<table>",
    origins: RowOrigins | None = None,
) -> tuple[pa.Table, ValidationReport]:
    """Check a chain, apply each check's policy, and return the clean sorted chain and a report.

    Parameters
    ----------
    table
        The chain, in any order.
    config
        The policies (defaults: `ValidationConfig()`).
    source
        What the table was read from, for messages.
    origins
        Where each row came from, for the examples; by default the table's own rows, from 1.

    Raises
    ------
    ValidationError
        When a check whose policy is `error` finds offending rows.
    """
    origins = origins or RowOrigins.of_table(str(source), table.num_rows)
    validator = _Validator(conform(table), config or ValidationConfig(), str(source), origins)
    return validator.run()


def validate_chain(
    chain_dir: PathLike,
    config: ValidationConfig | None = None,
    loaded: LoadedChain | None = None,
) -> tuple[pa.Table, ValidationReport]:
    """Validate a stored chain (read and checked against its manifest, unless `loaded` is the
    chain so read already), naming each row by its Parquet file and data row."""
    loaded = load_chain(chain_dir) if loaded is None else loaded
    years = sorted(loaded.manifest.rows_per_year, key=int)
    counts = [loaded.manifest.rows_per_year[year] for year in years]
    origins = RowOrigins(
        tuple(str(Path(chain_dir) / partition_path(year)) for year in years),
        np.repeat(np.arange(len(years), dtype=np.int32), counts),
        np.concatenate([np.arange(1, n + 1, dtype=np.int64) for n in [0, *counts]]),
    )
    return validate(loaded.table, config, source=chain_dir, origins=origins)
