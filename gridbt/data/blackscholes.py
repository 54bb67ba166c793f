"""Vectorised Black–Scholes–Merton pricing, greeks and implied volatility.

Inputs broadcast like numpy. Units follow the chain schema: `years` = calendar days / 365,
vega per volatility point, theta per calendar day.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from gridbt._typing import FloatArray
from gridbt.data import blackscholes_nb as nb

__all__ = ["Greeks", "greeks", "implied_vol", "price"]

ArrayLike = npt.ArrayLike


class Greeks(NamedTuple):
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def _flat_inputs(
    *args: ArrayLike, is_call: ArrayLike
) -> tuple[tuple[tuple[int, ...], list[FloatArray]], npt.NDArray[np.bool_]]:
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args],
                                 np.asarray(is_call, dtype=np.bool_))
    shape = arrays[0].shape
    # broadcast views are read-only aliases: give the kernels owned, contiguous copies
    flats = [np.array(a.ravel(), dtype=np.float64) for a in arrays[:-1]]
    return (shape, flats), np.array(arrays[-1].ravel(), dtype=np.bool_)


def price(
    spot: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike,
    dividend: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
) -> FloatArray:
    """Return the Black–Scholes–Merton price of European options."""
    (shape, flats), calls = _flat_inputs(spot, strike, years, rate, dividend, vol, is_call=is_call)
    out = np.empty(calls.shape[0], dtype=np.float64)
    nb.bs_price_array_nb(*flats, calls, out)
    return out.reshape(shape)


def greeks(
    spot: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike,
    dividend: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
) -> Greeks:
    """Return delta, gamma, vega (per vol point) and theta (per calendar day)."""
    (shape, flats), calls = _flat_inputs(spot, strike, years, rate, dividend, vol, is_call=is_call)
    outs = [np.empty(calls.shape[0], dtype=np.float64) for _ in range(4)]
    nb.bs_greeks_array_nb(*flats, calls, *outs)
    return Greeks(*(o.reshape(shape) for o in outs))


def implied_vol(
    option_price: ArrayLike, spot: ArrayLike, strike: ArrayLike, years: ArrayLike,
    rate: ArrayLike, dividend: ArrayLike, is_call: ArrayLike,
) -> FloatArray:
    """Solve for the volatility that reproduces `option_price`; NaN where none exists."""
    (shape, flats), calls = _flat_inputs(
        option_price, spot, strike, years, rate, dividend, is_call=is_call
    )
    out = np.empty(calls.shape[0], dtype=np.float64)
    nb.implied_vol_array_nb(*flats, calls, out)
    return out.reshape(shape)
