"""The FastAPI app over a results root: JSON routes, read-only, errors as `{"detail": ...}`.

Every route answers with a typed object of `gridbt.results.models` (the same objects the PNG
renderers draw); the OpenAPI document is at `/openapi.json`, and committed as
`schemas/openapi.json` (`python -m gridbt.api.openapi` writes it). The results browser is
served at `/` (`gridbt.api.frontend`). Answers of a kilobyte or more are gzipped for a client
that accepts it (the live events are not: they stream). Unknown sweeps, studies,
backtests, runs, trials and trades are 404 (as is any id that is not in the catalog: ids are
looked up, never turned into paths); a bad sort key, filter, metric or path is 422 naming it; a
run that cannot be recomputed (its chain is gone) is 409.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

import gridbt
from gridbt.api.frontend import STATIC_DIR, mount_frontend
from gridbt.results.catalog import MAX_AFTER_TRIALS, MAX_BINS, Catalog, State
from gridbt.results.discovery import Kind
from gridbt.results.errors import NotFound, QueryError, ResultsError, Unavailable
from gridbt.results.models import (
    Aggregate,
    BacktestDetail,
    BacktestItem,
    Distribution,
    Equity,
    Event,
    Health,
    Heatmap,
    MetricInfo,
    Payoff,
    Robustness,
    RunDetail,
    RunsPage,
    Slices,
    Stability,
    StudyAfter,
    StudyDetail,
    StudyItem,
    SweepDetail,
    SweepItem,
    Trades,
    TrialDetail,
    TrialSpans,
)
from gridbt.results.plots import MAX_POINTS
from gridbt.results.runs import MAX_LIMIT, MAX_OFFSET

__all__ = ["create_app"]

_STATUS = {NotFound: 404, QueryError: 422, Unavailable: 409}
_DESCRIPTION = """Read-only results of gridbt sweeps, studies and backtests under one root.

Ids are paths under the root with `/` as `~`. Runs are identified by `param_hash`. Numbers
that are undefined (NaN) are `null`; grid values that are off are `null` too."""

Points = Annotated[int, Query(ge=2, le=MAX_POINTS, description="most days returned")]
PayoffPoints = Annotated[int, Query(ge=3, le=2000, description="spots the payoff is drawn at")]
Regimes = Annotated[bool, Query(description="also the chain's regime features on each day "
                                            "(columns vix_30, iv_rank, trend_200)")]
Filter = Annotated[str | None, Query(
    alias="filter", max_length=2000,
    description="e.g. `sharpe > 1 and exit.stop_loss = 2` (see gridbt.results.query)")]


def _written(model: BaseModel) -> Response:
    """A model as its JSON bytes (pydantic-core writes them): for answers up to 10 MB, which
    FastAPI would validate again before writing them the same way."""
    return Response(model.model_dump_json(), media_type="application/json")


def _changes(before: dict[tuple[Kind, str], State],
             after: dict[tuple[Kind, str], State]) -> list[Event]:
    events = []
    for key, state in after.items():
        if before.get(key) != state:
            events.append(Event(kind=key[0], id=key[1],
                                change="updated" if key in before else "added",
                                status=state[0], done=state[1], valid=state[2],
                                failed=state[3]))
    for key in sorted(before.keys() - after.keys()):
        events.append(Event(kind=key[0], id=key[1], change="removed",
                            status=None, done=None, valid=None, failed=None))
    return events


GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1


def create_app(catalog: Catalog, *, cors: str | None = None, poll_seconds: float = 1.0,
               heartbeat_seconds: float = 15.0, static_dir: Path = STATIC_DIR) -> FastAPI:
    """The app serving `catalog` under `/api` and the browser built in `static_dir` at `/`;
    CORS only for `cors` (an origin), GET only."""
    app = FastAPI(title="gridbt results", version=gridbt.__version__, description=_DESCRIPTION)
    app.state.catalog = catalog
    # JSON of curves, trades and run pages shrinks 2.5-8x, the browser's scripts 2.6x (a remote
    # cluster's head node is often a slow link away). Level 1: ~1 ms a 200 KB page, ~130 ms
    # the largest heatmap (10 MB, halved), with nearly level 5's ratio at a quarter of its
    # time (docs/api.md). Starlette leaves text/event-stream uncompressed.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    if cors:
        app.add_middleware(CORSMiddleware, allow_origins=[cors], allow_methods=["GET"],
                           allow_headers=["*"])

    @app.exception_handler(ResultsError)
    async def results_error(request: Request, exc: ResultsError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/api/health", response_model=Health, tags=["catalog"])
    def health() -> Health:
        """gridbt's version, the root and how many sweeps, studies and backtests it holds."""
        return catalog.health()

    @app.get("/api/metrics", response_model=list[MetricInfo], tags=["catalog"])
    def metrics() -> list[MetricInfo]:
        """The KPI registry: every KPI's name, label, unit, direction and definition."""
        return catalog.metrics()

    # ------------------------------------------------------------------ sweeps
    @app.get("/api/sweeps", response_model=list[SweepItem], tags=["sweeps"])
    def sweeps() -> list[SweepItem]:
        """Every sweep under the root (counts are result rows written so far)."""
        return catalog.sweeps()

    @app.get("/api/sweeps/{sweep_id}", response_model=SweepDetail, tags=["sweeps"])
    def sweep(sweep_id: str) -> SweepDetail:
        """A sweep with its grid, constraints, base strategy, metrics and statistics."""
        return catalog.sweep(sweep_id)

    @app.get("/api/sweeps/{sweep_id}/runs", response_model=RunsPage, tags=["sweeps"])
    def runs(sweep_id: str,
             sort: Annotated[str | None, Query(
                 max_length=1000, description="comma-separated KPIs or paths, `-` for "
                 "descending; default: the objective, best first")] = None,
             limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
             offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
             filter_text: Filter = None,
             distinct: Annotated[bool, Query(
                 description="one run per distinct outcome (trade sequence): the first in "
                 "the sort order of the runs that share it, with `same`, how many do")] = False,
             ) -> RunsPage:
        """A page of runs: grid values, KPIs, skipped entries and counters."""
        keys = [k for k in (sort or "").split(",") if k.strip()]
        return catalog.runs(sweep_id, keys, filter_text, limit, offset, distinct)

    @app.get("/api/sweeps/{sweep_id}/heatmap", response_model=Heatmap, tags=["sweeps"])
    def heatmap(sweep_id: str, x: str, y: str, metric: str = "sharpe", agg: Aggregate = "max",
                where: Annotated[list[str] | None, Query(
                    description="PATH:VALUE pins of other paths (`off` for a rule off)")]
                = None,
                filter_text: Filter = None) -> Response:
        """A metric over the grid cells of two paths, the others reduced by `agg`."""
        return _written(catalog.heatmap(sweep_id, x, y, metric, agg, where or [], filter_text))

    @app.get("/api/sweeps/{sweep_id}/slices", response_model=Slices, tags=["sweeps"])
    def slices(sweep_id: str, path: str, metric: str = "sharpe",
               filter_text: Filter = None) -> Slices:
        """Per value of a path: median, quartiles, min, max and mean of a metric."""
        return catalog.slices(sweep_id, path, metric, filter_text)

    @app.get("/api/sweeps/{sweep_id}/distribution", response_model=Distribution,
             tags=["sweeps"])
    def distribution(sweep_id: str, metric: str = "sharpe",
                     bins: Annotated[int, Query(ge=1, le=MAX_BINS)] = 40,
                     filter_text: Filter = None) -> Distribution:
        """A metric's histogram, mean and standard deviation over the runs, and its
        best-so-far records in combination order."""
        return catalog.distribution(sweep_id, metric, bins, filter_text)

    @app.get("/api/sweeps/{sweep_id}/robustness", response_model=Robustness, tags=["sweeps"])
    def robustness(sweep_id: str, metric: str = "sharpe",
                   top: Annotated[int, Query(ge=1, le=50)] = 10) -> Robustness:
        """Deflated Sharpe (with its trial count), PBO, CSCV degradation, and the
        neighbourhood (one grid step on every path) of the top runs."""
        return catalog.robustness(sweep_id, metric, top)

    @app.get("/api/sweeps/{sweep_id}/stability", response_model=Stability, tags=["sweeps"])
    def stability(sweep_id: str) -> Stability:
        """Whether the runs' Sharpe ranks hold from one time block to the next and from the
        first half of the days to the second (Spearman, over the distinct outcomes)."""
        return catalog.stability(sweep_id)

    @app.get("/api/sweeps/{sweep_id}/runs/{param_hash}", response_model=RunDetail,
             tags=["runs"])
    def run(sweep_id: str, param_hash: str) -> RunDetail:
        """A run's grid values, KPIs, counters and resolved strategy."""
        return catalog.run(sweep_id, param_hash)

    @app.get("/api/sweeps/{sweep_id}/runs/{param_hash}/equity", response_model=Equity,
             tags=["runs"])
    def run_equity(sweep_id: str, param_hash: str, points: Points = 1000,
                   regimes: Regimes = False) -> Equity:
        """A run's equity and drawdown, downsampled; recomputed if the sweep did not keep
        it; with the underlying's close (`columns.spot`)."""
        return catalog.run_equity(sweep_id, param_hash, points, regimes)

    @app.get("/api/sweeps/{sweep_id}/runs/{param_hash}/trades", response_model=Trades,
             tags=["runs"])
    def run_trades(sweep_id: str, param_hash: str) -> Trades:
        """A run's trades with their legs (recomputed)."""
        return catalog.run_trades(sweep_id, param_hash)

    @app.get("/api/sweeps/{sweep_id}/runs/{param_hash}/trades/{number}/payoff",
             response_model=Payoff, tags=["runs"])
    def run_payoff(sweep_id: str, param_hash: str, number: int,
                   points: PayoffPoints = 201) -> Payoff:
        """The payoff at expiry and at entry of a run's trade."""
        return catalog.payoff(number, sweep=sweep_id, run=param_hash, points=points)

    # ------------------------------------------------------------------ studies
    @app.get("/api/studies", response_model=list[StudyItem], tags=["studies"])
    def studies() -> list[StudyItem]:
        """Every finished study under the root."""
        return catalog.studies()

    @app.get("/api/studies/{study_id}", response_model=StudyDetail, tags=["studies"])
    def study(study_id: str) -> StudyDetail:
        """A study's summary, trials (params, values, state, fold values) and Pareto front."""
        return catalog.study(study_id)

    @app.get("/api/studies/{study_id}/trials/{number}", response_model=TrialDetail,
             tags=["studies"])
    def trial(study_id: str, number: int) -> TrialDetail:
        """A trial's values, in-sample KPIs and resolved strategy (the study's base strategy
        with the trial's values)."""
        return catalog.trial(study_id, number)

    @app.get("/api/studies/{study_id}/trials/{number}/equity", response_model=Equity,
             tags=["studies"])
    def trial_equity(study_id: str, number: int, points: Points = 1000,
                     regimes: Regimes = False) -> Equity:
        """A trial's whole-chain equity, downsampled: the kept curve, else backtested again;
        the chain's columns as for a run."""
        return catalog.trial_equity(study_id, number, points, regimes)

    @app.get("/api/studies/{study_id}/after", response_model=StudyAfter, tags=["studies"])
    def study_after(study_id: str, metric: str | None = None,
                    top: Annotated[int, Query(ge=1, le=MAX_AFTER_TRIALS)] = 200) -> StudyAfter:
        """The best `top` complete trials by `metric` in sample (default: the first objective),
        each backtested again over the days after the in-sample span alone, and the rank
        correlation between the two; 409 before the study finishes or when no day is after
        its span."""
        return catalog.study_after(study_id, metric, top)

    @app.get("/api/studies/{study_id}/trials/{number}/spans", response_model=TrialSpans,
             tags=["studies"])
    def trial_spans(study_id: str, number: int) -> TrialSpans:
        """A trial's KPIs in its study's in-sample span, after it (days no trial was ranked
        on) and over the whole chain (backtested again); 409 before the study finishes."""
        return catalog.trial_spans(study_id, number)

    @app.get("/api/studies/{study_id}/trials/{number}/trades", response_model=Trades,
             tags=["studies"])
    def trial_trades(study_id: str, number: int) -> Trades:
        """A trial's trades over the whole chain with their legs (backtested again)."""
        return catalog.trial_trades(study_id, number)

    @app.get("/api/studies/{study_id}/trials/{number}/trades/{trade}/payoff",
             response_model=Payoff, tags=["studies"])
    def trial_payoff(study_id: str, number: int, trade: int,
                     points: PayoffPoints = 201) -> Payoff:
        """The payoff at expiry and at entry of a trial's trade."""
        return catalog.payoff(trade, study=study_id, trial=number, points=points)

    # ------------------------------------------------------------------ backtests
    @app.get("/api/backtests", response_model=list[BacktestItem], tags=["backtests"])
    def backtests() -> list[BacktestItem]:
        """Every backtest under the root."""
        return catalog.backtests()

    @app.get("/api/backtests/{backtest_id}", response_model=BacktestDetail,
             tags=["backtests"])
    def backtest(backtest_id: str) -> BacktestDetail:
        """A backtest's summary.json."""
        return catalog.backtest(backtest_id)

    @app.get("/api/backtests/{backtest_id}/equity", response_model=Equity, tags=["backtests"])
    def backtest_equity(backtest_id: str, points: Points = 1000,
                        regimes: Regimes = False) -> Equity:
        """Daily equity, drawdown, greeks, hedge, margin and P&L attribution, downsampled."""
        return catalog.backtest_equity(backtest_id, points, regimes)

    @app.get("/api/backtests/{backtest_id}/trades", response_model=Trades, tags=["backtests"])
    def backtest_trades(backtest_id: str) -> Trades:
        """A backtest's trades with their legs."""
        return catalog.backtest_trades(backtest_id)

    @app.get("/api/payoff", response_model=Payoff, tags=["backtests", "runs"])
    def payoff(trade: int, backtest: str | None = None, sweep: str | None = None,
               run: str | None = None, study: str | None = None, trial: int | None = None,
               points: PayoffPoints = 201) -> Payoff:
        """The payoff of a trade's entry structure: of a backtest (`backtest`), of a sweep's
        run (`sweep` and `run`) or of a study's trial (`study` and `trial`)."""
        return catalog.payoff(trade, backtest=backtest, sweep=sweep, run=run, study=study,
                              trial=trial, points=points)

    # ------------------------------------------------------------------ events
    @app.get("/api/events", tags=["catalog"], response_class=StreamingResponse,
             responses={200: {"model": Event, "content": {"text/event-stream": {}},
                              "description": "Server-Sent Events: `event` the change, "
                                             "`data` an Event"}})
    async def events(request: Request) -> StreamingResponse:
        """Server-Sent Events: every sweep, study and backtest as `added`, then each one
        that appears, progresses (result rows, status) or goes away."""

        async def stream() -> AsyncIterator[str]:
            before: dict[tuple[Kind, str], State] = {}
            idle = 0.0
            yield "retry: 3000\n\n"
            while not await request.is_disconnected():
                after = await run_in_threadpool(catalog.states)
                changes = _changes(before, after)
                for event in changes:
                    yield f"event: {event.change}\ndata: {event.model_dump_json()}\n\n"
                before = after
                idle = 0.0 if changes else idle + poll_seconds
                if idle >= heartbeat_seconds:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(poll_seconds)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    _stream_schema(app, "/api/events")
    mount_frontend(app, static_dir)
    return app


def _stream_schema(app: FastAPI, path: str) -> None:
    """Document the Event model as the `data` of an event stream, not as a JSON body."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        if "application/json" in content:
            content["text/event-stream"] = {"schema": content.pop("application/json")["schema"]}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_text(app: FastAPI) -> str:
    """The OpenAPI document of `app` as committed: JSON, indent 2, sorted keys."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
