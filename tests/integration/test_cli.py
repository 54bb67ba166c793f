"""The `gridbt` command line end to end, as a user runs it (real subprocesses, real files)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from gridbt.testing.homes import fresh_home

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "vendors"
pytestmark = pytest.mark.integration


def gridbt(*args: str, env_home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GRIDBT_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "-m", "gridbt.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=600,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_home(tmp_path_factory.mktemp("gridbt-home"))


@pytest.fixture(scope="module")
def small_chain(home: Path) -> Path:
    out = home / "small"
    r = gridbt(
        "data", "synth", "--profile", "small", "--seed", "3", "--out", str(out), env_home=home
    )
    assert r.returncode == 0, r.stderr
    assert "built" in r.stdout
    return out


def test_synth_is_idempotent_and_info_reports_the_chain(small_chain: Path, home: Path) -> None:
    again = gridbt(
        "data",
        "synth",
        "--profile",
        "small",
        "--seed",
        "3",
        "--out",
        str(small_chain),
        env_home=home,
    )
    assert again.returncode == 0 and "already present" in again.stdout
    info = gridbt("data", "info", str(small_chain), "--json", env_home=home)
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    manifest = json.loads((small_chain / "manifest.json").read_text())
    assert facts["rows"] == manifest["rows"] > 50_000
    assert facts["days"] == manifest["days"] == 252
    assert facts["fingerprint"] == manifest["fingerprint"]
    assert facts["expiries_per_day"].startswith("min ")


def test_validate_passes_on_the_synthetic_chain(small_chain: Path, home: Path) -> None:
    r = gridbt("data", "validate", str(small_chain), env_home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "crossed_quote" in r.stdout and "calendar_gap" in r.stdout


def test_pack_writes_the_cache_once(small_chain: Path, home: Path) -> None:
    first = gridbt("data", "pack", str(small_chain), env_home=home)
    assert first.returncode == 0, first.stderr
    from gridbt.data.store import read_manifest

    key = read_manifest(small_chain).content_key()  # the cache is keyed by the chain's content
    assert "packed into" in first.stdout and key in first.stdout
    assert (home / "packed").is_dir()
    again = gridbt("data", "pack", str(small_chain), env_home=home)
    assert again.returncode == 0 and "already packed in" in again.stdout


def test_import_validate_and_reimport_noop(home: Path, tmp_path: Path) -> None:
    source = FIXTURES / "cboe" / "UnderlyingOptionsEODCalcs_2024-01-05.csv"
    out = tmp_path / "cboe-chain"
    first = gridbt(
        "data", "import", "--format", "cboe", str(source), "--out", str(out), env_home=home
    )
    assert first.returncode == 0, first.stderr
    assert "rows out" in first.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] > 0
    mtime = (out / "manifest.json").stat().st_mtime_ns
    second = gridbt(
        "data", "import", "--format", "cboe", str(source), "--out", str(out), env_home=home
    )
    assert second.returncode == 0 and "unchanged" in second.stdout
    assert (out / "manifest.json").stat().st_mtime_ns == mtime


def test_import_of_a_corrupt_file_names_it_and_writes_nothing(home: Path, tmp_path: Path) -> None:
    source = FIXTURES / "orats" / "ORATS_SMV_Strikes_20240105.csv"
    bad = tmp_path / "ORATS_SMV_Strikes_20240108.csv"
    lines = source.read_text().splitlines()
    fields = lines[3].split(",")
    fields[6] = "abc"  # the strike column
    lines[3] = ",".join(fields)
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "orats-chain"
    r = gridbt("data", "import", "--format", "orats", str(bad), "--out", str(out), env_home=home)
    assert r.returncode == 2
    assert str(bad) in r.stderr and "strike" in r.stderr and "abc" in r.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [bad.name]


def test_validation_error_policy_stops_the_import(home: Path, tmp_path: Path) -> None:
    source = FIXTURES / "orats" / "ORATS_SMV_Strikes_20240105.csv"
    out = tmp_path / "strict"
    r = gridbt(
        "data",
        "import",
        "--format",
        "orats",
        str(source),
        "--out",
        str(out),
        "--policy",
        "calendar_gap=error",
        "--policy",
        "crossed_quote=error",
        env_home=home,
    )
    assert r.returncode == 0, r.stderr  # a one-day clean file passes even strict policies
    bad = gridbt(
        "data",
        "import",
        "--format",
        "orats",
        str(source),
        "--out",
        str(out),
        "--policy",
        "crossed_quote=sometimes",
        env_home=home,
    )
    assert bad.returncode != 0 and "crossed_quote: 'sometimes' is not one of" in bad.stderr


def test_backtest_writes_every_output(small_chain: Path, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "bt"
    spec = REPO / "jobs" / "strategies" / "short_put_30d.yaml"
    r = gridbt(
        "backtest",
        "--strategy",
        str(spec),
        "--data",
        str(small_chain),
        "--out",
        str(out),
        env_home=home,
    )
    assert r.returncode == 0, r.stderr
    assert "Sharpe" in r.stdout and str(out) in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    schema = json.loads((REPO / "schemas" / "summary.schema.json").read_text())
    jsonschema.validate(summary, schema)
    trades = pq.read_table(out / "trades.parquet")
    equity = pq.read_table(out / "equity.parquet")
    assert equity.num_rows == 252
    assert trades.num_rows == summary["kpis"]["trade_count"] > 0
    assert (
        summary["data"]["fingerprint"]
        == json.loads((small_chain / "manifest.json").read_text())["fingerprint"]
    )
    final = equity.column("equity")[-1].as_py()
    assert final == pytest.approx(100_000 + sum(trades.column("pnl").to_pylist()), rel=1e-9)
    png = (out / "tearsheet.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.parquet",
        "summary.json",
        "tearsheet.png",
        "trades.parquet",
    ]


def test_no_tearsheet_writes_the_rest_and_drops_an_earlier_picture(
    small_chain: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bt"
    out.mkdir()
    (out / "tearsheet.png").write_bytes(b"an earlier run's picture")
    r = gridbt("backtest", "--strategy", "short_put", "--data", str(small_chain), "--out",
               str(out), "--no-tearsheet", env_home=home)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.parquet", "summary.json", "trades.parquet"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"] == {"summary": "summary.json", "trades": "trades.parquet",
                                "equity": "equity.parquet"}
    assert r.stdout.rstrip().endswith("summary.json, trades.parquet, equity.parquet")
    assert pq.read_table(out / "equity.parquet").num_rows == 252


def test_hedged_backtest_writes_greeks_margin_and_attribution(
    small_chain: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "hedged"
    spec = REPO / "jobs" / "strategies" / "hedged_short_strangle.yaml"
    r = gridbt("backtest", "--strategy", str(spec), "--data", str(small_chain), "--out",
               str(out), env_home=home)
    assert r.returncode == 0, r.stderr
    trades = pq.read_table(out / "trades.parquet").to_pydict()
    equity = pq.read_table(out / "equity.parquet").to_pydict()
    assert trades["pnl"] and all(c > 0 for c in trades["hedge_cost"])
    assert set(trades["sizing_binding"]) <= {"risk_budget", "max_contracts"}
    assert all(m > 0 for m in trades["margin_per_contract"])
    held = [i for i, x in enumerate(equity["in_market"]) if x]
    assert held and all(equity["initial_margin"][i] > 0 for i in held)
    assert any(equity["hedge_shares"][i] != 0 for i in held)
    # the hedge keeps net delta inside the band (15 shares per contract) after each decision
    within = [abs(equity["net_delta"][i]) <= 15 * equity["contracts"][i] + 1e-6 for i in held]
    assert sum(within) / len(within) > 0.5
    parts = ["pnl_delta", "pnl_gamma", "pnl_vega", "pnl_theta", "pnl_costs", "pnl_financing",
             "pnl_residual"]
    previous = 1_000_000.0
    for i, value in enumerate(equity["equity"]):
        assert sum(equity[p][i] for p in parts) == pytest.approx(value - previous, abs=1e-6)
        previous = value
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kpis"]["return_on_margin"] is not None


def test_python_engine_gives_the_same_summary(
    small_chain: Path, home: Path, tmp_path: Path
) -> None:
    spec = REPO / "jobs" / "strategies" / "iron_condor.yaml"
    results = {}
    for engine in ("numba", "python"):
        out = tmp_path / engine
        r = gridbt(
            "backtest",
            "--strategy",
            str(spec),
            "--data",
            str(small_chain),
            "--out",
            str(out),
            "--engine",
            engine,
            env_home=home,
        )
        assert r.returncode == 0, r.stderr
        results[engine] = json.loads((out / "summary.json").read_text())
    def finite(kpis: dict[str, float | None]) -> dict[str, float]:
        return {k: math.nan if v is None else v for k, v in kpis.items()}

    assert finite(results["numba"]["kpis"]) == pytest.approx(
        finite(results["python"]["kpis"]), rel=1e-9, nan_ok=True
    )
    assert results["numba"]["skips"] == results["python"]["skips"]


def test_bad_spec_fails_before_any_work(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = (REPO / "jobs" / "strategies" / "short_put_30d.yaml").read_text()
    spec.write_text(text.replace("target: 0.3", "target: 1.4"))
    out = tmp_path / "never"
    empty_home = tmp_path / "empty-home"
    r = gridbt("backtest", "--strategy", str(spec), "--out", str(out), env_home=empty_home)
    assert r.returncode == 2
    assert f"{spec}: invalid strategy spec" in r.stderr
    assert "structure.legs[0].select.target: 1.4 is not a delta in (0, 1)" in r.stderr
    assert not out.exists()
    assert not empty_home.exists()  # the default chain was not built for a bad spec


def test_unknown_feature_in_a_filter_is_named(
    small_chain: Path, home: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "vix.yaml"
    text = (REPO / "jobs" / "strategies" / "short_put_30d.yaml").read_text()
    spec.write_text(text.replace("filters: []", "filters: [{feature: vix, max: 25}]"))
    r = gridbt(
        "backtest",
        "--strategy",
        str(spec),
        "--data",
        str(small_chain),
        "--out",
        str(tmp_path / "o"),
        env_home=home,
    )
    assert r.returncode == 2
    assert "entry.filters[0].feature: unknown feature 'vix'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_console_script_is_installed() -> None:
    exe = shutil.which("gridbt", path=str(Path(sys.executable).parent))
    assert exe is not None
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "backtest" in r.stdout
