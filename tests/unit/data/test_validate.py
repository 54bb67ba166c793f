"""Validation: each check finds what it should, and each policy does what it says."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from gridbt.data.errors import ValidationError
from gridbt.data.schema import conform
from gridbt.data.validate import CHECKS, RowOrigins, ValidationConfig, today, validate
from gridbt.testing import ChainQuote, chain_from_quotes

D1, D2, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)
EXP = dt.date(2024, 4, 19)


def q(
    day: dt.date = D1,
    strike: float = 100.0,
    right: str = "P",
    bid: float = 1.0,
    ask: float = 1.2,
    spot: float = 100.0,
    expiry: dt.date = EXP,
    **kw: float,
) -> ChainQuote:
    greeks = {"delta": -0.4, "gamma": 0.01, "vega": 0.1, "theta": -0.02, "iv": 0.2} | kw
    return ChainQuote(
        date=day, expiry=expiry, strike=strike, right=right, bid=bid, ask=ask, spot=spot, **greeks
    )


def in_given_order(quotes: list[ChainQuote]) -> pa.Table:
    """A canonical chain of `quotes` as they are listed, not sorted (as a vendor file's)."""
    columns = {k: [getattr(x, k) for x in quotes] for k in ChainQuote.__dataclass_fields__}
    return conform(pa.table(columns | {"underlying": ["SPX"] * len(quotes)}))


def report_of(
    quotes: list[ChainQuote], **policies: str
) -> tuple[pa.Table, dict[str, tuple[int, int]]]:
    table, report = validate(chain_from_quotes(quotes), ValidationConfig().with_policies(policies))
    return table, {c.name: (c.found, c.touched) for c in report.checks}


def test_clean_chain_passes_every_check() -> None:
    table, found = report_of([q(), q(strike=105.0), q(day=D2)])
    assert table.num_rows == 3
    assert all(f == (0, 0) for f in found.values())


@pytest.mark.parametrize("policy", ["drop", "repair", "report", "error"])
def test_crossed_quote(policy: str) -> None:
    quotes = [q(), q(strike=105.0, bid=2.0, ask=1.5)]
    if policy == "error":
        with pytest.raises(ValidationError, match=r"crossed_quote.*strike 105\.0.*bid-ask=0\.5"):
            report_of(quotes, crossed_quote="error")
        return
    table, found = report_of(quotes, crossed_quote=policy)
    assert found["crossed_quote"] == (1, 0 if policy == "report" else 1)
    rows = {r["strike"]: (r["bid"], r["ask"]) for r in table.to_pylist()}
    if policy == "drop":
        assert 105.0 not in rows
    elif policy == "repair":
        assert rows[105.0] == (1.5, 2.0)
    else:
        assert rows[105.0] == (2.0, 1.5)


@pytest.mark.parametrize("policy", ["drop", "repair", "report"])
def test_negative_price(policy: str) -> None:
    table, found = report_of([q(), q(strike=95.0, bid=-0.05, ask=0.1)], negative_price=policy)
    assert found["negative_price"][0] == 1
    rows = {r["strike"]: r["bid"] for r in table.to_pylist()}
    expected = {"drop": None, "repair": 0.0, "report": -0.05}[policy]
    assert rows.get(95.0) == expected


@pytest.mark.parametrize("policy", ["drop", "repair", "report"])
def test_duplicate_key(policy: str) -> None:
    quotes = [q(bid=1.0, ask=1.4), q(bid=1.1, ask=1.2), q(strike=105.0)]
    table, found = report_of(quotes, duplicate_key=policy)
    assert found["duplicate_key"][0] == 2
    spreads = [(r["bid"], r["ask"]) for r in table.to_pylist() if r["strike"] == 100.0]
    if policy == "drop":
        assert spreads == []
    elif policy == "repair":
        assert spreads == [(1.1, 1.2)]  # the tightest spread is kept
        assert found["duplicate_key"][1] == 1
    else:
        assert len(spreads) == 2


def test_duplicate_key_error_names_the_key() -> None:
    with pytest.raises(ValidationError, match=r"duplicate_key.*2024-03-04.*strike 100\.0"):
        report_of([q(), q()], duplicate_key="error")


def test_expiry_before_date() -> None:
    quotes = [q(), q(day=D2, expiry=D1)]
    table, found = report_of(quotes)
    assert found["expiry_before_date"] == (1, 1)
    assert table.num_rows == 1
    with pytest.raises(ValidationError, match="expiry_before_date"):
        report_of(quotes, expiry_before_date="error")


def test_missing_spot_repair_uses_same_day_then_previous_day() -> None:
    quotes = [
        q(spot=101.0),
        q(strike=105.0, spot=float("nan")),
        q(day=D2, spot=float("nan")),
        q(day=D3, spot=103.0),
    ]
    table, found = report_of(quotes, missing_spot="repair")
    assert found["missing_spot"] == (2, 2)
    spots = {(r["date"], r["strike"]): r["spot"] for r in table.to_pylist()}
    assert spots[(D1, 105.0)] == 101.0
    assert spots[(D2, 100.0)] == 101.0


def test_missing_spot_without_any_earlier_spot_is_an_error() -> None:
    with pytest.raises(ValidationError, match="spot is missing and cannot be repaired"):
        report_of([q(spot=float("nan"))], missing_spot="repair")


def test_nan_greeks_repair_solves_iv_from_the_mid() -> None:
    from gridbt.data import blackscholes

    years = (EXP - D1).days / 365.0
    mid = float(blackscholes.price(100.0, 100.0, years, 0.0, 0.0, 0.25, False))
    nan = float("nan")
    quotes = [q(bid=mid - 0.05, ask=mid + 0.05, iv=nan, delta=nan, gamma=nan, vega=nan, theta=nan)]
    table, found = report_of(quotes, nan_greeks="repair")
    assert found["nan_greeks"] == (1, 1)
    row = table.to_pylist()[0]
    assert row["iv"] == pytest.approx(0.25, rel=1e-8)
    g = blackscholes.greeks(100.0, 100.0, years, 0.0, 0.0, 0.25, False)
    assert row["delta"] == pytest.approx(float(g.delta), rel=1e-7)
    assert row["vega"] == pytest.approx(float(g.vega), rel=1e-7)


def test_nan_greeks_repair_counts_unsolvable_iv() -> None:
    nan = float("nan")
    # a put priced below intrinsic value admits no volatility
    quotes = [q(strike=150.0, bid=1.0, ask=1.2, iv=nan, delta=nan, gamma=nan, vega=nan, theta=nan)]
    _, report = validate(chain_from_quotes(quotes), ValidationConfig())
    assert report.unsolvable_iv == 1


def test_calendar_gap_is_reported_on_missing_trading_days_only() -> None:
    # Mar 7 and 8 2024 are trading days; the weekend of Mar 9-10 is not
    quotes = [q(day=D1), q(day=dt.date(2024, 3, 11))]
    _, found = report_of(quotes)
    assert found["calendar_gap"] == (4, 0)  # Mar 5, 6, 7, 8
    with pytest.raises(ValidationError, match="calendar_gap.*2024-03-05"):
        report_of(quotes, calendar_gap="error")


def test_output_is_sorted_canonically() -> None:
    quotes = [q(day=D2, strike=90.0), q(strike=105.0, right="C"), q(strike=95.0), q()]
    table, _ = report_of(quotes)
    keys = [(r["date"], r["right"], r["strike"]) for r in table.to_pylist()]
    assert keys == [(D1, "C", 105.0), (D1, "P", 95.0), (D1, "P", 100.0), (D2, "P", 90.0)]


def test_policies_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="expiry_before_date: 'repair' is not one of"):
        ValidationConfig(expiry_before_date="repair")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown validation check"):
        ValidationConfig().with_policies({"nonsense": "drop"})
    assert set(CHECKS) == {
        f for f in ValidationConfig.__dataclass_fields__ if f not in ("rate", "dividend")
    }


def test_report_counts_rows_in_and_out() -> None:
    quotes = [q(), q(strike=105.0, bid=2.0, ask=1.0), q(day=D2, expiry=D1)]
    _, report = validate(chain_from_quotes(quotes), ValidationConfig())
    assert (report.rows_in, report.rows_out) == (3, 1)
    assert not report.ok
    assert any("crossed_quote" in line for line in report.lines())
    assert np.isfinite(report.rows_out)


# ------------------------------------------------ rows named from 1; quotes from the future


def test_an_example_names_the_input_data_row_counted_from_1() -> None:
    """Row numbers are 1-based data rows of the input, as in parse errors, whatever the checks
    did to the order (duplicate_key sorts the table) or the rows (drop policies)."""
    quotes = [q(day=D2), q(day=D2, strike=90.0, bid=-1.0), q(strike=105.0, bid=2.0, ask=1.5)]
    with pytest.raises(ValidationError, match=r"first: data row 3: date 2024-03-04, .*"
                                              r"strike 105\.0"):
        validate(in_given_order(quotes), ValidationConfig(crossed_quote="error"))
    late = [q(day=D2), q(day=D3), q(strike=110.0, spot=float("nan")), q()]
    _, report = validate(in_given_order(late), ValidationConfig(missing_spot="report"))
    example = {c.name: c.example for c in report.checks}["missing_spot"]
    assert example.startswith("data row 3: date 2024-03-04")  # second row once sorted


def test_examples_name_the_file_when_rows_come_from_several() -> None:
    table = chain_from_quotes([q(), q(strike=105.0), q(strike=110.0, bid=2.0, ask=1.0)])
    origins = RowOrigins(("a.csv", "b.csv"), np.array([0, 0, 1], dtype=np.int32),
                         np.array([1, 2, 7], dtype=np.int64))
    with pytest.raises(ValidationError, match=r"first: b\.csv data row 7: date 2024-03-04"):
        validate(table, ValidationConfig(crossed_quote="error"), source="a.csv, b.csv",
                 origins=origins)


@pytest.mark.parametrize("policy", ["report", "drop", "error"])
def test_quotes_dated_after_today_are_reported(policy: str) -> None:
    future = dt.date(2099, 3, 4)
    quotes = [q(), q(day=future, expiry=dt.date(2099, 4, 17))]
    if policy == "error":
        with pytest.raises(ValidationError, match=r"future_date.*data row 2: date 2099-03-04"):
            report_of(quotes, future_date="error")
        return
    table, found = report_of(quotes, future_date=policy)
    assert found["future_date"] == (1, 1 if policy == "drop" else 0)
    assert table.num_rows == (1 if policy == "drop" else 2)
    assert report_of([q()])[1]["future_date"] == (0, 0)


def test_future_dates_are_reported_by_default_and_make_the_report_not_ok() -> None:
    _, report = validate(chain_from_quotes([q(day=dt.date(2099, 3, 4),
                                              expiry=dt.date(2099, 4, 17))]))
    line = next(line for line in report.lines() if line.startswith("future_date"))
    assert "report" in line and "found          1" in line and "2099-03-04" in line
    assert not report.ok
    assert today() >= dt.datetime.now(dt.UTC).date()
