"""`gridbt data import` as a user runs it on the repository's own fixtures and files written
from them: the generic CSV imports with --date-format, an import that would keep no row fails
(exit 2, naming the files and the reason), quotes from the future are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERIC = REPO / "tests" / "fixtures" / "vendors" / "generic" / "SPY_2019_lowercase.csv"
COLUMNS = ["date=quotedate", "expiry=expiration", "right=type", "spot=underlying_last",
           "iv=impliedvol", "open_interest=openinterest", "underlying=underlying",
           "strike=strike", "bid=bid", "ask=ask", "delta=delta", "gamma=gamma",
           "volume=volume"]
pytestmark = pytest.mark.integration


def gridbt(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "GRIDBT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run([sys.executable, "-m", "gridbt.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def import_generic(source: Path, out: Path, home: Path, *columns: str,
                   date_format: str | None = "%m/%d/%Y") -> subprocess.CompletedProcess[str]:
    args: list[str | Path] = ["data", "import", "--format", "csv", source, "--out", out]
    for column in columns or COLUMNS:
        args += ["--column-map", column]
    if date_format is not None:
        args += ["--date-format", date_format]
    return gridbt(*args, home=home)


def test_the_generic_fixture_imports_with_a_date_format(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "chain"
    r = import_generic(GENERIC, out, home, date_format=None)
    assert r.returncode == 2  # US dates are not ISO ones: the file, row and value are named
    assert r.stderr.startswith(f"gridbt: {GENERIC}, data row 1, column 'quotedate': not a date "
                               "in format '%Y-%m-%d' (value: '04/11/2019')"), r.stderr
    r = import_generic(GENERIC, out, home)
    assert r.returncode == 0, r.stderr
    assert f"{out}: 8 rows, 2 days, 2019-04-11..2019-04-12" in r.stdout
    r = import_generic(GENERIC, out, home)
    assert r.returncode == 0 and "unchanged" in r.stdout
    r = gridbt("data", "import", "--format", "orats", GENERIC, "--out", tmp_path / "o",
               "--date-format", "%m/%d/%Y", home=home)
    assert r.returncode == 2
    assert r.stderr == "gridbt: --column-map and --date-format apply to --format csv only\n"


def iso_copy(target: Path, last_row: tuple[str, str] | None = None) -> Path:
    """The generic fixture with ISO dates (the generic format's default); the last row dated
    `last_row` (quote date, expiry) if given."""
    lines = GENERIC.read_text().splitlines()
    if last_row is not None:
        lines[-1] = lines[-1].replace("06/21/2019,04/12/2019", f"{last_row[1]},{last_row[0]}")
    text = "\n".join(lines) + "\n"
    for us, iso in (("06/21/2019", "2019-06-21"), ("04/11/2019", "2019-04-11"),
                    ("04/12/2019", "2019-04-12")):
        text = text.replace(us, iso)
    target.write_text(text)
    return target


def test_an_import_that_keeps_no_row_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "chain"
    source = iso_copy(tmp_path / "spy.csv")
    crossed = [c for c in COLUMNS if not c.startswith(("bid=", "ask="))] + ["bid=ask", "ask=bid"]
    r = import_generic(source, out, home, *crossed, date_format=None)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"gridbt: {source}: validation dropped all 8 quote rows, so "
                               "nothing was written: crossed_quote dropped 8"), r.stderr
    assert "`--policy crossed_quote=repair` keeps those rows" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no chain, no temporary


def test_quotes_dated_in_the_future_are_reported_by_import_and_validate(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "chain"
    source = iso_copy(tmp_path / "future.csv", ("2099-04-13", "2099-06-18"))
    r = import_generic(source, out, home, date_format=None)
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("future_date"))
    assert line.split()[:4] == ["future_date", "report", "found", "1"]
    assert "e.g. data row 8: date 2099-04-13" in line
    assert json.loads((out / "manifest.json").read_text())["last_date"] == "2099-04-13"
    r = gridbt("data", "validate", out, home=home)
    assert r.returncode == 1  # a check found something
    assert f"e.g. {out / 'year=2099' / 'part-0.parquet'} data row 1: date 2099-04-13" in r.stdout
