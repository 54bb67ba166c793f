"""The typed objects the read layer returns: catalog entries, run pages, and plots as data.

Every chart the browser draws (heatmap, slices, equity, payoff) is one of these objects, built
in Python; the API serves them as they are (`gridbt.api` uses them as response models) and the
PNG renderers of `gridbt.report` draw the same ones. Undefined numbers (NaN) are null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridbt.strategy.summary import BacktestSummary

__all__ = [
    "Aggregate",
    "BacktestDetail",
    "BacktestItem",
    "BestRun",
    "Distribution",
    "Equity",
    "Event",
    "GridAxis",
    "Health",
    "Heatmap",
    "Leg",
    "MetricInfo",
    "Neighbourhood",
    "Payoff",
    "PayoffLeg",
    "Robustness",
    "RunDetail",
    "RunRow",
    "RunsPage",
    "SliceRow",
    "Slices",
    "SpanKpis",
    "Stability",
    "StudyAfter",
    "StudyDetail",
    "StudyItem",
    "SweepDetail",
    "SweepEngines",
    "SweepItem",
    "TimeBlock",
    "TrialAfter",
    "Trade",
    "Trades",
    "Trial",
    "TrialDetail",
    "TrialSpans",
]

Aggregate = Literal["max", "median", "mean", "min", "count"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class MetricInfo(_Model):
    """One KPI of the registry (`gridbt.kernel.metrics`), for tooltips and metric pickers."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    description: str


class Health(_Model):
    version: str
    root: str
    sweeps: int
    studies: int
    backtests: int


class BestRun(_Model):
    """The best run of a sweep by its objective."""

    param_hash: str
    combo: int | None = None
    value: float | None = Field(description="the objective's value")
    params: dict[str, Any]


class SweepItem(_Model):
    """A sweep as the sweeps list shows it (from `sweep.json` and its result files)."""

    id: str
    path: str = Field(description="the sweep's directory, relative to the root")
    name: str
    description: str
    strategy: str = Field(description="the base strategy's name")
    data_fingerprint: str
    data_path: str | None
    first_date: str | None
    last_date: str | None
    status: str = Field(description="running, done, interrupted or failed; `running` only while "
                                    "a process holds the sweep's directory (its lock): a sweep "
                                    "whose process died is `interrupted`")
    status_hint: str | None = Field(
        description="who runs it (running), or the command that continues it (interrupted)")
    valid: int = Field(description="valid combinations in the grid")
    done: int = Field(description="combinations with a result")
    failed: int = Field(description="combinations whose batch failed every attempt")
    objective: str
    maximize: bool
    best: BestRun | None
    n_trials: int = Field(description="distinct outcomes (trade sequences) tried: deflates "
                          "the best score")
    deflated_sharpe: float | None
    pbo: float | None
    started: str
    finished: str
    seconds: float
    code_version: str


class GridAxis(_Model):
    path: str
    values: list[Any] = Field(description="the values in the sweep file's order; null = off")
    zip_group: int | None = Field(description="index of the zip group the path moves with")


class SweepEngines(_Model):
    """Which engine ran a sweep's combinations (`sweep.json`'s `engines`, docs/sweeps.md)."""

    engine: str = Field(description="the file's engine: auto (trade tables where they apply) "
                        "or day")
    tables: int = Field(description="combinations run on trade tables")
    day: int = Field(description="combinations run on the day-by-day kernel")
    replayed: int = Field(default=0, description="of those on trade tables, how many were "
                          "not walked: they made the trades of one walked before them (0 in "
                          "sweeps written before gridbt counted them)")
    fallback: dict[str, int] = Field(default_factory=dict, description="why combinations ran "
                                     "on the day kernel (reason: count), e.g. delta_hedge or "
                                     "engine_day")


class SweepDetail(SweepItem):
    engines: SweepEngines | None = Field(
        description="which engine ran the combinations; null for a sweep written before "
                    "gridbt recorded it")
    grid: list[GridAxis]
    constraints: list[str]
    base_strategy: dict[str, Any]
    heatmap_paths: list[str] = Field(description="grid paths with two or more values")
    metrics: list[MetricInfo]
    statistics: dict[str, float | None]
    keep_equity: int | str
    grid_size: int
    sweep_file: str


class Distribution(_Model):
    """A metric over the runs of a sweep (those passing the filter): its histogram, moments,
    and the best-so-far record in combination order."""

    metric: str
    higher_is_better: bool
    runs: int = Field(description="runs with a defined metric")
    undefined: int = Field(description="runs whose metric is undefined (NaN)")
    mean: float | None
    std: float | None = Field(description="sample standard deviation (ddof 1)")
    edges: list[float] = Field(description="bin edges, one more than counts; equal widths")
    counts: list[int]
    record_combos: list[int] = Field(
        description="the combinations that beat every earlier one (combination order)")
    record_values: list[float] = Field(description="the metric of each record")


class RunRow(_Model):
    """One run of a sweep: its grid values, KPIs, skipped entries and counters."""

    param_hash: str
    combo: int
    params: dict[str, Any]
    kpis: dict[str, float | None]
    skips: dict[str, int | None]
    counters: dict[str, int | None]
    same: int | None = Field(default=None, description="in a page of distinct outcomes: how "
                             "many runs that pass the filter share this run's trades")


class RunsPage(_Model):
    sweep: str
    total: int = Field(description="runs that pass the filter (with `distinct`: their "
                       "distinct outcomes)")
    offset: int
    limit: int
    sort: list[str]
    filter: str | None
    distinct: bool = Field(default=False, description="one run per distinct outcome (trade "
                           "sequence), the first in the page's order")
    rows: list[RunRow]


class Heatmap(_Model):
    """A metric over the grid cells of two paths, the other paths reduced by `agg` (or fixed by
    `where`). Rows are `y_values`, columns `x_values`; a cell is null where no run with a
    defined metric is in it (hatched, never interpolated)."""

    x: str
    y: str
    metric: str
    agg: Aggregate
    higher_is_better: bool
    where: dict[str, Any]
    x_values: list[Any]
    y_values: list[Any]
    values: list[list[float | None]]
    counts: list[list[int]] = Field(description="runs in each cell")
    best: list[list[str | None]] = Field(description="param_hash of each cell's best run")
    runs: int = Field(description="runs the heatmap reduces")


class SliceRow(_Model):
    value: Any
    count: int
    min: float | None
    q1: float | None
    median: float | None
    q3: float | None
    max: float | None
    mean: float | None


class Slices(_Model):
    """A metric against one path: per value, its distribution over the other paths."""

    path: str
    metric: str
    higher_is_better: bool
    rows: list[SliceRow]


class RunDetail(_Model):
    sweep: str
    param_hash: str
    combo: int
    params: dict[str, Any]
    kpis: dict[str, float | None]
    skips: dict[str, int | None]
    counters: dict[str, int | None]
    strategy: dict[str, Any] = Field(description="the resolved strategy of the run")
    equity_kept: bool = Field(description="the sweep kept its equity curve (else recomputed)")


class Equity(_Model):
    """A daily series downsampled on the server: at most `points` of the `days` days, the
    first, last, highest and lowest equity and the deepest drawdown always among them. Other
    columns are their values on the kept days, except the daily P&L attribution (`pnl_*`),
    which is summed since the previous kept day so that the totals are kept."""

    dates: list[str]
    equity: list[float | None]
    drawdown: list[float | None] = Field(description="equity / running peak - 1")
    columns: dict[str, list[float | None]] = Field(default_factory=dict)
    days: int = Field(description="days in the full series")
    points: int = Field(description="days kept")
    source: Literal["kept", "recomputed", "file"]


class Leg(_Model):
    right: str
    strike: float
    expiry: str
    units: float = Field(description="side x direction x quantity")
    entry_fill: float
    exit_fill: float
    settled: bool
    entry_delta: float | None = Field(
        default=None,
        description="Black-Scholes delta at entry of one option of the leg, per share of the "
                    "underlying, before quantity and side (`units`): a call's is between 0 and "
                    "1, a put's between -1 and 0. From the spot on the entry day, the days to "
                    "expiry / 365, the leg's entry IV (its quote's, else solved from its entry "
                    "fill) and the strategy's rate and dividend yield, as the payoff's legs. "
                    "Null when the leg has no time to expiry or no IV, or the chain the trade "
                    "ran on is not available")


class Trade(_Model):
    number: int = Field(description="position in the trade list, from 0 (the payoff's trade)")
    entry_date: str
    exit_date: str
    exit_reason: str
    direction: int
    contracts: float
    entry_premium: float | None
    entry_cash: float | None
    exit_cash: float | None
    commissions: float | None
    pnl: float | None
    mae: float | None
    mfe: float | None
    days_held: int
    extra: dict[str, Any] = Field(description="the other columns of trades.parquet")
    entry_regime: dict[str, float | None] = Field(
        default_factory=dict, description="the chain's regime features (vix_30, iv_rank, "
                                          "trend_200) at the entry day's close, where the chain "
                                          "is at hand")
    legs: list[Leg]


class Trades(_Model):
    count: int
    trades: list[Trade]
    source: Literal["recomputed", "file"]


class Neighbourhood(_Model):
    """A top run and the runs within one grid step of it on every path (itself included)."""

    param_hash: str
    params: dict[str, Any]
    value: float | None
    mean: float | None
    worst: float | None
    neighbours: int
    sensitivity: dict[str, list[float | None]] = Field(
        description="per axis, the metric one step down and one step up (null: no such run); "
                    "an axis is a path, or a zip group's paths stepped together, named by its "
                    "first")


class Robustness(_Model):
    metric: str
    higher_is_better: bool
    statistics: dict[str, float | None] = Field(
        description="deflated Sharpe (n_trials), PSR, PBO and CSCV in/out of sample Sharpe and "
                    "degradation, on daily Sharpe ratios")
    statistics_source: Literal["sweep.json", "computed", "none"]
    neighbourhood: list[Neighbourhood]


class TimeBlock(_Model):
    first: str = Field(description="the first day whose return is in the block")
    last: str
    rank_correlation_next: float | None = Field(
        description="Spearman correlation of the runs' Sharpe ratios in this block and in the "
                    "next (null for the last block)")


class Stability(_Model):
    """Whether a good rank holds over time, over a sweep's distinct outcomes (the best-ranked
    run of each), from the daily-return statistics of each time block (`pbo_blocks`)."""

    runs: int = Field(description="distinct outcomes compared")
    blocks: list[TimeBlock]
    mean_rank_correlation: float | None = Field(
        description="the mean of the consecutive blocks' rank correlations")
    halves: list[str] = Field(description="the first and last day of the first half of the "
                                          "blocks, then of the second")
    halves_rank_correlation: float | None = Field(
        description="Spearman correlation of the runs' Sharpe in the first half and the second")
    top_decile_percentile: float | None = Field(
        description="the median percentile, in the second half, of the first half's top 10% "
                    "(0.5 is what chance gives; 1 the best)")
    points: list[list[float]] = Field(
        description="[first-half Sharpe, second-half Sharpe] (annualised), at most 2,000 "
                    "runs: every one, or evenly spaced in first-half rank")


class StudyItem(_Model):
    id: str
    path: str
    name: str
    objectives: list[dict[str, Any]]
    sampler: str | None
    pruner: str | None
    trials: dict[str, int] = Field(description="finished trials by state (complete, pruned, "
                                               "fail); while it runs, those in its storage")
    status: str = Field(description="running, done or interrupted (as for sweeps: `running` "
                                    "only while a process holds its directory)")
    status_hint: str | None = Field(
        description="who runs it (running), or the command that continues it (interrupted)")
    planned_trials: int | None = Field(description="the trial budget of the run it started "
                                                   "last (null for a study finished before "
                                                   "studies wrote study.json)")
    parameter_sets: int
    n_trials: int | None = Field(
        description="the deflated Sharpe's trial count: the distinct outcomes (trade sequences) "
                    "of the parameter sets tried, repeats once (the parameter sets for a study "
                    "finished before gridbt counted outcomes); null until it finishes")
    best: dict[str, Any] | None
    deflated_sharpe: float | None
    pbo: float | None
    walk_forward_degradation: float | None
    first_date: str | None = Field(description="the chain's first day (null until the study "
                                               "has written its equity curves)")
    last_date: str | None
    updated: str


class Trial(_Model):
    number: int
    state: str
    values: list[float | None]
    params: dict[str, Any]
    kpis: dict[str, float | None] = Field(description="KPIs over the in-sample span")
    fold_values: list[float | None] | None = Field(
        description="the first objective per walk-forward fold (null if not stored)")
    error: str | None
    equity_kept: bool


class TrialDetail(Trial):
    study: str
    strategy: dict[str, Any] | None = Field(
        description="the trial's resolved strategy: the study's base strategy with the trial's "
                    "values (null when the study did not record its base strategy, or the "
                    "values make no valid strategy)")
    strategy_note: str | None = Field(description="why `strategy` is null")
    recomputable: bool = Field(description="its equity and trades can be backtested again "
                                           "on demand (a trial that ran, with a strategy)")
    data: str | None = Field(description="the study's chain directory (null: the default chain)")
    data_fingerprint: str | None
    code_version: str | None = Field(description="the gridbt that last ran the study")


class SpanKpis(_Model):
    """KPIs over a stretch of a chain's days."""

    first_date: str
    last_date: str
    days: int
    kpis: dict[str, float | None]


class TrialSpans(_Model):
    """Did a trial hold up after the days its study ranked it on? Its KPIs over the study's
    in-sample span (as the study computed them), over the days after it (measured as the
    study measures a fold out of sample) and over the whole chain."""

    study: str
    number: int
    in_sample: SpanKpis = Field(description="the study's KPIs of the trial (its backtest run "
                                            "over the in-sample span)")
    after: SpanKpis | None = Field(
        description="the days after the in-sample span, which no trial was ranked on: the "
                    "trial backtested again over those days alone, from the strategy's capital "
                    "and no position (a walk-forward study's last fold out of sample, for the "
                    "trial it chose); null when the span ends on the chain's last day")
    whole: SpanKpis = Field(description="the whole chain: the trial's curve and trades "
                                        "(backtested again)")
    skips: dict[str, int] = Field(description="the whole-chain backtest's skipped entries by "
                                              "reason (a study records none)")
    counters: dict[str, int] = Field(description="its days with a missing quote and its stale "
                                                 "fills")


class TrialAfter(_Model):
    number: int
    in_sample: float | None = Field(description="the metric over the in-sample span (the "
                                                "study's)")
    after: float | None = Field(description="the metric over the days after it, the trial "
                                            "backtested over them alone")


class StudyAfter(_Model):
    """Did the study's ranking hold after its in-sample span? Its best complete trials by a
    metric in sample, each backtested again over the days after the span alone (as the study
    measures a fold out of sample), and how their ranks there follow their ranks in sample."""

    study: str
    metric: str
    first_date: str = Field(description="the first of the days after the in-sample span")
    last_date: str
    complete: int = Field(description="complete trials with the metric in sample")
    trials: int = Field(description="those measured after the span: the best `top` in sample")
    rank_correlation: float | None = Field(
        description="Spearman correlation of the trials' metric in sample and after it")
    top_decile_percentile: float | None = Field(
        description="the median percentile, after the span, of the in-sample top 10% "
                    "(0.5 is what chance gives; 1 the best)")
    points: list[TrialAfter] = Field(description="best in sample first")


class StudyDetail(StudyItem):
    summary: dict[str, Any] = Field(description="summary.json as written; study.json (the "
                                                "start manifest) before the study finishes")
    trial_rows: list[Trial]
    pareto: list[dict[str, Any]]


class BacktestItem(_Model):
    id: str
    path: str
    name: str
    engine: str
    data_fingerprint: str
    first_date: str
    last_date: str
    kpis: dict[str, float | None]
    trades: int
    updated: str


class BacktestDetail(BacktestItem):
    summary: BacktestSummary


class PayoffLeg(_Model):
    right: str
    strike: float
    expiry: str
    units: float
    entry_fill: float
    iv: float | None = Field(description="the quote's implied volatility at entry")


class Payoff(_Model):
    """A trade's entry structure: P&L (account currency, before commissions) at the first
    expiry and now (T+0), Black-Scholes with the entry IVs, over a range of spot."""

    entry_date: str
    spot: float
    expiry: str = Field(description="the first expiry of the legs (the 'at expiry' curve)")
    contracts: float
    multiplier: float
    rate: float
    dividend: float
    legs: list[PayoffLeg]
    spots: list[float]
    at_expiry: list[float | None]
    t0: list[float | None]
    breakevens: list[float]
    max_profit: float | None
    max_loss: float | None
    unbounded_profit: bool
    unbounded_loss: bool
    expected_move: float | None = Field(description="spot x IV x sqrt(years to expiry)")


class Event(_Model):
    """A sweep, study or backtest that appeared, progressed, changed or went away."""

    kind: Literal["sweep", "study", "backtest"]
    id: str
    change: Literal["added", "updated", "removed"]
    status: str | None
    done: int | None
    valid: int | None
    failed: int | None
