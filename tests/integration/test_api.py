"""The results API over real HTTP, on a tiny sweep, study and backtest made by the CLI.

The sweep, study and backtest are made once for the module by `gridbt sweep`, `gridbt
optimize` and `gridbt backtest` (real subprocesses) under one root; the app is served by real
uvicorn on a free port (one server for the module, others where a test needs its own app, and
`gridbt serve` itself), and asked with httpx. Expected values come straight from the files the
CLI wrote, with pandas.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi import FastAPI

from gridbt._lock import lock_directory
from gridbt.api.app import create_app
from gridbt.data.default import ensure_synthetic_chain
from gridbt.results.catalog import Catalog
from gridbt.testing.workspace import GRID_PATHS, make_workspace, run_cli

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs" / "strategies" / "short_put_30d.yaml"
SWEEP = "sweeps~tiny"
STUDY = "studies~tiny"
BACKTEST = "backtests~bt"
X, Y, Z = GRID_PATHS
MARKER = "SECRET-OUTSIDE-THE-ROOT"


_cli = run_cli


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with a sweep, a study and a backtest, as the CLI writes them."""
    work = tmp_path_factory.mktemp("api")
    root = make_workspace(work, {"bt": SHORT_PUT})
    # outside the root: a backtest and a file that no route may serve
    outside = work / "outside"
    shutil.copytree(root / "backtests" / "bt", outside / "bt")
    summary = json.loads((outside / "bt" / "summary.json").read_text())
    summary["strategy"]["name"] = MARKER
    (outside / "bt" / "summary.json").write_text(json.dumps(summary))
    (outside / "secret.txt").write_text(MARKER)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(app: FastAPI) -> Iterator[httpx.Client]:
    """`app` on real uvicorn on a free port (in a thread), and an httpx client of it."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}",
                          timeout=120) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def catalog(root: Path) -> Catalog:
    return Catalog(root, refresh_seconds=0.0)


@pytest.fixture(scope="module")
def client(catalog: Catalog) -> Iterator[httpx.Client]:
    with served(create_app(catalog)) as http:
        yield http


@pytest.fixture(scope="module")
def results(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "sweeps" / "tiny" / "results.parquet")


def get(client: httpx.Client, url: str, status: int = 200, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == status, response.text
    return response.json()


# ---------------------------------------------------------------------- catalog
def test_health_counts_what_is_under_the_root(client: httpx.Client, root: Path) -> None:
    import gridbt

    assert get(client, "/api/health") == {"version": gridbt.__version__, "root": str(root),
                                          "sweeps": 1, "studies": 1, "backtests": 1}


def test_the_sweeps_list_reads_sweep_json(client: httpx.Client, root: Path) -> None:
    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    (item,) = get(client, "/api/sweeps")
    assert item["id"] == SWEEP and item["path"] == "sweeps/tiny" and item["name"] == "tiny"
    assert item["status"] == "done" and item["valid"] == item["done"] == 27
    assert item["failed"] == 0 and item["strategy"] == "short_put_30d"
    assert item["objective"] == "sharpe" and item["maximize"] is True
    assert item["best"]["param_hash"] == manifest["best"]["param_hash"]
    assert item["best"]["value"] == manifest["best"]["kpis"]["sharpe"]
    # a trial is a distinct outcome (trade sequence): fewer than the 27 combinations
    assert item["n_trials"] == manifest["statistics"]["n_outcomes"] < 27
    assert manifest["statistics"]["n_combinations"] == 27
    assert item["deflated_sharpe"] == manifest["statistics"]["deflated_sharpe"]
    assert item["pbo"] == manifest["statistics"]["pbo"]
    assert (item["first_date"], item["last_date"]) == ("2014-01-02", "2014-12-31")
    assert item["data_fingerprint"] == manifest["data_fingerprint"]


def test_a_sweep_has_its_grid_in_file_order(client: httpx.Client) -> None:
    detail = get(client, f"/api/sweeps/{SWEEP}")
    assert [(a["path"], a["values"]) for a in detail["grid"]] == [
        (X, [0.1, 0.2, 0.3]), (Y, [0.25, 0.5, None]), (Z, [1.5, 2.0, None])]
    assert detail["heatmap_paths"] == [X, Y, Z]
    assert detail["base_strategy"]["name"] == "short_put_30d"
    assert {m["name"] for m in detail["metrics"]} >= {"sharpe", "max_drawdown", "cagr"}
    assert detail["keep_equity"] == 3 and detail["grid_size"] == 27


def test_a_sweep_says_which_engine_ran_its_combinations(client: httpx.Client, root: Path,
                                                        tmp_path: Path) -> None:
    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    engines = get(client, f"/api/sweeps/{SWEEP}")["engines"]
    assert engines == manifest["engines"]
    assert engines["engine"] == "auto" and engines["tables"] + engines["day"] == 27
    # sweeps written before gridbt counted the replayed rows, and before it recorded engines
    shutil.copytree(root / "sweeps" / "tiny", tmp_path / "old")
    del manifest["engines"]["replayed"]
    (tmp_path / "old" / "sweep.json").write_text(json.dumps(manifest))
    catalog = Catalog(tmp_path, refresh_seconds=0.0)
    assert catalog.sweep("old").engines.model_dump() == {**engines, "replayed": 0}
    del manifest["engines"]
    (tmp_path / "old" / "sweep.json").write_text(json.dumps(manifest))
    assert Catalog(tmp_path, refresh_seconds=0.0).sweep("old").engines is None


# ---------------------------------------------------------------------- runs
def test_runs_default_to_the_objective_best_first(client: httpx.Client,
                                                  results: pd.DataFrame) -> None:
    page = get(client, f"/api/sweeps/{SWEEP}/runs", limit=5)
    assert page["total"] == 27 and page["sort"] == ["-sharpe"] and len(page["rows"]) == 5
    expected = results.sort_values(["sharpe", "combo"], ascending=[False, True])
    assert [r["param_hash"] for r in page["rows"]] == list(expected["param_hash"][:5])
    row = page["rows"][0]
    first = expected.iloc[0]
    assert row["params"] == {X: first[X], Y: first[Y], Z: None if pd.isna(first[Z])
                             else first[Z]}
    assert row["kpis"]["sharpe"] == first["sharpe"]
    assert set(row["skips"]) >= {"no_expiry", "capital"}
    assert set(row["counters"]) == {"missing_quote_days", "stale_fills"}


@pytest.mark.parametrize("sort", ["cagr", "-max_drawdown", f"{Z}", f"-{Z},-sharpe",
                                  "trade_count,-combo"])
def test_runs_sort_by_any_kpi_or_path_off_last(client: httpx.Client, results: pd.DataFrame,
                                              sort: str) -> None:
    page = get(client, f"/api/sweeps/{SWEEP}/runs", sort=sort, limit=27)
    keys = [k.strip() for k in sort.split(",")]
    names = [k.lstrip("-") for k in keys]
    frame = results.sort_values([*names, "combo"] if "combo" not in names else names,
                                ascending=[not k.startswith("-") for k in keys]
                                + ([True] if "combo" not in names else []),
                                na_position="last", kind="stable")
    assert [r["combo"] for r in page["rows"]] == list(frame["combo"])


def test_limit_and_offset_page_through_the_runs(client: httpx.Client) -> None:
    whole = [r["combo"] for r in get(client, f"/api/sweeps/{SWEEP}/runs", limit=27)["rows"]]
    pages = [r["combo"] for offset in range(0, 27, 10)
             for r in get(client, f"/api/sweeps/{SWEEP}/runs", limit=10,
                          offset=offset)["rows"]]
    assert pages == whole
    assert get(client, f"/api/sweeps/{SWEEP}/runs", offset=30)["rows"] == []
    too_many = get(client, f"/api/sweeps/{SWEEP}/runs", 422, limit=1001)
    assert too_many["detail"][0]["loc"] == ["query", "limit"]
    assert get(client, f"/api/sweeps/{SWEEP}/runs", 422, limit=0)["detail"][0]["loc"] == [
        "query", "limit"]


def test_distinct_runs_are_the_sweep_summarys_top_table(client: httpx.Client, root: Path,
                                                        results: pd.DataFrame) -> None:
    from gridbt.sweep.finish import SAME_OUTCOME, distinct_outcomes, ranked

    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    page = get(client, f"/api/sweeps/{SWEEP}/runs", limit=27, distinct="true")
    expected = distinct_outcomes(ranked(results, "sharpe", maximize=True))
    assert page["distinct"] is True
    assert page["total"] == len(expected) == manifest["statistics"]["n_outcomes"] < 27
    assert [r["combo"] for r in page["rows"]] == expected["combo"].tolist()
    assert [r["same"] for r in page["rows"]] == expected[SAME_OUTCOME].tolist()
    assert max(r["same"] for r in page["rows"]) > 1
    every = get(client, f"/api/sweeps/{SWEEP}/runs", limit=27)
    assert every["distinct"] is False and every["total"] == 27
    assert {r["same"] for r in every["rows"]} == {None}


@pytest.mark.parametrize(("text", "expected"), [
    ("sharpe > 0.2", lambda f: f["sharpe"] > 0.2),
    (f"sharpe > 0 and {Z} = 2", lambda f: (f["sharpe"] > 0) & (f[Z] == 2)),
    (f"{Z} = off", lambda f: f[Z].isna()),
    (f"{Z} != 2", lambda f: f[Z] != 2),  # the runs without a stop too
    (f"{Z} is not off and not {Y} is off", lambda f: f[Z].notna() & f[Y].notna()),
    (f"({X} in (0.1, 0.3) or max_drawdown <= 0.1) and trade_count >= 20",
     lambda f: (f[X].isin([0.1, 0.3]) | (f["max_drawdown"] <= 0.1)) & (f["trade_count"] >= 20)),
    ("profit_factor is off", lambda f: f["profit_factor"].isna()),
])
def test_filters_select_what_pandas_selects(client: httpx.Client, results: pd.DataFrame,
                                            text: str, expected: Any) -> None:
    page = get(client, f"/api/sweeps/{SWEEP}/runs", filter=text, limit=1000)
    chosen = results[expected(results)]
    assert page["total"] == len(chosen)
    assert sorted(r["combo"] for r in page["rows"]) == sorted(chosen["combo"])


def test_a_filter_on_the_hash_takes_text(client: httpx.Client, results: pd.DataFrame) -> None:
    one = results["param_hash"].iloc[4]
    page = get(client, f"/api/sweeps/{SWEEP}/runs", filter=f"param_hash = '{one}'")
    assert [r["param_hash"] for r in page["rows"]] == [one]


@pytest.mark.parametrize(("params", "named"), [
    ({"sort": "-sharp"}, "'sharp'"),
    ({"sort": "sharpe,bogus_key"}, "'bogus_key'"),
    ({"filter": "sharp > 1"}, "'sharp'"),
    ({"filter": "sharpe >"}, "ends too early"),
    ({"filter": "sharpe > 1 and"}, "ends too early"),
    ({"filter": "sharpe >> 1"}, "position 8, found '>'"),
    ({"filter": "sharpe > 'x'"}, "holds number values"),
    ({"filter": "sharpe > 1; DROP TABLE runs"}, "';' at position 10"),
    ({"filter": "sharpe > 1 or 1 = 1"}, "expected a name"),
    ({"filter": "\"sharpe\" > 1"}, "expected a name"),
    ({"filter": f"{Z} < off"}, "off is only = or !="),
])
def test_an_unknown_sort_key_or_bad_filter_is_422_naming_it(client: httpx.Client,
                                                           params: dict[str, str],
                                                           named: str) -> None:
    detail = get(client, f"/api/sweeps/{SWEEP}/runs", 422, **params)["detail"]
    assert isinstance(detail, str) and named in detail, detail
    assert ("sort: " if "sort" in params else "filter: ") in detail


# ---------------------------------------------------------------------- heatmap, slices
@pytest.mark.parametrize("agg", ["max", "median", "mean", "min", "count"])
@pytest.mark.parametrize("metric", ["sharpe", "max_drawdown", "profit_factor"])
def test_heatmap_values_equal_a_pandas_group_by(client: httpx.Client, results: pd.DataFrame,
                                                agg: str, metric: str) -> None:
    heatmap = get(client, f"/api/sweeps/{SWEEP}/heatmap", x=X, y=Z, metric=metric, agg=agg)
    assert heatmap["x_values"] == [0.1, 0.2, 0.3] and heatmap["y_values"] == [1.5, 2.0, None]
    frame = results.assign(**{Z: results[Z].fillna(-1.0)})
    grouped = frame.groupby([Z, X])[metric]
    expected = {"max": grouped.max(), "median": grouped.median(), "mean": grouped.mean(),
                "min": grouped.min(), "count": grouped.count()}[agg]
    higher = metric != "max_drawdown"
    for i, y in enumerate(heatmap["y_values"]):
        for j, x in enumerate(heatmap["x_values"]):
            key = (-1.0 if y is None else y, x)
            want = expected.get(key, np.nan)
            got = heatmap["values"][i][j]
            if agg != "count" and (want is None or not np.isfinite(want)):
                assert got is None
            else:
                assert got == pytest.approx(float(want), rel=1e-12, abs=1e-12)
            cell = frame[(frame[Z] == key[0]) & (frame[X] == x)]
            assert heatmap["counts"][i][j] == len(cell)
            finite = cell[np.isfinite(cell[metric])]
            if finite.empty:
                assert heatmap["best"][i][j] is None
            else:
                best = finite.set_index("param_hash")[metric][heatmap["best"][i][j]]
                assert best == (finite[metric].max() if higher else finite[metric].min())
    assert heatmap["runs"] == 27 and heatmap["higher_is_better"] is higher


def test_heatmap_pins_other_paths_with_where(client: httpx.Client, results: pd.DataFrame) -> None:
    heatmap = get(client, f"/api/sweeps/{SWEEP}/heatmap", x=X, y=Y, metric="sharpe",
                  where=[f"{Z}:off"])
    pinned = results[results[Z].isna()]
    assert heatmap["where"] == {Z: None} and heatmap["runs"] == len(pinned) == 9
    for i, y in enumerate(heatmap["y_values"]):
        for j, x in enumerate(heatmap["x_values"]):
            cell = pinned[(pinned[X] == x) & (pinned[Y].isna() if y is None
                                              else pinned[Y] == y)]
            assert heatmap["values"][i][j] == cell["sharpe"].max()
    two = get(client, f"/api/sweeps/{SWEEP}/heatmap", x=X, y=Y, where=[f"{Z}:2"])
    assert two["runs"] == 9 and two["where"] == {Z: 2.0}


@pytest.mark.parametrize(("params", "named"), [
    ({"x": "bogus", "y": Y}, "'bogus'"),
    ({"x": X, "y": X}, "both"),
    ({"x": X, "y": Y, "metric": "sharp"}, "'sharp'"),
    ({"x": X, "y": Y, "where": "nocolon"}, "PATH:VALUE"),
    ({"x": X, "y": Y, "where": f"{Z}:abc"}, "not 'abc'"),
    ({"x": X, "y": Y, "filter": "bad name > 1"}, "filter:"),
])
def test_bad_heatmap_queries_are_422_naming_the_parameter(client: httpx.Client,
                                                          params: dict[str, str],
                                                          named: str) -> None:
    detail = get(client, f"/api/sweeps/{SWEEP}/heatmap", 422, **params)["detail"]
    assert named in str(detail)


def test_heatmap_cells_are_bounded(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import gridbt.results.runs

    monkeypatch.setattr(gridbt.results.runs, "MAX_HEATMAP_CELLS", 8)
    detail = get(client, f"/api/sweeps/{SWEEP}/heatmap", 422, x=X, y=Y)["detail"]
    assert "3 x 3 cells is more than 8" in detail
    assert get(client, f"/api/sweeps/{SWEEP}/heatmap", 422, x=X, y=Y, agg="p90")


def test_slices_are_the_quartiles_of_each_value(client: httpx.Client,
                                               results: pd.DataFrame) -> None:
    slices = get(client, f"/api/sweeps/{SWEEP}/slices", path=Y, metric="cagr")
    assert [r["value"] for r in slices["rows"]] == [0.25, 0.5, None]
    for row in slices["rows"]:
        values = results[results[Y].isna() if row["value"] is None
                         else results[Y] == row["value"]]["cagr"].dropna()
        assert row["count"] == len(values)
        assert row["median"] == pytest.approx(values.median(), rel=1e-12)
        assert row["q1"] == pytest.approx(values.quantile(0.25), rel=1e-12)
        assert row["q3"] == pytest.approx(values.quantile(0.75), rel=1e-12)
        assert (row["min"], row["max"]) == (values.min(), values.max())
        assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)


def test_the_distribution_is_the_histogram_moments_and_records_of_pandas(
        client: httpx.Client, results: pd.DataFrame) -> None:
    d = get(client, f"/api/sweeps/{SWEEP}/distribution", metric="cagr", bins=7)
    values = results["cagr"].dropna()
    assert d["runs"] == len(values) and d["undefined"] == len(results) - len(values)
    assert d["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert d["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    counts, edges = np.histogram(values, bins=7, range=(values.min(), values.max()))
    assert d["counts"] == counts.tolist() and sum(d["counts"]) == len(values)
    assert d["edges"] == pytest.approx(edges.tolist(), rel=1e-12)
    ordered = results.dropna(subset=["cagr"]).sort_values("combo")
    before = ordered["cagr"].cummax().shift(1)
    records = ordered[before.isna() | (ordered["cagr"] > before)]
    assert d["record_combos"] == records["combo"].tolist()
    assert d["record_values"] == records["cagr"].tolist()
    # lower is better for a drawdown: its records fall; a filter narrows the runs
    dd = get(client, f"/api/sweeps/{SWEEP}/distribution", metric="max_drawdown",
             filter=f"{Z} = 2")
    assert dd["higher_is_better"] is False
    assert dd["record_values"] == sorted(dd["record_values"], reverse=True)
    assert dd["runs"] == int(results.loc[results[Z] == 2, "max_drawdown"].notna().sum())
    assert "bins" in get(client, f"/api/sweeps/{SWEEP}/distribution", 422, bins=0)["detail"][0][
        "loc"]
    assert "sharp" in get(client, f"/api/sweeps/{SWEEP}/distribution", 422,
                          metric="sharp")["detail"]


def test_the_metrics_route_is_the_kpi_registry(client: httpx.Client) -> None:
    from gridbt.kernel.metrics import METRICS

    served_metrics = get(client, "/api/metrics")
    assert [m["name"] for m in served_metrics] == [m.name for m in METRICS]
    sharpe = next(m for m in served_metrics if m["name"] == "sharpe")
    assert sharpe["unit"] == "ratio" and sharpe["higher_is_better"] is True


# ---------------------------------------------------------------------- one run
def test_a_run_has_its_values_kpis_and_resolved_strategy(client: httpx.Client,
                                                         results: pd.DataFrame) -> None:
    row = results.iloc[7]
    run = get(client, f"/api/sweeps/{SWEEP}/runs/{row['param_hash']}")
    assert run["combo"] == row["combo"] and run["kpis"]["cagr"] == row["cagr"]
    assert run["strategy"]["structure"]["legs"][0]["select"]["target"] == row[X]
    assert run["strategy"]["exit"]["profit_target"] == (None if pd.isna(row[Y]) else row[Y])
    assert run["strategy"]["name"] == f"short_put_30d#{row['combo']}"
    assert get(client, f"/api/sweeps/{SWEEP}/runs/0123456789abcdef", 404)["detail"]


def _kept(root: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(root / "sweeps" / "tiny" / "equity" / "top.parquet")
    return {h: np.asarray(e) for h, e in zip(table.column("param_hash").to_pylist(),
                                             table.column("equity").to_pylist(), strict=True)}


def test_downsampled_equity_keeps_first_last_max_and_min(client: httpx.Client,
                                                         root: Path) -> None:
    param_hash, curve = next(iter(_kept(root).items()))
    dates = pq.read_table(root / "sweeps" / "tiny" / "equity" / "dates.parquet")
    dates = [str(d) for d in dates.column("date").to_pylist()]
    full = get(client, f"/api/sweeps/{SWEEP}/runs/{param_hash}/equity", points=10_000)  # the most
    assert full["source"] == "kept" and full["days"] == full["points"] == len(curve)
    assert full["equity"] == list(curve) and full["dates"] == dates
    small = get(client, f"/api/sweeps/{SWEEP}/runs/{param_hash}/equity", points=12)
    assert small["points"] == len(small["equity"]) == len(small["dates"]) <= 12
    assert small["dates"][0] == dates[0] and small["dates"][-1] == dates[-1]
    assert max(small["equity"]) == curve.max() and min(small["equity"]) == curve.min()
    kept = {d: e for d, e in zip(dates, curve, strict=True)}
    assert all(kept[d] == e for d, e in zip(small["dates"], small["equity"], strict=True))
    peak = np.maximum.accumulate(curve)
    assert min(small["drawdown"]) == pytest.approx((curve / peak - 1).min())
    assert get(client, f"/api/sweeps/{SWEEP}/runs/{param_hash}/equity", 422, points=10_001)


def test_every_curve_carries_the_underlying_on_its_days(client: httpx.Client, root: Path,
                                                        results: pd.DataFrame) -> None:
    """Kept and recomputed, a sweep's run and a study's trial: `columns.spot` is the chain's
    close on each day served (the tear sheet's benchmark and stress windows read it); with
    `regimes`, the chain's regime features as well, for a backtest too."""
    from gridbt.data.default import load_packed

    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    packed = load_packed(manifest["sweep"]["data"])
    spot = dict(zip((str(d) for d in packed.day_date.astype("datetime64[D]")),
                    packed.day_spot.tolist(), strict=True))
    kept = next(iter(_kept(root)))
    other = results[~results["param_hash"].isin(_kept(root))]["param_hash"].iloc[0]
    trials = get(client, f"/api/studies/{STUDY}")["trial_rows"]
    urls = [f"/api/sweeps/{SWEEP}/runs/{kept}/equity",
            f"/api/sweeps/{SWEEP}/runs/{other}/equity",
            *(f"/api/studies/{STUDY}/trials/{t['number']}/equity" for t in
              (next(t for t in trials if t["equity_kept"]),
               next(t for t in trials if not t["equity_kept"])))]
    for url in urls:
        equity = get(client, url, points=40)
        assert equity["columns"]["spot"] == [spot[d] for d in equity["dates"]], url
        assert "vix_30" not in equity["columns"]
    # asked for, the regime features too (a backtest's book has its own spot)
    days = [str(d) for d in packed.day_date.astype("datetime64[D]")]
    for url in [*urls, f"/api/backtests/{BACKTEST}/equity"]:
        equity = get(client, url, points=40, regimes="true")
        at = [days.index(d) for d in equity["dates"]]
        for name in ("vix_30", "iv_rank", "trend_200"):
            feature = packed.features[packed.feature_names.index(name)]
            assert equity["columns"][name] == [
                None if np.isnan(feature[t]) else float(feature[t]) for t in at], (url, name)


def test_trades_carry_the_regime_at_entry(client: httpx.Client, root: Path,
                                          results: pd.DataFrame) -> None:
    """A recomputed run's trades and a backtest's: the chain's regime features at the close of
    each entry day (the trades explorer buckets them)."""
    from gridbt.data.default import load_packed

    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    packed = load_packed(manifest["sweep"]["data"])
    days = [str(d) for d in packed.day_date.astype("datetime64[D]")]
    run = results["param_hash"].iloc[0]
    for url in (f"/api/sweeps/{SWEEP}/runs/{run}/trades", f"/api/backtests/{BACKTEST}/trades"):
        trades = get(client, url)["trades"]
        assert trades, url
        for trade in trades:
            day = days.index(trade["entry_date"])
            want = {name: float(packed.features[packed.feature_names.index(name)][day])
                    for name in ("vix_30", "iv_rank", "trend_200")}
            assert trade["entry_regime"] == {k: (None if np.isnan(v) else v)
                                             for k, v in want.items()}, url


def test_a_recomputed_run_equals_its_kept_curve(client: httpx.Client, root: Path) -> None:
    """The same sweep without its kept curves (a copy under the root): every run's curve is
    recomputed, and equals the curve the sweep kept."""
    copy = root / "sweeps" / "nokeep"
    shutil.copytree(root / "sweeps" / "tiny", copy, ignore=shutil.ignore_patterns("top*"))
    time.sleep(0.25)  # found by the rescan an unknown id forces (at most every 0.2 s)
    try:
        for param_hash, curve in _kept(root).items():
            assert get(client, f"/api/sweeps/{SWEEP}/runs/{param_hash}")["equity_kept"]
            equity = get(client, f"/api/sweeps/sweeps~nokeep/runs/{param_hash}/equity",
                         points=5000)
            assert equity["source"] == "recomputed"
            assert equity["equity"] == list(curve)
            run = get(client, f"/api/sweeps/sweeps~nokeep/runs/{param_hash}")
            assert not run["equity_kept"]
    finally:
        shutil.rmtree(copy)


def test_any_run_can_be_opened_its_curve_and_trades_recomputed(client: httpx.Client,
                                                               results: pd.DataFrame,
                                                               root: Path) -> None:
    kept = _kept(root)
    row = results[~results["param_hash"].isin(kept)].iloc[-1]
    equity = get(client, f"/api/sweeps/{SWEEP}/runs/{row['param_hash']}/equity", points=5000)
    assert equity["source"] == "recomputed" and equity["days"] == 252
    assert equity["equity"][-1] == pytest.approx(row["final_equity"], rel=1e-12)
    trades = get(client, f"/api/sweeps/{SWEEP}/runs/{row['param_hash']}/trades")
    assert trades["source"] == "recomputed" and trades["count"] == row["trade_count"]
    assert sum(t["pnl"] for t in trades["trades"]) == pytest.approx(row["total_pnl"])
    assert all(t["legs"] and t["legs"][0]["right"] == "P" for t in trades["trades"])
    # the short put is picked by delta (target, tolerance 0.10): its entry delta is a put's near it
    target = row[X]
    assert all(-target - 0.11 < t["legs"][0]["entry_delta"] < -target + 0.11
               for t in trades["trades"])
    payoff = get(client, f"/api/sweeps/{SWEEP}/runs/{row['param_hash']}/trades/0/payoff")
    assert payoff["legs"][0]["strike"] == trades["trades"][0]["legs"][0]["strike"]
    same = get(client, "/api/payoff", sweep=SWEEP, run=row["param_hash"], trade=0)
    assert same == payoff


# ---------------------------------------------------------------------- robustness
def test_robustness_has_the_statistics_and_each_top_outcome_neighbourhood(
        client: httpx.Client, root: Path, results: pd.DataFrame) -> None:
    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    robust = get(client, f"/api/sweeps/{SWEEP}/robustness", metric="sharpe", top=27)
    assert robust["statistics_source"] == "sweep.json"
    assert robust["statistics"] == manifest["statistics"]
    assert robust["statistics"]["n_trials"] == manifest["statistics"]["n_outcomes"] < 27
    assert {"deflated_sharpe", "pbo", "oos_degradation"} <= robust["statistics"].keys()
    # each outcome once, as its best run: copies of one strategy would repeat its number
    best = results.sort_values(["sharpe", "combo"], ascending=[False, True]).drop_duplicates(
        "outcome_hash")
    assert len(best) < 27
    assert [n["param_hash"] for n in robust["neighbourhood"]] == list(best["param_hash"])
    axes = {X: [0.1, 0.2, 0.3], Y: [0.25, 0.5, None], Z: [1.5, 2.0, None]}
    frame = results.fillna({Y: -1.0, Z: -1.0})
    for item in robust["neighbourhood"]:
        near = np.ones(len(frame), bool)
        for path, values in axes.items():
            at = values.index(item["params"][path])
            allowed = [-1.0 if v is None else v for v in values[max(at - 1, 0):at + 2]]
            near &= frame[path].isin(allowed)
        around = frame[near]["sharpe"].dropna()
        assert item["neighbours"] == len(around)
        assert item["mean"] == pytest.approx(around.mean())
        assert item["worst"] == around.min()
        assert set(item["sensitivity"]) == set(axes)
    assert get(client, f"/api/sweeps/{SWEEP}/robustness", 422, top=51)


def test_statistics_computed_from_the_parts_equal_the_finished_sweeps(
        root: Path, tmp_path: Path) -> None:
    """A sweep whose sweep.json has no statistics yet (one still running) gets them computed
    from its result parts' block statistics: the numbers its finish writes."""
    copy = tmp_path / "root" / "sweeps" / "tiny"
    shutil.copytree(root / "sweeps" / "tiny", copy)
    manifest = json.loads((copy / "sweep.json").read_text())
    written = manifest.pop("statistics")
    (copy / "sweep.json").write_text(json.dumps(manifest))
    with served(create_app(Catalog(tmp_path / "root", refresh_seconds=0.0))) as http:
        robust = get(http, f"/api/sweeps/{SWEEP}/robustness", top=1)
    assert robust["statistics_source"] == "computed"
    for name in ("deflated_sharpe", "pbo", "n_trials", "oos_degradation"):
        assert robust["statistics"][name] == pytest.approx(written[name], rel=1e-9), name


def test_stability_ranks_the_distinct_outcomes_over_time(client: httpx.Client,
                                                          root: Path) -> None:
    """The route reads the result parts' block statistics: one point per distinct outcome,
    the rank correlation of their Sharpe between the halves as scipy gives it."""
    from scipy.stats import spearmanr

    from gridbt.sweep.finish import BLOCK_COLUMNS, block_matrix, distinct_outcomes, ranked
    from gridbt.sweep.results import arrow_lists

    manifest = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    frame = pd.concat([pq.read_table(p).to_pandas(types_mapper=arrow_lists) for p in
                       sorted((root / "sweeps" / "tiny" / "results").glob("part-*.parquet"))])
    frame = distinct_outcomes(ranked(frame.drop_duplicates("param_hash"), "sharpe", True))
    stats = np.stack([block_matrix(frame[c]) for c in BLOCK_COLUMNS], axis=-1)
    half = stats.shape[1] // 2
    n = stats[:, :, 0]
    mean_a = stats[:, :half, 1].sum(1) / n[:, :half].sum(1)
    mean_b = stats[:, half:, 1].sum(1) / n[:, half:].sum(1)
    var_a = (stats[:, :half, 2].sum(1) - n[:, :half].sum(1) * mean_a**2) / (n[:, :half].sum(1) - 1)
    var_b = (stats[:, half:, 2].sum(1) - n[:, half:].sum(1) * mean_b**2) / (n[:, half:].sum(1) - 1)
    got = get(client, f"/api/sweeps/{SWEEP}/stability")
    assert got["runs"] == len(frame) == len(got["points"])
    assert len(got["blocks"]) == manifest["sweep"]["pbo_blocks"]
    assert got["halves_rank_correlation"] == pytest.approx(
        spearmanr(mean_a / np.sqrt(var_a), mean_b / np.sqrt(var_b)).statistic, abs=1e-9)
    days = pd.read_parquet(root / "sweeps" / "tiny" / "equity" / "dates.parquet")["date"]
    assert got["blocks"][0]["first"] == str(days.iloc[1])[:10]
    assert got["blocks"][-1]["last"] == got["halves"][-1] == str(days.iloc[-1])[:10]


# ---------------------------------------------------------------------- studies
def test_studies_list_and_detail(client: httpx.Client, root: Path) -> None:
    summary = json.loads((root / "studies" / "tiny" / "summary.json").read_text())
    (item,) = get(client, "/api/studies")
    assert item["id"] == STUDY and item["name"] == "tiny_study"
    assert item["trials"] == {"complete": 12, "fail": 0, "pruned": 0}
    assert item["deflated_sharpe"] == summary["statistics"]["deflated_sharpe"]
    # the deflated Sharpe's N: the study's distinct outcomes, not its parameter sets
    assert item["n_trials"] == summary["statistics"]["n_outcomes"]
    assert item["parameter_sets"] == summary["statistics"]["n_parameter_sets"] == 12
    assert item["walk_forward_degradation"] == summary["walk_forward"]["degradation"]
    days = pd.read_parquet(root / "studies" / "tiny" / "equity" / "dates.parquet")["date"]
    assert (item["first_date"], item["last_date"]) == (str(days.iloc[0])[:10],
                                                       str(days.iloc[-1])[:10])
    detail = get(client, f"/api/studies/{STUDY}")
    trials = pd.read_parquet(root / "studies" / "tiny" / "trials.parquet")
    assert [t["number"] for t in detail["trial_rows"]] == list(trials["trial"])
    first = detail["trial_rows"][0]
    assert first["values"] == [trials["objective_sharpe"][0],
                               trials["objective_max_drawdown"][0]]
    assert set(first["params"]) == {X, Y, Z}
    assert all(len(t["fold_values"]) == 2 for t in detail["trial_rows"])
    # a trial's objective is the mean over the folds of its first objective
    assert np.mean(first["fold_values"]) == pytest.approx(first["values"][0])
    assert detail["pareto"] == summary["pareto"]
    assert detail["summary"] == summary


def test_a_trial_has_its_resolved_strategy(client: httpx.Client, root: Path) -> None:
    from gridbt.strategy.paths import get_path

    start = json.loads((root / "studies" / "tiny" / "study.json").read_text())
    base = yaml.safe_load(SHORT_PUT.read_text())
    assert start["base_strategy"]["name"] == base["name"]
    for trial in get(client, f"/api/studies/{STUDY}")["trial_rows"]:
        detail = get(client, f"/api/studies/{STUDY}/trials/{trial['number']}")
        assert detail["params"] == trial["params"] and detail["kpis"] == trial["kpis"]
        strategy = detail["strategy"]
        assert strategy["name"] == f"{base['name']}#t{trial['number']}"
        for path, value in trial["params"].items():
            assert get_path(strategy, path) == value, path
        # what the study did not search is the base strategy's
        assert strategy["structure"] == {**start["base_strategy"]["structure"],
                                         "legs": strategy["structure"]["legs"]}
        assert detail["recomputable"] and detail["strategy_note"] is None
        assert detail["data"] == start["data"] and detail["data_fingerprint"] == \
            start["data_fingerprint"]
    get(client, f"/api/studies/{STUDY}/trials/999", 404)


def test_a_trial_equity_is_kept_or_backtested_again_exactly(
        client: httpx.Client, root: Path, tmp_path: Path) -> None:
    trials = get(client, f"/api/studies/{STUDY}")["trial_rows"]
    kept = [t["number"] for t in trials if t["equity_kept"]]
    assert len(kept) == 3
    equity = get(client, f"/api/studies/{STUDY}/trials/{kept[0]}/equity", points=50)
    assert equity["source"] == "kept" and equity["days"] == 252 and equity["points"] <= 50
    other = next(t["number"] for t in trials if not t["equity_kept"])
    again = get(client, f"/api/studies/{STUDY}/trials/{other}/equity", points=1000)
    assert again["source"] == "recomputed" and again["days"] == again["points"] == 252
    # backtested again, a kept trial gives the study's own curve to the bit
    copy = tmp_path / "root" / "studies" / "tiny"
    shutil.copytree(root / "studies" / "tiny", copy, ignore=shutil.ignore_patterns("equity"))
    top = pd.read_parquet(root / "studies" / "tiny" / "equity" / "top.parquet")
    chain = pd.read_parquet(root / "studies" / "tiny" / "equity" / "kpis.parquet")
    with served(create_app(Catalog(tmp_path / "root", refresh_seconds=0.0))) as other_client:
        for number, curve in zip(top["trial"], top["equity"], strict=True):
            got = get(other_client, f"/api/studies/{STUDY}/trials/{number}/equity", points=1000)
            assert got["source"] == "recomputed"
            assert got["equity"] == list(curve)
            trades = get(other_client, f"/api/studies/{STUDY}/trials/{number}/trades")
            want = chain[chain["trial"] == number].iloc[0]
            assert trades["count"] == want["trade_count"] > 0
            assert sum(t["pnl"] for t in trades["trades"]) == pytest.approx(want["total_pnl"])
            payoff = get(other_client, f"/api/studies/{STUDY}/trials/{number}/trades/0/payoff")
            assert payoff == get(other_client, "/api/payoff", study=STUDY, trial=int(number),
                                 trade=0)
            assert payoff["entry_date"] == trades["trades"][0]["entry_date"]


def test_a_trial_is_measured_in_its_in_sample_span_after_it_and_over_the_chain(
        client: httpx.Client, root: Path) -> None:
    """In sample: the study's KPIs; after: the days after the span backtested alone, as the
    study measures its last fold out of sample (the chosen trial's KPIs there, exactly); whole:
    the trial's curve and trades."""
    summary = json.loads((root / "studies" / "tiny" / "summary.json").read_text())
    lo, hi = summary["in_sample_span"]
    last = summary["walk_forward"]["folds"][-1]
    assert last["out_of_sample"] == [hi, 252]  # anchored folds: the last ends the chain
    capital = yaml.safe_load(SHORT_PUT.read_text())["capital"]
    for trial in get(client, f"/api/studies/{STUDY}")["trial_rows"]:
        number = trial["number"]
        spans = get(client, f"/api/studies/{STUDY}/trials/{number}/spans")
        curve = get(client, f"/api/studies/{STUDY}/trials/{number}/equity", points=1000)
        trades = get(client, f"/api/studies/{STUDY}/trials/{number}/trades")["trades"]
        inside, after, whole = spans["in_sample"], spans["after"], spans["whole"]
        assert inside["kpis"] == trial["kpis"]
        assert [inside["first_date"], inside["last_date"]] == summary["in_sample_span_dates"]
        assert (inside["days"], after["days"], whole["days"]) == (hi - lo, 252 - hi, 252)
        dates, equity = curve["dates"], curve["equity"]
        assert [after["first_date"], after["last_date"]] == last["out_of_sample_dates"] == [
            dates[hi], dates[-1]]
        assert [whole["first_date"], whole["last_date"]] == [dates[0], dates[-1]]
        assert whole["kpis"]["total_return"] == pytest.approx(equity[-1] / capital - 1,
                                                              abs=1e-12)
        assert whole["kpis"]["trade_count"] == len(trades)
        # backtested alone, the days after the span open flat with the strategy's capital
        assert after["kpis"]["final_equity"] == pytest.approx(
            capital + after["kpis"]["total_pnl"])
        if number == summary["best"]["trial"]:
            assert after["kpis"] == last["chosen_oos_kpis"]
            assert after["kpis"]["trade_count"] > 0


def test_a_studys_ranking_after_its_in_sample_span(client: httpx.Client, root: Path,
                                                   tmp_path: Path) -> None:
    """Every complete trial, best in sample first, backtested after the span in one batch: the
    same KPI as each trial's own spans route, and Spearman's correlation of the two."""
    from scipy.stats import spearmanr

    trials = {t["number"]: t for t in get(client, f"/api/studies/{STUDY}")["trial_rows"]}
    complete = [t for t in trials.values() if t["state"] == "COMPLETE"]
    after = get(client, f"/api/studies/{STUDY}/after")
    assert after["metric"] == "sharpe"  # the first objective
    assert after["complete"] == after["trials"] == len(after["points"]) == len(complete)
    spans = get(client, f"/api/studies/{STUDY}/trials/{complete[0]['number']}/spans")
    assert [after["first_date"], after["last_date"]] == [spans["after"]["first_date"],
                                                         spans["after"]["last_date"]]
    inside = [p["in_sample"] for p in after["points"]]
    assert inside == sorted(inside, reverse=True)
    for point in after["points"]:
        assert point["in_sample"] == trials[point["number"]]["kpis"]["sharpe"]
        one = get(client, f"/api/studies/{STUDY}/trials/{point['number']}/spans")["after"]
        assert point["after"] == one["kpis"]["sharpe"]  # batch and single run: the same bits
    later = [p["after"] for p in after["points"]]
    assert after["rank_correlation"] == pytest.approx(spearmanr(inside, later).statistic)
    top = max(1, len(later) // 10)  # the in-sample top 10%: the first points
    percentile = pd.Series(later).rank(pct=True)
    assert after["top_decile_percentile"] == pytest.approx(float(percentile[:top].median()))
    # the best two by max drawdown in sample: the smallest first
    two = get(client, f"/api/studies/{STUDY}/after", metric="max_drawdown", top=2)
    assert (two["trials"], two["complete"]) == (2, len(complete))
    drawdowns = sorted(t["kpis"]["max_drawdown"] for t in complete)
    assert [p["in_sample"] for p in two["points"]] == drawdowns[:2]
    assert "unknown KPI 'sharp'" in get(client, f"/api/studies/{STUDY}/after", 422,
                                        metric="sharp")["detail"]
    get(client, f"/api/studies/{STUDY}/after", 422, top=0)
    # a study that ranked its trials on the whole chain has no day after its span
    copy = tmp_path / "root" / "studies" / "tiny"
    shutil.copytree(root / "studies" / "tiny", copy, ignore=shutil.ignore_patterns("equity"))
    summary = json.loads((copy / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps({**summary, "in_sample_span": [0, 252]}))
    with served(create_app(Catalog(tmp_path / "root", refresh_seconds=0.0))) as http:
        assert "no day is after its in-sample span" in get(
            http, f"/api/studies/{STUDY}/after", 409)["detail"]
        assert get(http, f"/api/studies/{STUDY}/trials/0/spans")["after"] is None


def test_a_trial_spans_whole_chain_is_the_backtest_of_its_strategy(
        client: httpx.Client, tmp_path: Path) -> None:
    """`gridbt backtest` of the trial's resolved strategy: the same whole-chain KPIs, skipped
    entries and counters as the spans route (which a study does not record)."""
    trials = get(client, f"/api/studies/{STUDY}")["trial_rows"]
    number = next(t["number"] for t in trials if t["state"] == "COMPLETE")
    detail = get(client, f"/api/studies/{STUDY}/trials/{number}")
    spans = get(client, f"/api/studies/{STUDY}/trials/{number}/spans")
    strategy = tmp_path / "trial.yaml"
    strategy.write_text(yaml.safe_dump(detail["strategy"]))
    run_cli("backtest", "--strategy", strategy, "--data", detail["data"], "--out",
            tmp_path / "out", "--no-tearsheet", cwd=tmp_path)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert spans["whole"]["kpis"] == summary["kpis"]
    assert spans["skips"] == summary["skips"]  # every reason named (zeros on this chain)
    assert spans["counters"] == {k: summary[k] for k in ("missing_quote_days", "stale_fills")}


def _edited_study(root: Path, tmp_path: Path, start: dict[str, Any] | None = None,
                  state: str | None = None) -> Catalog:
    """A copy of the tiny study under a new root, its study.json fields replaced by `start`
    (None values removed) and its first trial's state set to `state`."""
    copy = tmp_path / "root" / "studies" / "tiny"
    shutil.copytree(root / "studies" / "tiny", copy, ignore=shutil.ignore_patterns("equity"))
    manifest = json.loads((copy / "study.json").read_text())
    for key, value in (start or {}).items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    (copy / "study.json").write_text(json.dumps(manifest))
    if state is not None:
        frame = pd.read_parquet(copy / "trials.parquet")
        frame.loc[0, "state"] = state
        frame.to_parquet(copy / "trials.parquet")
    return Catalog(tmp_path / "root", refresh_seconds=0.0)


def test_a_study_that_did_not_record_its_base_strategy_says_how_to(
        root: Path, tmp_path: Path) -> None:
    with served(create_app(_edited_study(root, tmp_path, {"base_strategy": None}))) as http:
        detail = get(http, f"/api/studies/{STUDY}/trials/0")
        assert detail["strategy"] is None and not detail["recomputable"]
        assert detail["strategy_note"] == (
            "trial 0: the study did not record its base strategy (it last ran before gridbt "
            "did); gridbt optimize STUDY_FILE --out DIR --resume records it without running a "
            "trial")
        assert "did not record its base strategy" in get(
            http, f"/api/studies/{STUDY}/trials/0/equity", 409)["detail"]


def test_a_failed_trial_has_no_backtest(root: Path, tmp_path: Path) -> None:
    with served(create_app(_edited_study(root, tmp_path, state="FAIL"))) as http:
        detail = get(http, f"/api/studies/{STUDY}/trials/0")
        assert detail["state"] == "FAIL" and detail["strategy"] is not None
        assert not detail["recomputable"]
        for tail in ("equity", "trades", "trades/0/payoff", "spans"):
            assert "has no backtest" in get(http, f"/api/studies/{STUDY}/trials/0/{tail}",
                                            404)["detail"]


def test_a_conditional_path_a_trial_did_not_sample_keeps_the_base_value(
        root: Path, tmp_path: Path) -> None:
    trials = pd.read_parquet(root / "studies" / "tiny" / "trials.parquet")
    off = trials[trials[Z].isna()]
    assert len(off), "the tiny study has a trial with its stop off"
    number = int(off["trial"].iloc[0])
    base = json.loads((root / "studies" / "tiny" / "study.json").read_text())["base_strategy"]
    leaf = Z.split(".")[-1]
    assert base["exit"][leaf] is not None
    plain = _edited_study(root, tmp_path / "a")
    assert plain.trial(STUDY, number).strategy["exit"][leaf] is None  # null: the stop is off
    conditional = _edited_study(root, tmp_path / "b", {"conditional_paths": [Z]})
    assert conditional.trial(STUDY, number).strategy["exit"][leaf] == base["exit"][leaf]


# ---------------------------------------------------------------------- backtests
def test_backtests_list_detail_and_trades(client: httpx.Client, root: Path) -> None:
    summary = json.loads((root / "backtests" / "bt" / "summary.json").read_text())
    (item,) = get(client, "/api/backtests")
    assert item["id"] == BACKTEST and item["name"] == "short_put_30d"
    assert item["kpis"] == summary["kpis"]
    assert get(client, f"/api/backtests/{BACKTEST}")["summary"] == summary
    trades = get(client, f"/api/backtests/{BACKTEST}/trades")
    table = pq.read_table(root / "backtests" / "bt" / "trades.parquet").to_pylist()
    assert trades["count"] == len(table) and trades["source"] == "file"
    for got, want in zip(trades["trades"], table, strict=True):
        assert got["pnl"] == want["pnl"] and got["exit_reason"] == want["exit_reason"]
        assert got["entry_date"] == str(want["entry_date"])
        assert [leg["strike"] for leg in got["legs"]] == [leg["strike"] for leg in want["legs"]]


def test_backtest_equity_has_the_book_and_keeps_the_attribution_totals(
        client: httpx.Client, root: Path) -> None:
    frame = pd.read_parquet(root / "backtests" / "bt" / "equity.parquet")
    equity = get(client, f"/api/backtests/{BACKTEST}/equity", points=20)
    assert equity["source"] == "file" and equity["days"] == len(frame)
    assert equity["points"] <= 20
    assert {"delta", "gamma", "vega", "theta", "initial_margin", "pnl_delta", "pnl_theta",
            "spot", "in_market"} <= equity["columns"].keys()
    assert max(equity["equity"]) == frame["equity"].max()
    assert min(equity["equity"]) == frame["equity"].min()
    for name in ("pnl_delta", "pnl_theta", "pnl_residual"):
        assert sum(equity["columns"][name]) == pytest.approx(frame[name].sum(), abs=1e-6)
    spot = dict(zip(frame["date"].astype(str), frame["spot"], strict=True))
    assert equity["columns"]["spot"] == [spot[d] for d in equity["dates"]]


def test_payoff_of_a_short_put(client: httpx.Client) -> None:
    trade = get(client, f"/api/backtests/{BACKTEST}/trades")["trades"][0]
    (leg,) = trade["legs"]
    payoff = get(client, "/api/payoff", backtest=BACKTEST, trade=0, points=101)
    credit = leg["entry_fill"] * 100 * trade["contracts"]
    assert len(payoff["spots"]) == len(payoff["at_expiry"]) == len(payoff["t0"]) == 101
    assert payoff["max_profit"] == pytest.approx(credit)
    assert payoff["breakevens"] == [pytest.approx(leg["strike"] - leg["entry_fill"])]
    assert payoff["legs"][0]["iv"] > 0 and payoff["expected_move"] > 0
    assert not payoff["unbounded_profit"] and not payoff["unbounded_loss"]
    # at entry the structure is worth about what was paid for it (fills at mid)
    at_spot = np.interp(payoff["spot"], payoff["spots"], payoff["t0"])
    assert abs(at_spot) < 0.05 * credit
    assert get(client, "/api/payoff", 404, backtest=BACKTEST, trade=10_000)
    assert get(client, "/api/payoff", 422, trade=0)
    assert get(client, "/api/payoff", 422, backtest=BACKTEST, sweep=SWEEP, trade=0)


def _bs_delta(right: str, spot: float, strike: float, years: float, vol: float, rate: float,
              dividend: float) -> float:
    """Black-Scholes-Merton delta written out (not gridbt's kernels)."""
    d1 = (math.log(spot / strike) + (rate - dividend + vol * vol / 2) * years) / (
        vol * math.sqrt(years))
    cdf = 0.5 * math.erfc(-d1 / math.sqrt(2))
    return math.exp(-dividend * years) * (cdf if right == "C" else cdf - 1)


def test_each_leg_has_its_black_scholes_delta_at_entry(client: httpx.Client,
                                                       root: Path) -> None:
    trades = get(client, f"/api/backtests/{BACKTEST}/trades")["trades"]
    assert trades and all(leg["entry_delta"] is not None for t in trades for leg in t["legs"])
    frame = pd.read_parquet(root / "backtests" / "bt" / "equity.parquet")
    spots = dict(zip(frame["date"].astype(str), frame["spot"], strict=True))
    strategy = json.loads((root / "backtests" / "bt" / "summary.json").read_text())["strategy"]
    risk = {"rate": 0.0, "dividend": 0.0} | strategy.get("risk", {})
    for number in (0, len(trades) - 1):
        trade = trades[number]
        (leg,) = trade["legs"]
        # the entry IV is the payoff's (trade detail's)
        payoff = get(client, "/api/payoff", backtest=BACKTEST, trade=number, points=3)
        vol = payoff["legs"][0]["iv"]
        days = (dt.date.fromisoformat(leg["expiry"])
                - dt.date.fromisoformat(trade["entry_date"])).days
        want = _bs_delta(leg["right"], spots[trade["entry_date"]], leg["strike"], days / 365,
                         vol, risk["rate"], risk["dividend"])
        assert leg["entry_delta"] == pytest.approx(want, rel=1e-9, abs=1e-12)
        # per option, before side and quantity: a put's delta, though the leg is short
        assert leg["units"] < 0 and -0.5 < leg["entry_delta"] < 0


def test_without_its_chain_a_backtest_has_its_trades_but_no_leg_deltas(
        client: httpx.Client, root: Path, tmp_path: Path) -> None:
    """Nor the regime at entry: both are read from the chain."""
    moved = tmp_path / "root"
    shutil.copytree(root / "backtests" / "bt", moved / "backtests" / "bt")
    summary = json.loads((moved / "backtests" / "bt" / "summary.json").read_text())
    summary["data"]["fingerprint"] = "0" * 16
    (moved / "backtests" / "bt" / "summary.json").write_text(json.dumps(summary))
    with served(create_app(Catalog(moved, refresh_seconds=0.0))) as http:
        trades = get(http, f"/api/backtests/{BACKTEST}/trades")
    want = get(client, f"/api/backtests/{BACKTEST}/trades")
    assert want["count"] > 0 and all(leg["entry_delta"] is not None
                                     for t in want["trades"] for leg in t["legs"])
    for trade in want["trades"]:
        assert trade["entry_regime"]
        trade["entry_regime"] = {}
        for leg in trade["legs"]:
            leg["entry_delta"] = None
    assert trades == want


# ---------------------------------------------------------------------- safety
@pytest.mark.parametrize("url", [
    "/api/sweeps/..%2F..%2Fetc%2Fpasswd",
    "/api/sweeps/..%2Foutside%2Fbt",
    "/api/backtests/..%2Foutside%2Fbt",
    "/api/backtests/%2Fetc%2Fpasswd",
    "/api/backtests//etc/passwd",
    "/api/backtests/~",
    "/api/sweeps/sweeps~..~..~outside/runs",
    "/api/sweeps/sweeps~tiny/runs/..%2F..%2Fsweep.json",
    "/api/sweeps/sweeps~tiny/runs/..%2F..%2F..%2Foutside%2Fsecret.txt/equity",
    "/api/backtests/backtests~..~..~outside~bt/equity",
    "/api/studies/studies~tiny%2F..%2F..%2Foutside/trials/0/equity",
])
def test_path_traversal_is_404_with_no_file_content(client: httpx.Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404, response.text
    assert MARKER not in response.text and "root:" not in response.text


def test_a_symlink_out_of_the_root_is_not_followed(client: httpx.Client, catalog: Catalog,
                                                   root: Path) -> None:
    outside = root.parent / "outside"
    links = [root / "backtests" / "escape", root / "linked_summary",
             root / "sweeps" / "tiny" / "results" / "part-zzz-escape.parquet"]
    links[0].symlink_to(outside / "bt", target_is_directory=True)
    links[1].mkdir()
    (links[1] / "summary.json").symlink_to(outside / "bt" / "summary.json")
    links[2].symlink_to(root / "sweeps" / "tiny" / "results.parquet")  # inside: followed
    escape = root / "sweeps" / "tiny" / "results" / "part-zzzz-out.parquet"
    shutil.copy(next((root / "sweeps" / "tiny" / "results").glob("part-*")),
                outside / "part.parquet")
    escape.symlink_to(outside / "part.parquet")
    try:
        time.sleep(0.25)  # a forced rescan waits 0.2 s after the last one
        catalog.rescan(force=True)
        assert [b["id"] for b in get(client, "/api/backtests")] == [BACKTEST]
        for url in ("/api/backtests/backtests~escape", "/api/backtests/linked_summary",
                    "/api/backtests/backtests~escape/trades"):
            response = client.get(url)
            assert response.status_code == 404 and MARKER not in response.text
        # the part linked from inside the root duplicates every run: de-duplicated by hash
        assert get(client, f"/api/sweeps/{SWEEP}/runs")["total"] == 27
    finally:
        for link in [*links[:1], links[2], escape, links[1] / "summary.json"]:
            link.unlink()
        links[1].rmdir()


def test_nothing_but_get(client: httpx.Client) -> None:
    assert client.post("/api/health").status_code == 405
    assert client.delete(f"/api/sweeps/{SWEEP}").status_code == 405


def test_cors_is_off_unless_an_origin_is_given(root: Path) -> None:
    origin = "http://localhost:5173"
    with served(create_app(Catalog(root))) as plain:
        response = plain.get("/api/health", headers={"Origin": origin})
        assert "access-control-allow-origin" not in response.headers
    with served(create_app(Catalog(root), cors=origin)) as open_client:
        response = open_client.get("/api/health", headers={"Origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
        other = open_client.get("/api/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# ---------------------------------------------------------------------- live results
def test_a_growing_sweep_and_duplicated_rows(root: Path, results: pd.DataFrame) -> None:
    """A sweep being written: parts appear (the runs grow), a part repeated by a concurrent
    writer adds no run (the first row of a hash is kept)."""
    source = root / "sweeps" / "tiny"
    live = root / "sweeps" / "live"
    parts = sorted((source / "results").glob("part-*.parquet"))
    assert len(parts) >= 2
    (live / "results").mkdir(parents=True)
    manifest = json.loads((source / "sweep.json").read_text())
    manifest.update(status="running", statistics={}, best={})
    (live / "sweep.json").write_text(json.dumps(manifest))
    shutil.copy(parts[0], live / "results" / parts[0].name)
    lock = lock_directory(live)  # this process runs it, as far as the API can tell
    try:
        with served(create_app(Catalog(root, refresh_seconds=0.0))) as client:
            first = pq.read_metadata(parts[0]).num_rows
            assert get(client, "/api/sweeps/sweeps~live/runs")["total"] == first
            for part in parts[1:]:
                shutil.copy(part, live / "results" / part.name)
            assert get(client, "/api/sweeps/sweeps~live/runs")["total"] == 27
            copy = live / "results" / "part-99999999T999999999999-000001.parquet"
            shutil.copy(parts[0], copy)
            assert get(client, "/api/sweeps/sweeps~live/runs")["total"] == 27
            detail = get(client, "/api/sweeps/sweeps~live")
            assert detail["status"] == "running" and detail["done"] == 27
            best = results.sort_values(["sharpe", "combo"], ascending=[False, True]).iloc[0]
            assert detail["best"]["param_hash"] == best["param_hash"]  # from the runs
            robust = get(client, "/api/sweeps/sweeps~live/robustness", top=1)
            assert robust["statistics_source"] == "computed"
            tiny = json.loads((source / "sweep.json").read_text())["statistics"]
            for name in ("pbo", "deflated_sharpe", "n_trials"):
                assert robust["statistics"][name] == pytest.approx(tiny[name], rel=1e-9)
    finally:
        lock.release()
        shutil.rmtree(live)


def test_live_events_announce_what_appears_and_progresses(root: Path) -> None:
    """The event stream: every entry first, then a backtest that appears and a running sweep
    whose result parts grow, then stops without finishing (its lock is released)."""
    source = root / "sweeps" / "tiny"
    parts = sorted((source / "results").glob("part-*.parquet"))
    running = root / "sweeps" / "running"
    (running / "results").mkdir(parents=True)
    manifest = json.loads((source / "sweep.json").read_text())
    (running / "sweep.json").write_text(json.dumps({**manifest, "status": "running"}))
    shutil.copy(parts[0], running / "results" / parts[0].name)
    lock = lock_directory(running)  # this process runs it, as far as the API can tell
    added = root / "backtests" / "bt2"
    app = create_app(Catalog(root, rescan_seconds=0.0), poll_seconds=0.2)
    try:
        with served(app) as http:
            seen: list[dict[str, Any]] = []
            everything = {("sweep", SWEEP), ("sweep", "sweeps~running"), ("study", STUDY),
                          ("backtest", BACKTEST)}
            deadline = time.monotonic() + 60
            with http.stream("GET", "/api/events",
                             headers={"Accept-Encoding": "gzip"}) as events:
                assert events.headers["content-type"].startswith("text/event-stream")
                assert "content-encoding" not in events.headers  # a stream is not buffered
                for line in events.iter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line[6:]))
                    if {(e["kind"], e["id"]) for e in seen} >= everything \
                            and not added.exists():
                        assert all(e["change"] == "added" for e in seen)
                        shutil.copytree(root / "backtests" / "bt", added)
                        for part in parts[1:]:
                            shutil.copy(part, running / "results" / part.name)
                    done = {e["id"] for e in seen if e["change"] == "added"} >= {
                        "backtests~bt2"} and any(e["id"] == "sweeps~running"
                                                 and e["done"] == 27 for e in seen)
                    if done and lock.held:
                        lock.release()  # the run stops, its manifest still says running
                    stopped = any(e["id"] == "sweeps~running" and e["status"] == "interrupted"
                                  for e in seen)
                    if stopped or time.monotonic() > deadline:
                        break
        first = next(e for e in seen if e["id"] == "sweeps~running")
        assert (first["change"], first["status"], first["valid"]) == ("added", "running", 27)
        assert first["done"] == pq.read_metadata(parts[0]).num_rows
        updates = [e for e in seen if e["id"] == "sweeps~running"][1:]
        assert [(e["change"], e["status"]) for e in updates][-2:] == [
            ("updated", "running"), ("updated", "interrupted")]
        assert updates[-2]["done"] == updates[-1]["done"] == 27
        assert any(e["id"] == "backtests~bt2" and e["change"] == "added" and
                   e["kind"] == "backtest" for e in seen)
    finally:
        lock.release()
        shutil.rmtree(added, ignore_errors=True)
        shutil.rmtree(running, ignore_errors=True)


def test_gridbt_serve_prints_its_url_and_serves(root: Path) -> None:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO),
                                                      os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "gridbt.cli", "serve", "--root", str(root),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"the results under {root}" in line
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None, line
        health = httpx.get(f"{url.group()}/api/health", timeout=30).json()
        assert health["backtests"] >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_browser_is_served_at_the_root_with_its_routes(root: Path, tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<html>BROWSER</html>")
    (static / "assets" / "app-123.js").write_text("console.log(1)")
    (static / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text(MARKER)
    with served(create_app(Catalog(root), static_dir=static)) as http:
        for url in ("/", "/sweeps/sweeps~tiny/landscape?x=a", "/backtests/x/trades/3"):
            response = http.get(url)
            assert response.status_code == 200 and "BROWSER" in response.text, url
            assert response.headers["cache-control"] == "no-cache"
        asset = http.get("/assets/app-123.js")
        assert asset.text == "console.log(1)"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = http.get("/assets/app-123.js", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert http.get("/favicon.svg").text == "<svg/>"
        assert http.get("/assets/missing.js").status_code == 404
        response = http.get("/api/no-such-route")
        assert response.status_code == 404 and "no such route" in response.json()["detail"]
        assert http.get("/api/health").json()["sweeps"] == 1
        assert "swagger" in http.get("/docs").text.lower()
        for url in ("/..%2Fsecret.txt", "/%2e%2e/secret.txt", "/assets/..%2F..%2Fsecret.txt"):
            assert MARKER not in http.get(url).text, url
    with served(create_app(Catalog(root), static_dir=tmp_path / "absent")) as http:
        for url in ("/", "/sweeps/sweeps~tiny"):
            response = http.get(url)
            assert response.status_code == 503 and "make install" in response.text
        assert http.get("/api/health").status_code == 200


def test_answers_are_gzipped_for_a_client_that_accepts_it(client: httpx.Client) -> None:
    """The same JSON either way; fewer bytes on the wire with gzip; small answers as they are."""
    url = f"/api/sweeps/{SWEEP}/runs"
    packed = client.get(url, params={"limit": 27}, headers={"Accept-Encoding": "gzip"})
    plain = client.get(url, params={"limit": 27}, headers={"Accept-Encoding": "identity"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert packed.json() == plain.json()
    assert packed.num_bytes_downloaded < len(plain.content) / 3
    small = client.get("/api/health", headers={"Accept-Encoding": "gzip"})
    assert len(small.content) < 1024 and "content-encoding" not in small.headers


def test_gridbt_serve_refuses_a_root_that_is_not_a_directory(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "gridbt.cli", "serve", "--root",
                        str(tmp_path / "absent")], capture_output=True, text=True,
                       env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=60)
    assert r.returncode == 2
    assert f"--root {tmp_path / 'absent'}: not a directory" in r.stderr


def test_openapi_is_served_and_names_every_route(client: httpx.Client) -> None:
    paths = get(client, "/openapi.json")["paths"]
    assert {"/api/health", "/api/sweeps", "/api/sweeps/{sweep_id}",
            "/api/sweeps/{sweep_id}/runs", "/api/sweeps/{sweep_id}/heatmap",
            "/api/sweeps/{sweep_id}/slices", "/api/sweeps/{sweep_id}/robustness",
            "/api/sweeps/{sweep_id}/runs/{param_hash}",
            "/api/sweeps/{sweep_id}/runs/{param_hash}/equity",
            "/api/sweeps/{sweep_id}/runs/{param_hash}/trades", "/api/studies",
            "/api/studies/{study_id}", "/api/studies/{study_id}/trials/{number}",
            "/api/studies/{study_id}/trials/{number}/equity",
            "/api/studies/{study_id}/trials/{number}/trades",
            "/api/studies/{study_id}/trials/{number}/trades/{trade}/payoff",
            "/api/backtests", "/api/backtests/{backtest_id}",
            "/api/backtests/{backtest_id}/equity", "/api/backtests/{backtest_id}/trades",
            "/api/payoff", "/api/events", "/api/metrics",
            "/api/sweeps/{sweep_id}/distribution", "/api/sweeps/{sweep_id}/stability"
            } <= paths.keys()


# ---------------------------------------------------------------------- running, interrupted
LONG_GRID = {X: "{range: [0.1, 0.4, 0.05]}", Y: "[0.25, 0.5, 0.75, null]",
             Z: "[1.5, 2.0, 3.0, null]", "exit.dte": "[null, 7, 14, 21]",
             "exit.max_holding_days": "[null, 10, 20, 40]",
             "exit.rebalance_days": "[null, 5, 10, 30]"}  # 7,168 runs: killed long before


def _start(kind: str, job: Path, out: Path, cwd: Path) -> subprocess.Popen[str]:
    """`gridbt sweep|optimize JOB --out OUT` in its own session (its local Ray dies with it),
    unsupervised: a process that dies unseen, as under the OOM killer or with its machine, is
    what only the lock can tell (a supervised run's watcher would mark it failed itself)."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO),
                                                      os.environ.get("PYTHONPATH", "")]),
                        "GRIDBT_SUPERVISE": "0"}
    return subprocess.Popen([sys.executable, "-m", "gridbt.cli", kind, str(job), "--out",
                             str(out), "--quiet", "--actors", "1"], cwd=cwd, env=env,
                            text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the driver alone (as the OOM killer would), then what it started."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.stderr is not None:
        proc.stderr.close()


def _until(client: httpx.Client, url: str, found: Any, what: str,
           proc: subprocess.Popen[str], seconds: float = 300) -> Any:
    """Poll `url` until `found(answer)` gives something, while `proc` runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"it ended before {what}: {proc.communicate()[1][-3000:]}"
        response = client.get(url)
        if response.status_code == 200 and (hit := found(response.json())):
            return hit
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds} s")


def test_a_running_sweep_is_running_until_it_is_killed_then_interrupted(
        tmp_path: Path) -> None:
    chain = ensure_synthetic_chain(profile="small")[0]
    job = tmp_path / "long.yaml"
    job.write_text(f"name: long\nstrategy: {SHORT_PUT}\ndata: {chain}\npbo_blocks: 6\n"
                   "mlflow: {enabled: false}\nray: {batch_seconds: 0.02, max_in_flight: 1}\n"
                   "grid:\n" + "".join(f"  {k}: {v}\n" for k, v in LONG_GRID.items()))
    root = tmp_path / "root"
    root.mkdir()
    proc = _start("sweep", job, root / "sweeps" / "long", tmp_path)
    try:
        with served(create_app(Catalog(root, rescan_seconds=0.0))) as client:
            item = _until(client, "/api/sweeps", lambda items: next(
                (i for i in items if i["id"] == "sweeps~long"), None), "a listed sweep", proc)
            assert item["status"] == "running" and item["valid"] == 7168
            assert item["status_hint"].startswith(f"run by PID {proc.pid} of user ")
            assert f"sweep {job} --out " in item["status_hint"]
            _kill(proc)
            (item,) = get(client, "/api/sweeps")
            assert item["status"] == "interrupted" and item["done"] < 7168
            assert json.loads((root / "sweeps" / "long" / "sweep.json").read_text())[
                "status"] == "running"  # what the manifest still says
            hint = item["status_hint"]
            assert f"(the last, PID {proc.pid} on host {socket.gethostname()}, is gone)" in hint
            assert f"`gridbt sweep {job} --out {root / 'sweeps' / 'long'} --quiet --actors 1 " \
                   "--resume` continues it" in hint
            detail = get(client, "/api/sweeps/sweeps~long")
            assert (detail["status"], detail["status_hint"]) == ("interrupted", hint)
    finally:
        if proc.poll() is None:
            _kill(proc)


def test_a_running_study_is_listed_with_its_trials_so_far_then_interrupted(
        tmp_path: Path) -> None:
    chain = ensure_synthetic_chain(profile="small")[0]
    job = tmp_path / "study.yaml"
    job.write_text(textwrap.dedent(f"""\
        name: long_study
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        space:
          {X}: {{float: [0.05, 0.50], step: 0.01}}
          {Y}: {{float: [0.2, 0.9], step: 0.05}}
        trials: 5000
        parallel: 2
        """))
    root = tmp_path / "root"
    root.mkdir()
    proc = _start("optimize", job, root / "studies" / "long", tmp_path)
    sid = "studies~long"
    try:
        with served(create_app(Catalog(root, rescan_seconds=0.0))) as client:
            item = _until(client, "/api/studies", lambda items: next(
                (i for i in items if i["id"] == sid), None), "a listed study", proc)
            assert (item["name"], item["status"], item["planned_trials"]) == (
                "long_study", "running", 5000)
            assert item["status_hint"].startswith(f"run by PID {proc.pid} of user ")
            assert item["objectives"] == [{"kpi": "sharpe", "maximize": True}]
            assert item["best"] is None and item["sampler"] == "tpe"
            _until(client, "/api/studies", lambda items: sum(items[0]["trials"].values()) >= 4,
                   "trials in the storage", proc)
            _kill(proc)
            (item,) = get(client, "/api/studies")
            assert item["status"] == "interrupted"
            assert f"`gridbt optimize {job} --out {root / 'studies' / 'long'} --quiet " \
                   "--actors 1 --resume` continues it" in item["status_hint"]
            detail = get(client, f"/api/studies/{sid}")
            assert detail["summary"]["study"] == "long_study"  # study.json
            trials = detail["trial_rows"]
            assert len(trials) == sum(item["trials"].values()) >= 4
            assert [t["number"] for t in trials] == sorted(t["number"] for t in trials)
            for trial in trials:
                assert trial["state"] in ("COMPLETE", "PRUNED", "FAIL")
                assert set(trial["params"]) == {X, Y}
                if trial["state"] == "COMPLETE":
                    assert trial["values"][0] is None or isinstance(trial["values"][0], float)
                    assert len(trial["fold_values"]) == 1
            assert not (root / "studies" / "long" / "summary.json").exists()
            # the span trials are ranked on is known when the study finishes
            assert "recorded when it finishes" in get(
                client, f"/api/studies/{sid}/trials/{trials[0]['number']}/spans", 409)["detail"]
            assert "recorded when it finishes" in get(
                client, f"/api/studies/{sid}/after", 409)["detail"]
    finally:
        if proc.poll() is None:
            _kill(proc)
