"""Importing vendor files: an import that keeps no row is refused, rows are named by file and
data row, the generic CSV takes a date format. Real files, written as a vendor would."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gridbt.data.errors import DataError, ValidationError
from gridbt.data.importer import import_files, import_key
from gridbt.data.store import read_chain
from gridbt.data.validate import ValidationConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors"
GENERIC = FIXTURES / "generic" / "SPY_2019_lowercase.csv"
GENERIC_MAP = {"date": "quotedate", "underlying": "underlying", "expiry": "expiration",
               "strike": "strike", "right": "type", "bid": "bid", "ask": "ask",
               "spot": "underlying_last", "iv": "impliedvol", "delta": "delta",
               "gamma": "gamma", "volume": "volume", "open_interest": "openinterest"}
US_DATES = "%m/%d/%Y"


def rewrite(source: Path, target: Path, edit: dict[int, dict[str, str]]) -> Path:
    """A copy of a CSV with some fields of some data rows (from 1) changed."""
    with source.open() as handle:
        rows = list(csv.DictReader(handle))
    for row, fields in edit.items():
        rows[row - 1].update(fields)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def iso_copy(target: Path) -> Path:
    """The generic fixture with ISO dates (the generic format's default)."""
    text = GENERIC.read_text()
    for us, iso in (("06/21/2019", "2019-06-21"), ("04/11/2019", "2019-04-11"),
                    ("04/12/2019", "2019-04-12")):
        text = text.replace(us, iso)
    target.write_text(text)
    return target


def test_the_generic_fixture_imports_with_its_date_format(tmp_path: Path) -> None:
    result = import_files("csv", [GENERIC], tmp_path / "chain", column_map=GENERIC_MAP,
                          date_format=US_DATES)
    assert result.manifest.rows == 8
    assert (result.manifest.first_date, result.manifest.last_date) == ("2019-04-11", "2019-04-12")
    assert read_chain(tmp_path / "chain").num_rows == 8
    config = ValidationConfig()
    assert import_key("csv", [GENERIC], config, GENERIC_MAP, None, US_DATES) != import_key(
        "csv", [GENERIC], config, GENERIC_MAP, None, "%d/%m/%Y")


def test_an_import_that_keeps_no_row_is_refused_naming_the_files_and_the_reason(
    tmp_path: Path,
) -> None:
    """Every quote crossed (bid and ask read from each other's column): nothing is written."""
    crossed = GENERIC_MAP | {"bid": "ask", "ask": "bid"}
    source = iso_copy(tmp_path / "spy.csv")
    out = tmp_path / "chain"
    with pytest.raises(DataError) as info:
        import_files("csv", [source], out, column_map=crossed)
    message = str(info.value)
    assert message.startswith(f"{source}: validation dropped all 8 quote rows, so nothing was "
                              "written: crossed_quote dropped 8 (its policy is drop; e.g. data "
                              "row 1: date 2019-04-11")
    assert message.endswith("`--policy crossed_quote=repair` keeps those rows")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [source.name]  # no temporary either


def test_an_import_whose_rows_all_fail_different_checks_names_the_largest(
    tmp_path: Path,
) -> None:
    source = rewrite(GENERIC, tmp_path / "spy.csv",
                     {row: {"bid": "9", "ask": "1"} for row in range(1, 7)}
                     | {7: {"expiration": "01/02/2019"}, 8: {"expiration": "01/02/2019"}})
    with pytest.raises(DataError, match=r"crossed_quote dropped 6 \(its policy is drop; e\.g\. "
                                        r"data row 1: .*\), then expiry_before_date 2"):
        import_files("csv", [source], tmp_path / "chain", column_map=GENERIC_MAP,
                     date_format=US_DATES)


def test_validation_names_the_file_and_data_row_of_a_bad_quote(tmp_path: Path) -> None:
    first = rewrite(GENERIC, tmp_path / "first.csv", {})
    second = rewrite(GENERIC, tmp_path / "second.csv",
                     {row: {"quotedate": "04/15/2019"} for row in range(1, 9)}
                     | {6: {"quotedate": "04/15/2019", "bid": "5.0", "ask": "4.0"}})
    with pytest.raises(ValidationError, match=rf"first: {second} data row 6: date 2019-04-15, "
                                              rf"expiry 2019-06-21, strike 285\.0, right P, "
                                              r"bid-ask=1\.0"):
        import_files("csv", [first, second], tmp_path / "chain", column_map=GENERIC_MAP,
                     date_format=US_DATES,
                     config=ValidationConfig(crossed_quote="error"))


def test_quotes_dated_in_the_future_are_imported_and_reported(tmp_path: Path) -> None:
    source = rewrite(iso_copy(tmp_path / "iso.csv"), tmp_path / "spy.csv",
                     {8: {"quotedate": "2099-04-12", "expiration": "2099-06-19"}})
    result = import_files("csv", [source], tmp_path / "chain", column_map=GENERIC_MAP)
    assert result.report is not None
    check = {c.name: c for c in result.report.checks}["future_date"]
    assert (check.policy, check.found, check.touched) == ("report", 1, 0)
    assert check.example.startswith("data row 8: date 2099-04-12")
    assert result.manifest.rows == 8 and result.manifest.last_date == "2099-04-12"
