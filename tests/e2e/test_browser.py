"""The results browser in a real browser: Playwright driving the system Chromium (Debian's
`chromium`, installed by `make test`; nothing is downloaded) against `gridbt serve` over a small
workspace the CLI makes in the test (a sweep, a two-objective study with walk-forward folds, a
hedged backtest).

Each test asserts on what is drawn (the data of the ECharts and uPlot instances the browser
registers on `window.gridbtCharts`, and the DOM), not only that elements exist, compares it with
what the API answers, and fails on any console error. A screenshot of each main view is written
to tests/e2e/screenshots/ (git-ignored: artefacts, not compared).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from gridbt.api.frontend import STATIC_DIR, frontend_built
from gridbt.testing.workspace import GRID_PATHS, STUDY_ID, SWEEP_ID, make_workspace

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
SWEEP, STUDY, BACKTEST = SWEEP_ID, STUDY_ID, "backtests~hedged"
X, Y, Z = GRID_PATHS
VIEWPORT = {"width": 1440, "height": 1000}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep (27 runs, 3 kept curves), a study (NSGA-II on Sharpe and max drawdown, two
    anchored folds) and a hedged backtest, as the CLI writes them."""
    return make_workspace(tmp_path_factory.mktemp("e2e"),
                          {"hedged": "hedged_short_strangle"})


@pytest.fixture(scope="module")
def url(root: Path) -> Iterator[str]:
    """`gridbt serve` on a free port over the root, serving the built browser."""
    assert frontend_built(), (f"the results browser is not built in {STATIC_DIR}: `make "
                              "install` builds it (npm --prefix frontend ci && npm --prefix "
                              "frontend run build)")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO),
                                                      os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "gridbt.cli", "serve", "--root", str(root),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert found, "gridbt serve did not print its URL"
        yield found.group()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), ("no system Chromium: `make test` installs it (apt-get "
                                     "install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, base: str, color_scheme: str = "light") -> None:
        self.context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def chart(self, name: str) -> None:
        """Wait until the chart `name` is registered and drawn."""
        self.page.wait_for_function(
            "n => window.gridbtCharts && window.gridbtCharts[n]", arg=name)

    def option(self, name: str) -> Any:
        """The ECharts option of a drawn chart (its data as drawn)."""
        self.chart(name)
        return self.page.evaluate("n => window.gridbtCharts[n].getOption()", name)

    def uplot(self, name: str) -> Any:
        """The data arrays of a drawn uPlot chart."""
        self.chart(name)
        return self.page.evaluate("n => window.gridbtCharts[n].data", name)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(300)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture()
def page(browser: Any, url: str) -> Iterator[Page]:
    p = Page(browser, url)
    yield p
    errors = list(p.errors)
    p.context.close()
    assert not errors, "\n".join(errors)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _drawn_cells(option: Any) -> dict[tuple[int, int], float]:
    """(x index, y index) -> value of the heatmap's defined cells as drawn."""
    cells = {}
    for item in option["series"][0]["data"]:
        x, y, v = item["value"] if isinstance(item, dict) else item
        cells[(int(x), int(y))] = float(v)
    return cells


def _api_cells(heatmap: dict[str, Any]) -> dict[tuple[int, int], float]:
    return {(j, i): v for i, row in enumerate(heatmap["values"])
            for j, v in enumerate(row) if v is not None}


# ---------------------------------------------------------------------- the journey
def test_home_sweep_heatmap_cell_tear_sheet_trades_and_payoff(page: Page, api: httpx.Client
                                                               ) -> None:
    pg = page.page
    page.goto("/")
    table = pg.get_by_test_id("entries")
    table.get_by_text("tiny_study").wait_for()
    assert table.get_attribute("data-rows") == "3"
    for name in ("tiny", "tiny_study", "hedged_short_strangle"):
        assert table.get_by_role("link", name=name, exact=True).count() == 1
    page.shot("home")

    table.get_by_role("link", name="tiny", exact=True).click()
    pg.wait_for_url(re.compile(r"/sweeps/sweeps~tiny$"))
    histogram = page.option("histogram")
    assert sum(point[1] for point in histogram["series"][0]["data"]) == 27
    engines = api.get(f"/api/sweeps/{SWEEP}").json()["engines"]
    assert pg.get_by_test_id("engines").inner_text() == "engine auto: " + ", ".join(
        f"{n} on {where}" for n, where in ((engines["tables"], "trade tables"),
                                           (engines["day"], "the day kernel")) if n)
    assert pg.get_by_test_id("dsr").inner_text().startswith("Deflated Sharpe")
    # the top table: one row per outcome, as the sweep's summary prints it, or every run
    outcomes = api.get(f"/api/sweeps/{SWEEP}/runs",
                       params={"limit": 27, "distinct": "true"}).json()
    assert outcomes["total"] < 27
    top = pg.get_by_test_id("top-runs")
    pg.locator(f'[data-testid="top-runs"][data-rows="{outcomes["total"]}"]').wait_for()
    same = top.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert same == [str(r["same"]) for r in outcomes["rows"]]
    assert pg.get_by_test_id("top-outcomes").inner_text() == (
        f"{outcomes['total']} distinct outcomes among 27 runs.")
    # the title counts the rows there are, not the 50 asked for
    title = pg.locator("h2", has_text=re.compile(r"^Top \d+ (outcomes|runs)"))
    assert title.inner_text().startswith(f"Top {outcomes['total']} outcomes")
    page.shot("sweep-overview")
    pg.get_by_test_id("top-distinct").get_by_role("button", name="every run").click()
    pg.wait_for_url(re.compile(r"distinct=0"))
    pg.locator('[data-testid="top-runs"][data-rows="27"]').wait_for()
    assert pg.get_by_test_id("top-outcomes").count() == 0
    assert title.inner_text().startswith("Top 27 runs")

    pg.get_by_role("link", name="Landscape").click()
    pg.get_by_test_id("axis-x").select_option(Y)
    pg.get_by_test_id("axis-y").select_option(Z)
    pg.locator(f'[data-chart="heatmap"][data-x="{Y}"][data-y="{Z}"]').wait_for()
    expected = api.get(f"/api/sweeps/{SWEEP}/heatmap",
                       params={"x": Y, "y": Z, "metric": "sharpe", "agg": "max"}).json()
    drawn = page.option("heatmap")
    cells = _drawn_cells(drawn)
    assert cells.keys() == _api_cells(expected).keys()
    assert all(_close(cells[k], v) for k, v in _api_cells(expected).items())
    assert drawn["xAxis"][0]["data"] == ["0.25", "0.5", "off"]
    assert drawn["yAxis"][0]["data"] == ["1.5", "2", "off"]
    page.shot("landscape")

    # click the best cell: its best run opens
    (j, i), _ = max(_api_cells(expected).items(), key=lambda kv: kv[1])
    best = expected["best"][i][j]
    px, py = pg.evaluate("([j, i]) => window.gridbtCharts.heatmap.convertToPixel("
                         "{seriesIndex: 0}, [j, i])", [j, i])
    box = pg.locator('[data-chart="heatmap"]').bounding_box()
    assert box is not None
    pg.mouse.click(box["x"] + px, box["y"] + py)
    pg.wait_for_url(re.compile(rf"/sweeps/sweeps~tiny/runs/{best}$"))
    run = api.get(f"/api/sweeps/{SWEEP}/runs/{best}").json()
    sharpe = pg.get_by_test_id("kpi-sharpe").locator(".stat-value")
    sharpe.wait_for()
    assert sharpe.inner_text() == f"{run['kpis']['sharpe']:.2f}"
    equity = api.get(f"/api/sweeps/{SWEEP}/runs/{best}/equity",
                     params={"points": 5000}).json()
    drawn_equity = page.uplot("equity")
    assert len(drawn_equity[0]) == len(equity["dates"]) == equity["days"]
    assert all(_close(a, b) for a, b in zip(drawn_equity[1], equity["equity"], strict=True))
    assert pg.get_by_test_id("drawdowns").locator("tbody tr").count() >= 1
    assert "gridbt backtest --strategy" in pg.get_by_test_id("backtest-command").inner_text()
    assert "legs:" in pg.get_by_test_id("strategy-yaml").inner_text()
    # the underlying, rebased to the run's first equity, drawn once asked for
    shown = "() => window.gridbtCharts.equity.series[2].show"
    assert pg.evaluate(shown) is False
    pg.get_by_test_id("underlying").click()
    pg.wait_for_url(re.compile(r"underlying=1"))
    pg.wait_for_function(shown)
    drawn_spot = page.uplot("equity")[2]
    spot = equity["columns"]["spot"]
    assert all(_close(a, s * equity["equity"][0] / spot[0])
               for a, s in zip(drawn_spot, spot, strict=True))
    # rolling beta to the underlying: on the last day, cov / var of the last 126 returns
    beta = page.uplot("rolling-beta")
    run_r = np.diff(equity["equity"]) / np.array(equity["equity"][:-1])
    spot_r = np.diff(spot) / np.array(spot[:-1])
    cov = np.cov(run_r[-126:], spot_r[-126:])
    assert beta[1][-1] == pytest.approx(cov[0, 1] / cov[1, 1], rel=1e-6)
    # each entry on the VIX line, won or lost, at its entry day's VIX
    entries = api.get(f"/api/sweeps/{SWEEP}/runs/{best}/trades").json()["trades"]
    vol = page.uplot("volatility")
    marked = {(vol[0][i], round(v, 9)) for k in (2, 3) for i, v in enumerate(vol[k])
              if v is not None}
    assert len(marked) == len(entries) > 0
    assert sum(v is not None for v in vol[2]) == sum(t["pnl"] > 0 for t in entries)
    # the section links scroll a section to just below the top bar and the links themselves
    sections = pg.get_by_test_id("sections")
    assert sections.inner_text().split() == [
        "Equity", "Stress", "Volatility", "Regimes", "Returns", "Rolling", "Beta",
        "Distribution", "Book", "Activity", "Strategy"]
    sections.get_by_role("button", name="Regimes").click()
    pg.wait_for_function("() => Math.abs(document.getElementById('ts-regimes')"
                         ".getBoundingClientRect().top - 89) < 2")
    nav_bottom = pg.evaluate("() => document.querySelector('.section-nav')"
                             ".getBoundingClientRect().bottom")
    assert nav_bottom <= 89  # the section's title is not under the links
    # regimes: terciles of the previous close's VIX, every day with a return counted once
    regimes = api.get(f"/api/sweeps/{SWEEP}/runs/{best}/equity",
                      params={"points": 5000, "regimes": "true"}).json()["columns"]
    rows = pg.get_by_test_id("regimes").locator("tbody tr")
    assert rows.count() == 3
    days = sum(int(d.replace(",", "")) for d in
               rows.locator("td:nth-child(3)").all_inner_texts())
    assert days == sum(1 for t in range(1, len(equity["equity"]))
                       if regimes["vix_30"][t - 1] is not None)
    pg.get_by_test_id("regime").get_by_role("button", name="Trend").click()
    pg.wait_for_url(re.compile(r"regime=trend_200"))
    # the router commits the URL before React renders the table again: wait for the header
    pg.get_by_test_id("regimes").locator("thead th", has_text="Trend (spot vs 200-day").wait_for()
    assert "Volatility" not in pg.get_by_test_id("regimes").locator("thead").inner_text()
    # the test chain is 2014 only: no named stress window falls inside it, and it says so
    assert pg.get_by_test_id("stress-none").inner_text() == (
        "None of the named windows (Dot-com bust to 2022 bear market) falls wholly inside "
        f"{equity['dates'][0]} to {equity['dates'][-1]}.")
    monthly = page.option("monthly")
    assert len(monthly["series"][0]["data"]) >= 12
    page.shot("tearsheet-run")

    pg.get_by_role("link", name="Trades").click()
    trades = api.get(f"/api/sweeps/{SWEEP}/runs/{best}/trades").json()
    assert trades["count"] > 0
    trade_table = pg.get_by_test_id("trade-table")
    trade_table.wait_for()
    assert trade_table.get_attribute("data-rows") == str(trades["count"])
    breakdown = page.option("breakdown")
    assert sum(1 for _ in breakdown["series"][0]["data"]) == len(
        {t["exit_reason"] for t in trades["trades"]})
    # by the VIX at entry: the buckets the trades' regimes fall in, in order
    pg.get_by_role("button", name="VIX at entry").click()
    pg.wait_for_url(re.compile(r"by=vix"))
    pg.wait_for_function("() => window.gridbtCharts.breakdown.getOption().xAxis[0].data[0] "
                         "!== 'profit_target'")
    edges = [(15, "<15"), (20, "15–20"), (25, "20–25"), (30, "25–30"), (math.inf, "30+")]
    buckets = [next(label for hi, label in edges if 100 * t["entry_regime"]["vix_30"] < hi)
               for t in trades["trades"]]
    assert page.option("breakdown")["xAxis"][0]["data"] == [
        label for _, label in edges if label in buckets]
    page.shot("trades")

    # trade 0's legs, expanded: each shows the API's entry delta to 3 decimals
    first = trade_table.locator("tbody tr[data-row-id='0']")
    first.get_by_label("expand").click()
    deltas = trade_table.get_by_test_id("leg-delta")
    want = [f"{leg['entry_delta']:.3f}" for leg in trades["trades"][0]["legs"]]
    assert all(leg["entry_delta"] is not None for leg in trades["trades"][0]["legs"])
    deltas.first.wait_for()
    assert deltas.all_inner_texts() == want
    first.get_by_label("collapse").click()

    trade_table.locator("tbody tr[data-row-id='0']").click()
    pg.wait_for_url(re.compile(r"/trades/0$"))
    payoff = api.get(f"/api/sweeps/{SWEEP}/runs/{best}/trades/0/payoff",
                     params={"points": 301}).json()
    drawn_payoff = page.uplot("payoff")
    assert drawn_payoff[0] == pytest.approx(payoff["spots"])
    assert [v for v in drawn_payoff[1] if v is not None] == pytest.approx(
        [v for v in payoff["at_expiry"] if v is not None])
    assert len(drawn_payoff) == 3  # spots, at expiry, T+0
    assert pg.get_by_test_id("legs").locator("tbody tr").count() == len(payoff["legs"])
    # trade detail shows the same, from the API
    assert pg.get_by_test_id("legs").locator("tbody tr td:nth-child(6)").all_inner_texts() == want
    page.shot("trade-detail")


def test_compare_three_runs(page: Page, api: httpx.Client) -> None:
    top = api.get(f"/api/sweeps/{SWEEP}/runs", params={"limit": 3}).json()["rows"]
    hashes = [r["param_hash"] for r in top]
    page.goto(f"/sweeps/{SWEEP}/compare?runs={','.join(hashes)}")
    pg = page.page
    pg.locator('[data-chart="compare-equity"][data-series="3"]').wait_for()  # each run loads
    drawn = page.uplot("compare-equity")
    assert len(drawn) == 1 + 3 + 1  # the runs, then the underlying (hidden until asked for)
    for series in drawn[1:]:
        first = next(v for v in series if v is not None)
        assert first == pytest.approx(1.0)  # rebased
    spot = api.get(f"/api/sweeps/{SWEEP}/runs/{hashes[0]}/equity",
                   params={"points": 1000}).json()["columns"]["spot"]
    assert all(_close(a, s / spot[0]) for a, s in zip(drawn[4], spot, strict=True))
    shown = "() => window.gridbtCharts['compare-equity'].series[4].show"
    assert pg.evaluate(shown) is False
    pg.get_by_test_id("compare-underlying").click()
    pg.wait_for_function(shown)
    # the 2014 test chain holds no named stress window: the panel says so, with no table
    assert pg.get_by_text("No named stress window falls inside these runs' spans.").count() == 1
    assert pg.get_by_test_id("compare-stress").count() == 0
    assert pg.get_by_test_id("compare").get_attribute("data-runs") == "3"
    header = pg.get_by_test_id("kpi-table").locator("thead th")
    assert header.count() == 1 + 3
    sharpe_row = pg.get_by_test_id("kpi-table").locator("tr[data-kpi='sharpe'] td")
    assert sharpe_row.nth(1).inner_text() == f"{top[0]['kpis']['sharpe']:.2f}"
    assert "best" in (sharpe_row.nth(1).get_attribute("class") or "")
    correlation = page.option("correlation")
    assert len(correlation["series"][0]["data"]) == 9
    diagonal = [c["value"][2] for c in correlation["series"][0]["data"]
                if c["value"][0] == c["value"][1]]
    assert diagonal == [1, 1, 1]
    page.shot("compare")


def test_compare_reads_a_parameter_a_run_does_not_vary_from_its_strategy(
        page: Page, api: httpx.Client) -> None:
    """A study trial beside a backtest: each column is the run's resolved strategy, so the
    backtest shows its strategy's values for the study's paths (the hedged strangle's 0.16
    delta, 0.5 profit target and 2.0 stop), not 'absent', and the trial shows the base
    strategy's value for a path its study did not search, not 'not recorded'."""
    study = api.get(f"/api/studies/{STUDY}").json()
    trial = next(t for t in study["trial_rows"] if t["state"] == "COMPLETE")
    strategy = api.get(f"/api/studies/{STUDY}/trials/{trial['number']}").json()["strategy"]
    page.goto(f"/compare?runs=bt:{BACKTEST},trial:{STUDY}:{trial['number']}")
    pg = page.page
    pg.get_by_test_id("param-diff").wait_for()
    assert pg.get_by_role("heading", name="Strategy differences").count() == 1
    pg.get_by_text("show all").click()
    rows = pg.get_by_test_id("param-diff").locator("tbody tr")
    pg.locator('[data-testid="param-diff"] tbody tr').nth(2).wait_for()
    cells = {r.locator("td").first.get_attribute("title"): r.locator("td").all_inner_texts()[1:]
             for r in rows.all()}
    assert [cells[path][0] for path in (X, Y, Z)] == ["0.16", "0.5", "2"]
    assert [cells[path][1] for path in (X, Y, Z)] == [
        fmt_param(trial["params"][path]) for path in (X, Y, Z)]
    unsearched = "structure.dte.target"
    assert cells[unsearched][1] == fmt_param(strategy["structure"]["dte"]["target"])
    assert not any("not recorded" in v for values in cells.values() for v in values)
    # a field one strategy has and the other has not (the strangle's second leg) is a dash
    assert cells["structure.legs.1.select.target"][1] == "–"
    # the trial's KPIs are its whole chain's, as its curve beside the backtest's
    whole = api.get(f"/api/studies/{STUDY}/trials/{trial['number']}/spans").json()["whole"]
    assert whole["kpis"]["trade_count"] != trial["kpis"]["trade_count"]  # not the in-sample
    count = pg.locator('[data-testid="kpi-table"] tr[data-kpi="trade_count"] td')
    pg.wait_for_function("""n => [...document.querySelectorAll(
        '[data-testid="kpi-table"] tr[data-kpi="trade_count"] td')].at(-1)?.innerText === n""",
                         arg=f"{whole['kpis']['trade_count']:,.0f}")
    assert count.all_inner_texts()[-1] == f"{whole['kpis']['trade_count']:,.0f}"


def test_a_trial_not_kept_is_backtested_again_with_its_strategy(page: Page,
                                                                  api: httpx.Client) -> None:
    """A trial whose curve the study did not keep: its tear sheet draws the curve backtested
    again, its Trades tab lists the trades, and its Strategy panel gives the YAML and the
    command that reproduce it."""
    study = api.get(f"/api/studies/{STUDY}").json()
    number = next(t["number"] for t in study["trial_rows"]
                  if not t["equity_kept"] and t["state"] == "COMPLETE")
    detail = api.get(f"/api/studies/{STUDY}/trials/{number}").json()
    equity = api.get(f"/api/studies/{STUDY}/trials/{number}/equity",
                     params={"points": 5000}).json()
    assert equity["source"] == "recomputed"
    page.goto(f"/studies/{STUDY}/trials/{number}")
    pg = page.page
    drawn = page.uplot("equity")
    assert len(drawn[0]) == equity["days"]
    assert all(_close(a, b) for a, b in zip(drawn[1], equity["equity"], strict=True))
    assert "backtested again on demand (whole chain)" in pg.get_by_test_id("tearsheet") \
        .inner_text()
    name = f"{detail['strategy']['name'].replace('#', '-')}"
    command = pg.get_by_test_id("backtest-command").inner_text()
    assert command == f"gridbt backtest --strategy {name}.yaml --data {detail['data']} " \
                      f"--out out/{name}"
    shown = yaml.safe_load(pg.get_by_test_id("strategy-yaml").inner_text())
    assert shown == detail["strategy"]
    # in sample, after it and whole: each row the API's span, its trades counted as the API's
    spans = api.get(f"/api/studies/{STUDY}/trials/{number}/spans").json()
    pg.get_by_test_id("span-whole").locator("td").first.wait_for()  # its own request
    for key in ("in_sample", "after", "whole"):
        cells = pg.get_by_test_id(f"span-{key}").locator("td").all_inner_texts()
        span = spans[key]
        assert cells[0].endswith(f"({span['days']:,})")
        assert cells[1:3] == [span["first_date"], span["last_date"]]
        assert cells[-1] == f"{span['kpis']['trade_count']:,.0f}"
    assert spans["after"]["first_date"] > spans["in_sample"]["last_date"]
    page.shot("tearsheet-trial")
    pg.get_by_role("link", name="Trades").click()
    trades = api.get(f"/api/studies/{STUDY}/trials/{number}/trades").json()
    table = pg.get_by_test_id("trade-table")
    pg.locator(f'[data-testid="trade-table"][data-rows="{trades["count"]}"]').wait_for()
    assert "backtested again, whole chain" in pg.get_by_test_id("trades").inner_text()
    table.locator("tbody tr[data-row-id='0']").click()
    pg.wait_for_url(re.compile(r"/trades/0$"))
    payoff = api.get(f"/api/studies/{STUDY}/trials/{number}/trades/0/payoff",
                     params={"points": 301}).json()
    assert page.uplot("payoff")[0] == pytest.approx(payoff["spots"])


def fmt_param(value: Any) -> str:
    """A parameter as the browser shows it (`fmtParam`)."""
    if value is None:
        return "off"
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def test_the_study_page_draws_the_pareto_front_and_folds(page: Page, api: httpx.Client
                                                         ) -> None:
    study = api.get(f"/api/studies/{STUDY}").json()
    page.goto(f"/studies/{STUDY}")
    pg = page.page
    pareto = page.option("pareto")
    front = {d["number"] for d in pareto["series"][1]["data"]}
    assert front == {p["trial"] for p in study["pareto"]}
    assert front
    others = {d["number"] for d in pareto["series"][0]["data"]}
    complete = {t["number"] for t in study["trial_rows"] if t["state"] == "COMPLETE"}
    assert front | others == complete
    # both axes at the plot's edges, whatever sign the KPIs take (not across the middle)
    assert [a["axisLine"]["onZero"] for a in pareto["xAxis"] + pareto["yAxis"]] == [False, False]
    history = page.option("history")
    assert len(history["series"][0]["data"]) == len(complete)
    pruned = any(t["state"] == "PRUNED" for t in study["trial_rows"])
    assert [s["name"] for s in history["series"]] == [
        "complete", *(["pruned (last reported fold)"] if pruned else []), "best so far"]
    assert pg.get_by_test_id("folds").locator("tbody tr").count() == 2
    # the ranking after the in-sample span: every trial measured, the chosen one apart
    after = api.get(f"/api/studies/{STUDY}/after").json()
    scatter = page.option("study-after")
    assert [{d["number"] for d in s["data"]} for s in scatter["series"][:2]] == [
        {p["number"] for p in after["points"]} - {study["summary"]["best"]["trial"]},
        {study["summary"]["best"]["trial"]}]
    text = pg.get_by_test_id("study-after-text").inner_text()
    assert f"is {after['rank_correlation']:.2f};" in text
    assert pg.get_by_test_id("study-after-top").locator("tbody tr").count() == min(
        10, len(after["points"]))
    assert "Sharpe after" in pg.get_by_test_id("trials").locator("thead").inner_text()
    # the best trial after the in-sample span: the spans route's trades on each row
    best = study["summary"]["best"]["trial"]
    spans = api.get(f"/api/studies/{STUDY}/trials/{best}/spans").json()
    held = pg.get_by_test_id("best-held-up")
    held.wait_for()
    assert [held.get_by_test_id(f"span-{k}").locator("td").last.inner_text()
            for k in ("in_sample", "after", "whole")] == [
        f"{spans[k]['kpis']['trade_count']:,.0f}" for k in ("in_sample", "after", "whole")]
    assert pg.get_by_test_id("trials").get_attribute("data-rows") == str(
        len(study["trial_rows"]))
    # the deflated Sharpe's N, as the study counted it: its distinct outcomes
    n = int(study["summary"]["statistics"]["n_trials"])
    assert study["n_trials"] == n == study["summary"]["statistics"]["n_outcomes"]
    assert f"the best that {n} trials would find" in pg.get_by_test_id("dsr").inner_text()
    page.shot("study")


def test_a_shared_url_restores_the_same_view(browser: Any, url: str, api: httpx.Client
                                             ) -> None:
    path = (f"/sweeps/{SWEEP}/landscape?x={Z}&y={X}&metric=cagr&agg=median"
            f"&where={Y}:0.5&filter=trade_count%20%3E%200")
    expected = api.get(f"/api/sweeps/{SWEEP}/heatmap", params={
        "x": Z, "y": X, "metric": "cagr", "agg": "median", "where": f"{Y}:0.5",
        "filter": "trade_count > 0"}).json()
    for _ in range(2):  # a first visit, then the link opened again in a fresh browser
        page = Page(browser, url)
        try:
            page.goto(path)
            pg = page.page
            pg.locator('[data-chart="heatmap"][data-metric="cagr"][data-agg="median"]').wait_for()
            assert pg.get_by_test_id("axis-x").input_value() == Z
            assert pg.get_by_test_id("axis-y").input_value() == X
            assert pg.get_by_test_id("heatmap-metric").input_value() == "cagr"
            assert pg.get_by_test_id(f"pin-{Y}").input_value() == "0.5"
            assert pg.get_by_test_id("filter").input_value() == "trade_count > 0"
            assert pg.get_by_test_id("agg").locator("button.on").inner_text() == "median"
            cells = _drawn_cells(page.option("heatmap"))
            assert cells.keys() == _api_cells(expected).keys()
            assert all(_close(cells[k], v) for k, v in _api_cells(expected).items())
            assert not page.errors, page.errors
        finally:
            page.context.close()


def test_a_backtest_tear_sheet_draws_its_daily_book(browser: Any, url: str,
                                                    api: httpx.Client) -> None:
    equity = api.get(f"/api/backtests/{BACKTEST}/equity", params={"points": 5000}).json()
    page = Page(browser, url, color_scheme="dark")
    try:
        page.goto(f"/backtests/{BACKTEST}")
        pg = page.page
        assert pg.evaluate("document.documentElement.dataset.theme") == "dark"
        attribution = page.option("attribution")
        months = {d[:7] for d in equity["dates"]}
        assert len(attribution["xAxis"][0]["data"]) == len(months)
        total = sum(v for s in attribution["series"] for v in s["data"] if v is not None)
        expected = sum(v for k, col in equity["columns"].items() if k.startswith("pnl_")
                       for v in col if v is not None)
        assert total == pytest.approx(expected, rel=1e-9, abs=1e-6)
        greek = page.uplot("greek-vega")
        assert len(greek[1]) == len(equity["columns"]["vega"])
        assert all(_close(a, b) for a, b in zip(greek[1], equity["columns"]["vega"], strict=True))
        page.uplot("margin")
        page.shot("tearsheet-backtest-dark")
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_robustness_and_every_page_without_console_errors(page: Page, api: httpx.Client
                                                          ) -> None:
    robust = api.get(f"/api/sweeps/{SWEEP}/robustness", params={"top": 10}).json()
    page.goto(f"/sweeps/{SWEEP}/robustness")
    pg = page.page
    rows = pg.get_by_test_id("neighbourhoods").locator("tbody tr")
    rows.first.wait_for()
    assert rows.count() == len(robust["neighbourhood"])
    assert pg.locator("h2", has_text="Plateau or peak").inner_text().startswith(
        f"Plateau or peak: the top {min(10, len(robust['neighbourhood']))} outcomes'")
    raw, smooth = page.option("heatmap-raw"), page.option("heatmap-smooth")
    assert _drawn_cells(raw).keys() == _drawn_cells(smooth).keys()
    # stability over time: one dot per distinct outcome, a bar per pair of blocks
    stability = api.get(f"/api/sweeps/{SWEEP}/stability").json()
    assert pg.get_by_test_id("stability").inner_text().startswith(
        f"Over {stability['runs']} distinct outcomes, the rank correlation of Sharpe from the "
        f"first half to the second is {stability['halves_rank_correlation']:.2f};")
    assert len(page.option("stability-halves")["series"][0]["data"]) == stability["runs"]
    assert len(page.option("stability-blocks")["series"][0]["data"]) == len(
        stability["blocks"]) - 1
    page.shot("robustness")
    for path in ("/", f"/sweeps/{SWEEP}", f"/sweeps/{SWEEP}/landscape",
                 f"/backtests/{BACKTEST}/trades", f"/backtests/{BACKTEST}/trades/1",
                 f"/studies/{STUDY}/trials/0", f"/compare?runs=bt:{BACKTEST}",
                 "/no/such/page", "/sweeps/nope"):
        page.goto(path)
        pg.wait_for_load_state("networkidle")
    # a trial's daily book is made by backtesting it: the command at the page's foot does
    study = api.get(f"/api/studies/{STUDY}").json()
    kept = next(t["number"] for t in study["trial_rows"] if t["equity_kept"])
    page.goto(f"/studies/{STUDY}/trials/{kept}")
    note = pg.get_by_text("No daily book for this run").locator("..").inner_text()
    assert "run the command at the bottom of this page" in note
    # a missing sweep is said plainly (the API's 404 is not a console error of the app)
    page.errors[:] = [e for e in page.errors if "404" not in e]
    time.sleep(0.1)
