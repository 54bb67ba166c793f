"""Plain-text values: KPIs in their registry units."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridbt.report.text import format_kpi, short_labels


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.0523, "fraction", "5.23%"),
        (-0.5, "fraction", "-50.00%"),
        (1234.5, "currency", "1,234.50"),
        (12.0, "days", "12"),
        (12.5, "days", "12.5"),
        (1200.0, "count", "1,200"),
        (1.23456, "ratio", "1.235"),
        (None, "ratio", "-"),
        (float("nan"), "fraction", "-"),
    ],
)
def test_format_kpi(value: float | None, unit: str, shown: str) -> None:
    assert format_kpi(value, unit) == shown


def test_long_paths_are_cut_to_what_tells_them_apart_legs_by_their_index() -> None:
    condor = ["structure.legs.0.select.target", "structure.legs.1.select.target",
              "structure.legs.2.select.points", "structure.legs.3.select.points",
              "exit.profit_target", "structure.dte.target"]
    assert short_labels(condor) == ["legs.0.select.target", "legs.1.select.target",
                                    "legs.2.select.points", "legs.3.select.points",
                                    "exit.profit_target", "structure.dte.target"]
    strangle = ["structure.legs.0.select.target", "structure.legs.1.select.target",
                "hedge.half_width"]
    assert short_labels(strangle) == ["legs.0.select.target", "legs.1.select.target",
                                      "hedge.half_width"]
    short_put = ["structure.legs.0.select.target", "structure.dte.target", "exit.dte"]
    assert short_labels(short_put) == ["select.target", "structure.dte.target", "exit.dte"]


def test_a_kpi_by_name_is_shown_in_its_registry_unit() -> None:
    from gridbt.report.text import format_named_kpi

    assert format_named_kpi("cagr", 0.008845) == "0.88%"
    assert format_named_kpi("max_drawdown", 0.183) == "18.30%"
    assert format_named_kpi("sharpe", 0.13634) == "0.136"
    assert format_named_kpi("trade_count", 42.0) == "42"
    assert format_named_kpi("my_objective", 0.0123456) == "0.01235"  # not in the registry
    assert format_named_kpi("cagr", float("nan")) == "-"


def test_the_sweep_top_table_prints_kpis_as_gridbt_backtest_does() -> None:
    import pandas as pd

    from gridbt.report.sweep import top_table

    results = pd.DataFrame({"combo": [0, 1], "exit.profit_target": [0.5, 0.25],
                            "sharpe": [1.3012, 0.9],
                            "cagr": [0.1161, 0.05], "max_drawdown": [0.238, 0.3],
                            "win_rate": [0.8434, 0.7], "trade_count": [198.0, 150.0]})
    table = top_table(results, ["exit.profit_target"], "sharpe", maximize=True)
    first = table.splitlines()[2] if set(table.splitlines()[1]) <= {"-", " "} else \
        table.splitlines()[1]
    for shown in ("1.301", "11.61%", "23.80%", "84.34%", "198"):
        assert shown in first, (shown, table)


def test_open_mlflow_points_at_the_runs_table(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from gridbt.report.text import open_mlflow

    url = "http://127.0.0.1:5000/#/experiments/2/runs?workflowType=machine_learning"
    local = open_mlflow({"tracking_uri": "sqlite:////r/mlflow.db", "url": url,
                         "artifacts": "/r/mlartifacts"})
    assert local == ("open it: mlflow ui --backend-store-uri sqlite:////r/mlflow.db "
                     f"--artifacts-destination /r/mlartifacts\n  then {url}")
    # under the working directory, the paths are relative to it: shorter, and they still work
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "my sweep"
    assert open_mlflow({"tracking_uri": f"sqlite:///{out}/mlflow.db", "url": url,
                        "artifacts": f"{out}/mlartifacts"}).splitlines()[0] == (
        "open it: mlflow ui --backend-store-uri 'sqlite:///runs/my sweep/mlflow.db' "
        "--artifacts-destination 'runs/my sweep/mlartifacts'")
    served = "http://tracking:5000/#/experiments/2/runs?workflowType=machine_learning"
    assert open_mlflow({"tracking_uri": "http://tracking:5000", "url": served}) == (
        f"open it: {served}")
    # a job logged before the URL and the artifacts folder were recorded
    assert open_mlflow({"tracking_uri": "sqlite:////r/mlflow.db"}) == (
        "open it: mlflow ui --backend-store-uri sqlite:////r/mlflow.db\n"
        "  then http://127.0.0.1:5000")


def test_the_sweep_top_table_shows_each_outcome_once_with_its_count() -> None:
    import pandas as pd

    from gridbt.report.sweep import format_engines, top_table

    results = pd.DataFrame({"combo": [0, 1, 2], "exit.stop_loss": [1.0, 2.0, 3.0],
                            "sharpe": [1.5, 1.5, 0.7], "cagr": 0.1, "max_drawdown": 0.2,
                            "win_rate": 0.8, "trade_count": 100.0, "outcome_hash": [4, 4, 5]})
    lines = top_table(results, ["exit.stop_loss"], "sharpe", maximize=True).splitlines()
    body = [line for line in lines if not set(line) <= {"-", " "}][1:]
    assert len(body) == 2
    assert body[0].split()[:2] == ["1", "1"] and body[0].split()[-1] == "2"  # combo 0, ×2
    assert body[1].split()[:2] == ["2", "3"] and body[1].split()[-1] == "1"
    assert format_engines({"engine": "auto", "tables": 30, "day": 6,
                           "fallback": {"delta_hedge": 6}}) == \
        "engines (auto): 30 combinations on trade tables, 6 on the day kernel (delta_hedge 6)"
    assert format_engines({"engine": "auto", "tables": 30, "day": 0, "replayed": 4,
                           "fallback": {}}) == \
        "engines (auto): 30 combinations on trade tables (4 of them not walked: they repeated " \
        "an earlier one's trades), 0 on the day kernel"
    assert format_engines({}) == ""


def test_a_resume_with_nothing_left_says_so_instead_of_a_rate() -> None:
    """A finished sweep or study run again (`make demo` twice) prints no "0/s" rate."""
    import pandas as pd

    from gridbt.optimize.study import StudyOutcome
    from gridbt.report.study import format_study
    from gridbt.report.sweep import format_outcome
    from gridbt.sweep.driver import SweepOutcome

    def sweep(computed: int) -> str:
        outcome = SweepOutcome(out_dir=Path("out"), valid=12, already_done=12 - computed,
                               computed=computed, failed=0, interrupted=False, seconds=0.5,
                               actors=2)
        return format_outcome(outcome, pd.DataFrame(), []).splitlines()[0]

    assert sweep(0) == ("sweep finished: nothing left to compute (12 already done, 0 failed, "
                        "12 valid in the grid)")
    assert sweep(4).startswith("sweep finished: 4 combinations computed in 0.5 s (8/s on 2 ")

    def study(computed: int) -> str:
        outcome = StudyOutcome(out_dir=Path("out"), study_name="s", storage="", finished=64,
                               computed=computed, interrupted=False, seconds=2.0, actors=2,
                               backtests=4 * computed, sampler_seconds=0.0,
                               storage_seconds=0.0)
        return format_study(outcome).splitlines()[0]

    assert study(0) == "study s finished: no trials left to run (64 in the study)"
    assert study(8).startswith("study s finished: 8 trials in 2.0 s (64 in the study), 32 ")
    for repeats, said in ((1, "1 trial repeated"), (3, "3 trials repeated")):
        outcome = StudyOutcome(out_dir=Path("out"), study_name="s", storage="", finished=64,
                               computed=8, interrupted=False, seconds=2.0, actors=2,
                               backtests=20, sampler_seconds=0.0, storage_seconds=0.0,
                               repeats=repeats)
        assert (f"20 backtests on 2 actors ({said} an earlier trial's parameters and took its "
                "results); sampler") in format_study(outcome).splitlines()[0]


def test_a_studys_deflated_sharpe_line_says_over_which_span_its_sharpe_is() -> None:
    """The Sharpe the deflated Sharpe deflates is the chosen parameters' over the in-sample span
    (with walk-forward) or the whole chain, not the folds' mean the best-trial line shows."""
    from gridbt.optimize.study import StudyOutcome
    from gridbt.report.study import format_study

    statistics = {"deflated_sharpe": 0.4662, "best_sharpe": 0.5655, "expected_max_sharpe": 0.5899,
                  "n_trials": 256.0}

    def line(**summary: object) -> str:
        outcome = StudyOutcome(out_dir=Path("out"), study_name="s", storage="", finished=64,
                               computed=64, interrupted=False, seconds=2.0, actors=2,
                               backtests=256, sampler_seconds=0.0, storage_seconds=0.0,
                               summary={"statistics": statistics, **summary})
        return next(x for x in format_study(outcome).splitlines() if x.startswith("deflated"))

    span = ["1999-01-04", "2012-05-01"]
    assert line(in_sample_span_dates=span, walk_forward={"kpi": "sharpe", "folds": [],
                                                         "scheme": "anchored", "in_sample": 0.6,
                                                         "out_of_sample": 0.5,
                                                         "degradation": 0.1, "efficiency": 0.8,
                                                         "refit_out_of_sample": 0.4}) == (
        "deflated Sharpe 0.466: the chosen parameters' Sharpe 0.57 over the in-sample span "
        "(1999-01-04 .. 2012-05-01) vs 0.59 expected from 256 parameter sets by luck alone")
    assert line(in_sample_span_dates=["1999-01-04", "2018-12-31"]) == (
        "deflated Sharpe 0.466: the chosen parameters' Sharpe 0.57 over the whole chain "
        "(1999-01-04 .. 2018-12-31) vs 0.59 expected from 256 parameter sets by luck alone")
    # a study that counted its distinct outcomes says so, and how many sets were repeats
    statistics.update(n_trials=230.0, n_outcomes=230.0, n_parameter_sets=256.0)
    assert line().endswith("vs 0.59 expected from 230 distinct outcomes (trade sequences; 26 "
                           "of the 256 parameter sets tried repeated another's trades) by luck "
                           "alone")
    statistics.update(n_trials=256.0, n_outcomes=256.0)
    assert line().endswith("expected from 256 distinct outcomes (trade sequences) by luck "
                           "alone")
    statistics.update(n_trials=1096.0, n_outcomes=274.0, n_parameter_sets=1200.0)  # a sub-grid
    assert line().endswith("expected from 1,096 trials (274 distinct outcomes x 4 sub-grid "
                           "rows; 104 of the 1,200 parameter sets tried repeated another's "
                           "trades) by luck alone")


def test_a_backtests_kpis_line_up_and_say_which_are_in_days() -> None:
    from gridbt.kernel.metrics import METRICS
    from gridbt.report.backtest import format_kpis

    kpis = {m.name: 1234.5 for m in METRICS}
    lines = format_kpis(kpis).splitlines()
    assert len(lines) == len(METRICS)
    assert len({len(line) for line in lines}) == 1  # every value ends in one column
    labels = {m.name: m.label for m in METRICS}
    for m in METRICS:
        if m.unit == "days":  # a number of days is never shown bare
            assert "days" in m.label, m.label
    assert any(line.lstrip().startswith(labels["max_drawdown_days"]) for line in lines)
