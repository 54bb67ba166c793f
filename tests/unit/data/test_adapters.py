"""Vendor adapters against fixtures in each vendor's raw layout.

Expected values are rebuilt from the fixture text with the standard `csv` module (or come
from Black–Scholes), never from the adapters' own parsing.
"""

from __future__ import annotations

import csv
import gzip
import math
import shutil
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridbt.data import blackscholes
from gridbt.data.adapters import FORMATS, AdapterBatch, read_vendor_files
from gridbt.data.errors import DataError
from gridbt.data.schema import CHAIN_SCHEMA

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors"
OPTIONSDX = FIXTURES / "optionsdx" / "spx_eod_202401.txt"
CBOE_CALCS = FIXTURES / "cboe" / "UnderlyingOptionsEODCalcs_2024-01-05.csv"
CBOE_PLAIN = FIXTURES / "cboe" / "UnderlyingOptionsEOD_2024-01-05.csv"
ORATS = FIXTURES / "orats" / "ORATS_SMV_Strikes_20240105.csv"
GENERIC = FIXTURES / "generic" / "SPY_2019_lowercase.csv"
# theta (per year) and vega (per 1.0 of volatility) are in other units: left unmapped.
GENERIC_MAP = {
    "date": "quotedate",
    "underlying": "underlying",
    "expiry": "expiration",
    "strike": "strike",
    "right": "type",
    "bid": "bid",
    "ask": "ask",
    "spot": "underlying_last",
    "iv": "impliedvol",
    "delta": "delta",
    "gamma": "gamma",
    "volume": "volume",
    "open_interest": "openinterest",
}
NAN = float("nan")
Row = dict[str, Any]


# ----------------------------------------------------------------------------- helpers


def read(fmt: str, paths: Sequence[Path], **options: Any) -> tuple[list[AdapterBatch], pa.Table]:
    batches = list(read_vendor_files(fmt, paths, **options))
    return batches, pa.concat_tables([batch.table for batch in batches])


def flagged(batches: Iterable[AdapterBatch]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for batch in batches:
        for name, count in batch.flagged.items():
            totals[name] = totals.get(name, 0) + count
    return totals


def raw_rows(path: Path, normalize: Callable[[str], str] = str.strip) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [normalize(name) for name in next(reader)]
        return [dict(zip(header, (value.strip() for value in row), strict=True)) for row in reader]


def number(text: str) -> float:
    return float(text) if text else NAN


def count(text: str) -> int | None:
    return int(float(text)) if text else None


def us_date(text: str) -> date:
    month, day, year = (int(part) for part in text.split("/"))
    return date(year, month, day)


def same(actual: object, expected: object) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)
    return actual == expected


def key(row: Row) -> tuple[Any, ...]:
    return (row["date"], row["expiry"], row["strike"], row["right"], row["bid"], row["ask"])


def assert_tables_match(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema.equals(expected.schema)
    assert_rows_equal(actual, expected.to_pylist())


def assert_rows_equal(table: pa.Table, expected: list[Row]) -> None:
    actual = sorted(table.to_pylist(), key=key)
    expected = sorted(expected, key=key)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        for name, value in want.items():
            assert same(got[name], value), (name, got, want)


def write_lines(path: Path, lines: Iterable[str], newline: str = "\n") -> Path:
    path.write_text(newline.join(lines) + newline)
    return path


# ----------------------------------------------------------------------------- OptionsDX


def optionsdx_expected(path: Path, underlying: str) -> list[Row]:
    rows = []
    for raw in raw_rows(path, lambda name: name.strip().strip("[]")):
        for right, prefix in (("C", "C_"), ("P", "P_")):
            rows.append(
                {
                    "date": date.fromisoformat(raw["QUOTE_DATE"]),
                    "underlying": underlying,
                    "spot": number(raw["UNDERLYING_LAST"]),
                    "expiry": date.fromisoformat(raw["EXPIRE_DATE"]),
                    "strike": number(raw["STRIKE"]),
                    "right": right,
                    "bid": number(raw[prefix + "BID"]),
                    "ask": number(raw[prefix + "ASK"]),
                    "iv": number(raw[prefix + "IV"]),
                    "delta": number(raw[prefix + "DELTA"]),
                    "gamma": number(raw[prefix + "GAMMA"]),
                    "vega": number(raw[prefix + "VEGA"]),
                    "theta": number(raw[prefix + "THETA"]),
                    "volume": count(raw[prefix + "VOLUME"]),
                    "open_interest": None,
                }
            )
    return rows


def test_optionsdx_melts_each_wide_row_into_a_call_and_a_put() -> None:
    batches, table = read("optionsdx", [OPTIONSDX])
    assert table.schema.equals(CHAIN_SCHEMA)
    raw = raw_rows(OPTIONSDX)
    assert table.num_rows == 2 * len(raw)
    assert_rows_equal(table, optionsdx_expected(OPTIONSDX, "SPX"))
    assert batches[0].source == str(OPTIONSDX)


def test_optionsdx_reads_bracketed_padded_headers_and_blank_fields() -> None:
    header = OPTIONSDX.read_text().splitlines()[0]
    assert header.startswith("[QUOTE_UNIXTIME], [QUOTE_READTIME]")
    batches, table = read("optionsdx", [OPTIONSDX])
    rows = table.to_pylist()
    blank_call_iv = [
        row
        for row in rows
        if row["date"] == date(2024, 1, 4)
        and row["expiry"] == date(2024, 1, 5)
        and row["strike"] == 4700.0
        and row["right"] == "C"
    ]
    assert len(blank_call_iv) == 1
    assert math.isnan(blank_call_iv[0]["iv"])
    assert blank_call_iv[0]["bid"] == 6.7
    assert blank_call_iv[0]["open_interest"] is None
    blank_ivs = sum(
        1 for raw in raw_rows(OPTIONSDX, lambda n: n.strip().strip("[]")) for side in "CP"
        if not raw[f"{side}_IV"]
    )
    assert blank_ivs == 2
    assert flagged(batches)["blank_iv"] == blank_ivs
    assert sum(1 for row in rows if row["volume"] is None) == 1


def test_optionsdx_underlying_comes_from_the_file_name_unless_given(tmp_path: Path) -> None:
    _, table = read("optionsdx", [OPTIONSDX], underlying="XSP")
    assert set(table.column("underlying").to_pylist()) == {"XSP"}
    renamed = shutil.copy(OPTIONSDX, tmp_path / "qqq_eod_202401.txt")
    _, table = read("optionsdx", [Path(renamed)])
    assert set(table.column("underlying").to_pylist()) == {"QQQ"}
    nameless = shutil.copy(OPTIONSDX, tmp_path / "chain.txt")
    with pytest.raises(DataError, match="underlying"):
        read("optionsdx", [Path(nameless)])


def test_optionsdx_rejects_the_crypto_layout(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "btc_eod_202401.txt",
        ["[INSTRUMENT_NAME], [BASE_CURRENCY], [CONTRACT_SIZE]", "BTC-5JAN24-40000-C, BTC, 1"],
    )
    with pytest.raises(DataError, match="crypto"):
        read("optionsdx", [path])


# ----------------------------------------------------------------------------- Cboe


def cboe_expected(path: Path, *, calcs: bool) -> tuple[list[Row], int]:
    rows, dropped = [], 0
    for raw in raw_rows(path):
        if raw["delivery_code"]:
            dropped += 1
            continue
        active = number(raw.get("active_underlying_price_1545", ""))
        bid, ask = number(raw["underlying_bid_1545"]), number(raw["underlying_ask_1545"])
        if active > 0:
            spot = active
        elif bid > 0 and ask > 0:
            spot = (bid + ask) / 2
        else:
            spot = NAN
        row: Row = {
            "date": date.fromisoformat(raw["quote_date"]),
            "underlying": raw["underlying_symbol"].lstrip("^"),
            "spot": spot,
            "expiry": date.fromisoformat(raw["expiration"]),
            "strike": number(raw["strike"]),
            "right": raw["option_type"],
            "bid": number(raw["bid_1545"]),
            "ask": number(raw["ask_1545"]),
            "volume": count(raw["trade_volume"]),
            "open_interest": count(raw["open_interest"]),
        }
        for name in ("iv", "delta", "gamma", "vega", "theta"):
            column = "implied_volatility_1545" if name == "iv" else f"{name}_1545"
            row[name] = number(raw[column]) if calcs else NAN
        rows.append(row)
    return rows, dropped


@pytest.mark.parametrize(("path", "calcs"), [(CBOE_CALCS, True), (CBOE_PLAIN, False)])
def test_cboe_rows_spot_greeks_and_delivery_code(path: Path, calcs: bool) -> None:
    batches, table = read("cboe", [path])
    expected, dropped = cboe_expected(path, calcs=calcs)
    assert dropped == 2
    assert flagged(batches)["nonstandard_delivery"] == dropped
    assert_rows_equal(table, expected)
    assert set(table.column("underlying").to_pylist()) == {"SPX", "AAL"}


def test_cboe_spot_prefers_active_price_then_underlying_mid() -> None:
    _, with_calcs = read("cboe", [CBOE_CALCS])
    _, without = read("cboe", [CBOE_PLAIN])

    def spot(table: pa.Table, underlying: str, expiry: date, strike: float, right: str) -> float:
        (row,) = [
            r for r in table.to_pylist()
            if (r["underlying"], r["expiry"], r["strike"], r["right"])
            == (underlying, expiry, strike, right)
        ]
        return float(row["spot"])

    jan12, jan19 = date(2024, 1, 12), date(2024, 1, 19)
    # Fixture rows: active 4697.24 with zero index quotes; active 0 with zero index quotes;
    # AAL call active 0 with quotes 14.61/14.63; AAL put active 14.65.
    assert spot(with_calcs, "SPX", jan12, 4700.0, "C") == 4697.24
    assert math.isnan(spot(with_calcs, "SPX", jan12, 4700.0, "P"))
    assert spot(with_calcs, "AAL", jan19, 15.0, "C") == pytest.approx((14.61 + 14.63) / 2)
    assert spot(with_calcs, "AAL", jan19, 15.0, "P") == 14.65
    assert math.isnan(spot(without, "SPX", jan12, 4700.0, "C"))
    assert spot(without, "AAL", jan19, 15.0, "P") == pytest.approx((14.61 + 14.63) / 2)
    assert all(math.isnan(v) for v in without.column("delta").to_pylist())


def test_cboe_keeps_spx_and_spxw_duplicates() -> None:
    _, table = read("cboe", [CBOE_CALCS])
    same_key = [
        row
        for row in table.to_pylist()
        if (row["expiry"], row["strike"], row["right"]) == (date(2024, 1, 19), 4650.0, "C")
    ]
    wanted = ("2024-01-19", "4650.000", "C")
    roots = [
        raw["root"]
        for raw in raw_rows(CBOE_CALCS)
        if (raw["expiration"], raw["strike"], raw["option_type"]) == wanted
    ]
    assert sorted(roots) == ["SPX", "SPXW"]
    assert len(same_key) == 2


@pytest.mark.parametrize("name", ["SPX", "^SPX"])
def test_cboe_underlying_keeps_only_that_underlying(name: str) -> None:
    batches, table = read("cboe", [CBOE_CALCS], underlying=name)
    raw = raw_rows(CBOE_CALCS)
    assert set(table.column("underlying").to_pylist()) == {"SPX"}
    assert table.num_rows == sum(1 for r in raw if r["underlying_symbol"] == "^SPX")
    assert flagged(batches)["other_underlying"] == sum(
        1 for r in raw if r["underlying_symbol"] != "^SPX"
    )


# ----------------------------------------------------------------------------- ORATS


def orats_expected(path: Path) -> list[Row]:
    rows = []
    for raw in raw_rows(path):
        spot, strike, years = number(raw["stkPx"]), number(raw["strike"]), number(raw["yte"])
        rate, dividend = number(raw["iRate"]), number(raw["divRate"])
        call_delta, call_theta = number(raw["delta"]), number(raw["theta"])
        put_delta = call_delta - math.exp(-dividend * years)
        put_theta = call_theta - (
            dividend * spot * math.exp(-dividend * years) - rate * strike * math.exp(-rate * years)
        ) / 365.0
        for right, prefix, delta, theta in (
            ("C", "c", call_delta, call_theta),
            ("P", "p", put_delta, put_theta),
        ):
            rows.append(
                {
                    "date": us_date(raw["trade_date"]),
                    "underlying": raw["ticker"],
                    "spot": spot,
                    "expiry": us_date(raw["expirDate"]),
                    "strike": strike,
                    "right": right,
                    "bid": number(raw[f"{prefix}BidPx"]),
                    "ask": number(raw[f"{prefix}AskPx"]),
                    "iv": number(raw[f"{prefix}MidIv"]),
                    "delta": delta,
                    "gamma": number(raw["gamma"]),
                    "vega": number(raw["vega"]),
                    "theta": theta,
                    "volume": count(raw[f"{prefix}Volu"]),
                    "open_interest": count(raw[f"{prefix}Oi"]),
                }
            )
    return rows


def test_orats_rows_dates_zero_bids_and_parity_put_greeks() -> None:
    batches, table = read("orats", [ORATS])
    assert_rows_equal(table, orats_expected(ORATS))
    raw = raw_rows(ORATS)
    assert any("/" in r["trade_date"] and len(r["trade_date"]) == 8 for r in raw)  # 1/5/2024
    zero_bids = sum(1 for r in raw for side in "cp" if float(r[f"{side}BidPx"]) == 0)
    assert zero_bids > 0
    assert sum(1 for bid in table.column("bid").to_pylist() if bid == 0) == zero_bids
    assert flagged(batches)["zero_bid"] == zero_bids
    assert "BRK_B" in table.column("underlying").to_pylist()


ORATS_HEADER = (
    "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,cBidPx,cValue,cAskPx,"
    "pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,pAskIv,iRate,divRate,"
    "residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,extCTheo,extPTheo,"
    "spot_px,trade_date"
)


def orats_line(
    ticker: str, spot: float, expiry: str, years: float, strike: float, call: Sequence[float],
    rate: float, dividend: float, vol: float, trade_date: str,
) -> str:
    delta, gamma, theta, vega = call
    fields: dict[str, object] = dict.fromkeys(ORATS_HEADER.split(","), "")
    fields |= {
        "ticker": ticker, "stkPx": spot, "expirDate": expiry, "yte": years, "strike": strike,
        "cVolu": 1, "cOi": 2, "pVolu": 3, "pOi": 4, "cBidPx": 1.0, "cAskPx": 1.2,
        "pBidPx": 0.0, "pAskPx": 0.2, "cMidIv": vol, "pMidIv": vol, "iRate": rate,
        "divRate": dividend, "delta": delta, "gamma": gamma, "theta": theta, "vega": vega,
        "trade_date": trade_date,
    }
    return ",".join(repr(v) if isinstance(v, float) else str(v) for v in fields.values())


def test_orats_put_greeks_equal_black_scholes_put_greeks(tmp_path: Path) -> None:
    cases = [
        (4700.0, 4650.0, 14, 0.0535, 0.0142, 0.14),
        (4700.0, 4800.0, 45, 0.0200, 0.0180, 0.22),
        (362.5, 300.0, 180, 0.0450, 0.0000, 0.30),
        (50.0, 55.0, 7, 0.0010, 0.0300, 0.60),
    ]
    lines = [ORATS_HEADER]
    for spot, strike, days, rate, dividend, vol in cases:
        years = days / 365
        call = blackscholes.greeks(spot, strike, years, rate, dividend, vol, True)
        values = [float(call.delta), float(call.gamma), float(call.theta), float(call.vega)]
        expiry = date.fromordinal(date(2024, 1, 5).toordinal() + days)
        lines.append(
            orats_line("SPX", spot, f"{expiry.month}/{expiry.day}/{expiry.year}", years, strike,
                       values, rate, dividend, vol, "1/5/2024")
        )
    path = write_lines(tmp_path / "ORATS_SMV_Strikes_20240105.csv", lines)
    _, table = read("orats", [path])
    puts = sorted((r for r in table.to_pylist() if r["right"] == "P"), key=lambda r: r["expiry"])
    for (spot, strike, days, rate, dividend, vol), row in zip(
        sorted(cases, key=lambda case: case[2]), puts, strict=True
    ):
        put = blackscholes.greeks(spot, strike, days / 365, rate, dividend, vol, False)
        assert row["strike"] == strike
        assert row["delta"] == pytest.approx(float(put.delta), abs=1e-12)
        assert row["gamma"] == pytest.approx(float(put.gamma), rel=1e-12)
        assert row["vega"] == pytest.approx(float(put.vega), rel=1e-12)
        assert row["theta"] == pytest.approx(float(put.theta), abs=1e-12)


def test_orats_accepts_iso_dates_and_filters_by_ticker(tmp_path: Path) -> None:
    text = ORATS.read_text()
    for us, iso in ((",1/19/2024,", ",2024-01-19,"), (",2/16/2024,", ",2024-02-16,"),
                    (",1/5/2024\n", ",2024-01-05\n")):
        text = text.replace(us, iso)
    path = tmp_path / "ORATS_SMV_Strikes_20240105.csv"
    path.write_text(text)
    batches, table = read("orats", [path], underlying="BRK_B")
    raw = raw_rows(ORATS)
    assert set(table.column("underlying").to_pylist()) == {"BRK_B"}
    assert table.num_rows == 2 * sum(1 for r in raw if r["ticker"] == "BRK_B")
    assert flagged(batches)["other_underlying"] == sum(1 for r in raw if r["ticker"] != "BRK_B")
    assert set(table.column("date").to_pylist()) == {date(2024, 1, 5)}


# ----------------------------------------------------------------------------- generic


def generic_expected(path: Path) -> list[Row]:
    rows = []
    for raw in raw_rows(path):
        month, day, year = (int(p) for p in raw["quotedate"].split("/"))
        e_month, e_day, e_year = (int(p) for p in raw["expiration"].split("/"))
        rows.append(
            {
                "date": date(year, month, day),
                "underlying": raw["underlying"],
                "spot": number(raw["underlying_last"]),
                "expiry": date(e_year, e_month, e_day),
                "strike": number(raw["strike"]),
                "right": {"call": "C", "put": "P"}[raw["type"]],
                "bid": number(raw["bid"]),
                "ask": number(raw["ask"]),
                "iv": number(raw["impliedvol"]),
                "delta": number(raw["delta"]),
                "gamma": number(raw["gamma"]),
                "vega": NAN,
                "theta": NAN,
                "volume": count(raw["volume"]),
                "open_interest": count(raw["openinterest"]),
            }
        )
    return rows


def test_generic_csv_with_column_map_and_date_format() -> None:
    _, table = read("csv", [GENERIC], column_map=GENERIC_MAP, date_format="%m/%d/%Y")
    assert table.schema.equals(CHAIN_SCHEMA)
    assert_rows_equal(table, generic_expected(GENERIC))


def test_generic_requires_a_mapping_for_missing_columns() -> None:
    with pytest.raises(DataError, match="column_map") as info:
        read("csv", [GENERIC], date_format="%m/%d/%Y")
    assert info.value.column == "date"
    with pytest.raises(DataError) as info:
        read("csv", [GENERIC], column_map=GENERIC_MAP | {"delta": "no_such_column"})
    assert info.value.column == "no_such_column"


@pytest.mark.parametrize(
    ("words", "expected"),
    [(("C", "P"), ("C", "P")), (("call", "put"), ("C", "P")), (("Call", "Put"), ("C", "P")),
     (("CALL", "PUT"), ("C", "P"))],
)
def test_generic_accepts_right_spellings(
    tmp_path: Path, words: tuple[str, str], expected: tuple[str, str]
) -> None:
    lines = ["date,expiry,strike,right,bid,ask"]
    lines += [f"2024-01-05,2024-01-19,4700,{word},1.0,1.5" for word in words]
    path = write_lines(tmp_path / "chain.csv", lines)
    _, table = read("csv", [path], underlying="SPX")
    assert tuple(table.column("right").to_pylist()) == expected
    assert set(table.column("underlying").to_pylist()) == {"SPX"}
    assert all(v is None for v in table.column("volume").to_pylist())
    assert all(math.isnan(v) for v in table.column("spot").to_pylist())


def test_generic_parquet_is_read_by_row_groups(tmp_path: Path) -> None:
    days = [date(2024, 1, 2 + i) for i in range(6)]
    source = pa.table(
        {
            "Date": pa.array([d for d in days for _ in (0, 1)], pa.date32()),
            "act_symbol": pa.array(["SPY"] * 12).dictionary_encode(),
            "expiration": pa.array(["2024-02-16"] * 12),
            "strike": pa.array(np.arange(12, dtype=np.int64) + 470),
            "call_put": pa.array(["Call", "Put"] * 6),
            "bid": pa.array(np.linspace(1.0, 2.1, 12)),
            "ask": pa.array(np.linspace(1.2, 2.3, 12)),
            "vol": pa.array(np.full(12, 0.15)),
        }
    )
    path = tmp_path / "dolt.parquet"
    pq.write_table(source, path, row_group_size=4)
    column_map = {"date": "Date", "underlying": "act_symbol", "expiry": "expiration",
                  "strike": "strike", "right": "call_put", "bid": "bid", "ask": "ask", "iv": "vol"}
    batches, table = read("csv", [path], column_map=column_map)
    assert len(batches) == 3
    assert [batch.first_row for batch in batches] == [1, 5, 9]
    assert table.column("date").to_pylist() == source.column("Date").to_pylist()
    assert table.column("strike").to_pylist() == [float(k) for k in range(470, 482)]
    assert table.column("right").to_pylist() == ["C", "P"] * 6
    assert table.column("bid").to_pylist() == source.column("bid").to_pylist()
    assert set(table.column("expiry").to_pylist()) == {date(2024, 2, 16)}


# ------------------------------------------------------------------ compression and streaming

VENDOR_FILES = [("optionsdx", OPTIONSDX), ("cboe", CBOE_CALCS), ("orats", ORATS)]


@pytest.mark.parametrize(("fmt", "path"), VENDOR_FILES)
def test_gzip_input_reads_like_plain(tmp_path: Path, fmt: str, path: Path) -> None:
    packed = tmp_path / (path.name + ".gz")
    packed.write_bytes(gzip.compress(path.read_bytes()))
    _, plain = read(fmt, [path])
    batches, unpacked = read(fmt, [packed])
    assert_tables_match(unpacked, plain)
    assert batches[0].source == str(packed)


@pytest.mark.parametrize(("fmt", "path"), VENDOR_FILES)
def test_zip_input_reads_every_text_member(tmp_path: Path, fmt: str, path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(path, f"a/{path.name}")
        handle.write(path, f"b/{path.name}")
        handle.writestr("README.pdf", b"%PDF not a chain")
    _, plain = read(fmt, [path])
    batches, unpacked = read(fmt, [archive])
    assert unpacked.num_rows == 2 * plain.num_rows
    assert {batch.source for batch in batches} == {
        f"{archive}::a/{path.name}", f"{archive}::b/{path.name}"
    }
    if fmt == "optionsdx":
        assert set(unpacked.column("underlying").to_pylist()) == {"SPX"}


def repeated_optionsdx(
    tmp_path: Path, rows: int, edit: Callable[[int, list[str]], None] | None = None
) -> Path:
    lines = OPTIONSDX.read_text().splitlines()
    header, body = lines[0], lines[1:]
    out = [header]
    for index in range(rows):
        fields = body[index % len(body)].split(", ")
        fields[19] = f"{3000 + index:.6f}"  # [STRIKE]
        if edit is not None:
            edit(index + 1, fields)
        out.append(", ".join(fields))
    return write_lines(tmp_path / "spx_eod_202401.txt", out)


def test_small_blocks_stream_the_same_rows(tmp_path: Path) -> None:
    path = repeated_optionsdx(tmp_path, 300)
    whole_batches, whole = read("optionsdx", [path])
    batches, streamed = read("optionsdx", [path], block_size=4096)
    assert len(whole_batches) == 1
    assert len(batches) > 5
    assert_tables_match(streamed, whole)
    assert batches[0].first_row == 1
    for previous, batch in zip(batches, batches[1:], strict=False):
        assert batch.first_row == previous.first_row + previous.raw_rows
    assert sum(batch.raw_rows for batch in batches) == 300


# ----------------------------------------------------------------------------- bad input


def test_bad_number_names_file_row_column_and_value(tmp_path: Path) -> None:
    def spoil(row: int, fields: list[str]) -> None:
        if row == 250:
            fields[19] = "abc"

    path = repeated_optionsdx(tmp_path, 300, spoil)
    with pytest.raises(DataError) as info:
        read("optionsdx", [path], block_size=4096)
    error = info.value
    assert (error.path, error.row, error.column, error.value) == (str(path), 250, "[STRIKE]", "abc")
    assert str(path) in str(error) and "data row 250" in str(error) and "'abc'" in str(error)


@pytest.mark.parametrize(
    ("fmt", "path", "old", "new", "column"),
    [
        ("orats", ORATS, ",2/16/2024,", ",2/30/2024,", "expirDate"),
        ("orats", ORATS, ",1/5/2024\n", ",1/5/24\n", "trade_date"),
        ("cboe", CBOE_PLAIN, ",1000,", ",10.5,", "open_interest"),
        ("cboe", CBOE_PLAIN, ",P,", ",X,", "option_type"),
        ("cboe", CBOE_PLAIN, ",4700.000,", ",,", "strike"),
    ],
)
def test_bad_values_raise_naming_column(
    tmp_path: Path, fmt: str, path: Path, old: str, new: str, column: str
) -> None:
    text = path.read_text()
    assert old in text
    spoiled = tmp_path / path.name
    spoiled.write_text(text.replace(old, new, 1))
    with pytest.raises(DataError) as info:
        read(fmt, [spoiled])
    assert info.value.column == column
    assert info.value.path == str(spoiled)
    assert info.value.row is not None and info.value.row >= 1


def test_missing_required_column(tmp_path: Path) -> None:
    lines = OPTIONSDX.read_text().splitlines()
    lines[0] = lines[0].replace("[STRIKE]", "[STRIKE_PRICE]")
    path = write_lines(tmp_path / "spx_eod_202401.txt", lines)
    with pytest.raises(DataError, match="missing required column") as info:
        read("optionsdx", [path])
    assert info.value.column == "[STRIKE]"
    assert str(path) in str(info.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(repeated_optionsdx(tmp_path, 2000).read_bytes())
    path = tmp_path / "spx_eod_202401.txt.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError) as info:
        read("optionsdx", [path], block_size=8192)
    assert info.value.path == str(path)
    assert "block starting at data row" in str(info.value)


def test_truncated_zip(tmp_path: Path) -> None:
    archive = tmp_path / "UnderlyingOptionsEODCalcs_2024-01-05.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(CBOE_CALCS, CBOE_CALCS.name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="zip") as info:
        read("cboe", [archive])
    assert info.value.path == str(archive)


def test_truncated_last_row_reports_its_row(tmp_path: Path) -> None:
    text = CBOE_CALCS.read_text()
    path = tmp_path / CBOE_CALCS.name
    path.write_text(text[: text.rindex("\n", 0, len(text) - 2) + 40])
    with pytest.raises(DataError, match="malformed row") as info:
        read("cboe", [path])
    assert info.value.row == len(raw_rows(CBOE_CALCS))


@pytest.mark.parametrize("content", [b"", b"underlying_symbol,quote_date\n"])
def test_empty_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "UnderlyingOptionsEOD_2024-01-05.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read("cboe", [path])
    assert info.value.path == str(path)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = write_lines(tmp_path / CBOE_PLAIN.name, CBOE_PLAIN.read_text().splitlines()[:1])
    with pytest.raises(DataError, match="no data rows"):
        read("cboe", [path])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read("orats", [tmp_path / "nope.csv"])


def test_bad_arguments_fail_at_call_time() -> None:
    assert FORMATS == ("optionsdx", "cboe", "orats", "csv")
    with pytest.raises(ValueError, match="unknown format"):
        read_vendor_files("ivolatility", [ORATS])
    with pytest.raises(ValueError, match="csv"):
        read_vendor_files("orats", [ORATS], column_map={"date": "trade_date"})
    with pytest.raises(ValueError, match="unknown canonical"):
        read_vendor_files("csv", [GENERIC], column_map={"quote_date": "quotedate"})


@pytest.mark.parametrize(
    ("fmt", "path", "strike", "options"),
    [
        ("cboe", CBOE_PLAIN, "strike", {"underlying": "SPX"}),  # filtered rows
        ("orats", ORATS, "strike", {"underlying": "SPX"}),  # wide rows: two quotes each
        ("csv", GENERIC, "strike", {"column_map": GENERIC_MAP, "date_format": "%m/%d/%Y"}),
    ],
)
def test_every_quote_knows_its_data_row_counted_from_1(
    fmt: str, path: Path, strike: str, options: dict[str, Any]
) -> None:
    """`AdapterBatch.data_rows` points each canonical row at the source row it came from (data
    row 1 is the first row under the header), through filters and melted wide rows."""
    with path.open() as handle:
        raw = list(csv.DictReader(handle))
    batches, _ = read(fmt, [path], block_size=1024, **options)
    seen = 0
    for batch in batches:
        rows = batch.data_rows()
        assert len(rows) == batch.table.num_rows
        for row, value in zip(rows, batch.table.column("strike").to_pylist(), strict=True):
            assert float(raw[row - 1][strike]) == value
        seen += len(rows)
    assert seen > 0
