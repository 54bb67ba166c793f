"""The real S&P 500 path and the implied-volatility level the history chain is built on.

Spot is the S&P 500 close of `arch.data.sp500` on each of its own trading days. The 30-day
variance-swap volatility (the level the chain's `vix_30` reads back) is the real VIX close of
`arch.data.vix` where it exists (2014-01-03 on) and a model of it elsewhere:

1. HAR model of realised variance (Corsi 2009), fitted by least squares on all of 1999–2018:
   the next 22 days' mean of 252·r² on today's 252·r², its 5-day and its 22-day means.
2. A link from the HAR forecast to the VIX, fitted by least squares on 2014–2018:
   VIX² = a + b·HAR + c·RV₅ + d·mean₅ min(z, 0), with RV₅ the 5-day mean of 252·r² and
   z = r / √(HAR₋₁/252) each day's return in units of the forecast vol: b − 1 is the
   proportional variance risk premium, c and d the response to a recent jump and to falls
   (leverage), the latter bounded in scale because it is measured in forecast vols.
3. On days without a VIX the level is the link times exp(u), u an AR(1) residual with the
   persistence and innovation size of the fitted residuals, drawn from a seeded generator;
   the level is bounded to [`LEVEL_FLOOR`, `LEVEL_CAP`].

See ``docs/history_chain.md`` for the fitted numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gridbt._typing import FloatArray, Int32Array

#: Days of the realised-variance windows of the HAR model (daily, weekly, monthly).
HAR_WINDOWS = (1, 5, 22)
#: Bounds on the modelled 30-day variance-swap vol (the real VIX closed at most 0.81 up to 2018).
LEVEL_FLOOR, LEVEL_CAP = 0.09, 0.85
#: Fit window of the VIX link (where both series exist).
FIT_START, FIT_STOP = np.datetime64("2014-01-01"), np.datetime64("2019-01-01")


@dataclass(frozen=True)
class HistoryFit:
    """Fitted coefficients of the level model and how well it fits."""

    #: HAR intercept and loadings on the daily, weekly and monthly realised variance.
    har: tuple[float, float, float, float]
    #: VIX² link: intercept, HAR, 5-day realised variance, 5-day mean of min(z, 0).
    link: tuple[float, float, float, float]
    #: AR(1) persistence and innovation standard deviation of the link's log residual.
    residual_phi: float
    residual_sd: float
    #: In-sample (2014–2018) correlation and mean absolute difference (vol points) of the
    #: link without residual against the VIX.
    fit_correlation: float
    fit_mad_points: float
    #: Mean daily 252·r² over 1999–2018: the long-run physical variance of the surface.
    long_run_variance: float


@dataclass(frozen=True)
class HistoryPath:
    """The real path and the level series, one entry per trading day of the data."""

    days: Int32Array
    spot: FloatArray
    log_return: FloatArray
    #: HAR forecast of the next 22 days' variance (annualised): the physical variance state.
    variance: FloatArray
    #: 30-day variance-swap vol the chain is built to: the VIX where observed, else modelled.
    level: FloatArray
    #: The real VIX close (decimal), NaN where the data has none.
    vix: FloatArray
    fit: HistoryFit


def load_series() -> tuple[Int32Array, FloatArray, Int32Array, FloatArray]:
    """Return (days, close) of the S&P 500 and (days, close) of the VIX from `arch`."""
    try:
        from arch.data import sp500, vix
    except ImportError as exc:  # pragma: no cover - arch is a dependency
        raise ImportError("the history chain needs the `arch` package: pip install arch") from exc
    index = sp500.load()
    volatility = vix.load()
    days = index.index.to_numpy().astype("datetime64[D]").astype(np.int64).astype(np.int32)
    close = np.round(index["Close"].to_numpy(dtype=np.float64), 2)
    vix_days = volatility.index.to_numpy().astype("datetime64[D]").astype(np.int64)
    vix_close = volatility["vix"].to_numpy(dtype=np.float64) / 100.0
    return days, close, vix_days.astype(np.int32), vix_close


def _trailing_mean(values: FloatArray, window: int) -> FloatArray:
    total = np.cumsum(np.r_[0.0, values])
    end = np.arange(1, values.shape[0] + 1)
    start = np.maximum(end - window, 0)
    return np.asarray((total[end] - total[start]) / (end - start))


def _least_squares(design: FloatArray, target: FloatArray) -> FloatArray:
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    return np.asarray(coefficients, dtype=np.float64)


def build_path(rng: np.random.Generator) -> HistoryPath:
    """Fit the level model on the real series and return the path the chain is built on."""
    days, close, vix_days, vix_close = load_series()
    n = days.shape[0]
    log_return = np.r_[0.0, np.diff(np.log(close))]
    daily = 252.0 * log_return * log_return
    # The first day has no return: give it the mean of the next month's, not a zero.
    daily[0] = float(np.mean(daily[1 : HAR_WINDOWS[-1] + 1]))
    realised = np.stack([_trailing_mean(daily, w) for w in HAR_WINDOWS], axis=1)
    har_design = np.c_[np.ones(n), realised]
    ahead = HAR_WINDOWS[-1]
    future = _trailing_mean(daily, ahead)[ahead:]
    usable = np.arange(ahead, n - ahead)
    har = _least_squares(har_design[usable], future[usable])
    variance = np.maximum(har_design @ har, 1e-4)

    vix = np.full(n, np.nan)
    where = np.searchsorted(days, vix_days)
    found = where < n
    found[found] = days[where[found]] == vix_days[found]
    vix[where[found]] = vix_close[found]

    forecast_sd = np.sqrt(np.r_[variance[0], variance[:-1]] / 252.0)
    down = _trailing_mean(np.minimum(log_return / forecast_sd, 0.0), 5)
    link_design = np.c_[np.ones(n), variance, realised[:, 1], down]
    dates = days.astype("datetime64[D]")
    fitted = np.isfinite(vix) & (dates >= FIT_START) & (dates < FIT_STOP)
    link = _least_squares(link_design[fitted], vix[fitted] ** 2)
    model = np.sqrt(np.maximum(link_design @ link, LEVEL_FLOOR**2))
    residual = np.log(vix[fitted]) - np.log(model[fitted])
    phi = float(np.asarray(np.corrcoef(residual[1:], residual[:-1]))[0, 1])
    innovation = float(np.std(residual) * math.sqrt(1.0 - phi * phi))

    shocks: FloatArray = np.asarray(rng.standard_normal(n), dtype=np.float64) * innovation
    noise = np.empty(n)
    noise[0] = shocks[0] / math.sqrt(1.0 - phi * phi)
    for t in range(1, n):
        noise[t] = phi * noise[t - 1] + shocks[t]
    modelled = np.clip(model * np.exp(noise), LEVEL_FLOOR, LEVEL_CAP)
    level = np.where(np.isfinite(vix), vix, modelled)

    fit = HistoryFit(
        har=(float(har[0]), float(har[1]), float(har[2]), float(har[3])),
        link=(float(link[0]), float(link[1]), float(link[2]), float(link[3])),
        residual_phi=phi,
        residual_sd=innovation,
        fit_correlation=float(np.asarray(np.corrcoef(model[fitted], vix[fitted]))[0, 1]),
        fit_mad_points=float(np.mean(np.abs(model[fitted] - vix[fitted])) * 100.0),
        long_run_variance=float(np.mean(daily[1:])),
    )
    return HistoryPath(
        days=days,
        spot=close,
        log_return=log_return,
        variance=variance,
        level=level,
        vix=vix,
        fit=fit,
    )
