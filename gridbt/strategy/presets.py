"""Ready-made strategies: functions that return a validated `StrategySpec`.

Anchor legs are chosen by |delta|. Wings and second legs are chosen by an offset in index
points from an earlier leg, so a sweep over `wing_width` changes nothing else in the structure.
The defaults suit a cash-settled index such as SPX, which has 5-point strikes near the money.

Every preset takes these keyword arguments, with per-preset defaults shown in its signature:

name : str
    Strategy name; defaults to the preset's name. `stable_hash` ignores it.
dte_target, dte_tolerance : int
    Expiry window of the (near) legs. The expiry chosen is the one nearest `dte_target` days
    within `[dte_target - dte_tolerance, dte_target + dte_tolerance]`; the lower edge is
    clipped at 0.
profit_target, stop_loss : float or None
    Exit when P&L reaches `profit_target` times the entry premium, or falls to `-stop_loss`
    times it. None turns the rule off.
exit_dte : int or None
    Exit when the nearest leg has this many calendar days to expiry or fewer.
max_holding_days : int or None
    Exit after holding this many calendar days.
contracts : int
    Contracts (structure units) per entry.

`preset(name, **overrides)` builds a preset by name. Besides the preset's own arguments it
accepts spec paths such as `execution.slippage` or `structure.legs[1].min_open_interest`.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml

from gridbt._atomic import atomic_path
from gridbt._typing import PathLike
from gridbt.strategy.paths import set_path, split_path
from gridbt.strategy.spec import SpecError, StrategySpec, load_strategy, parse_strategy

__all__ = [
    "PRESETS", "butterfly", "calendar", "call_credit_spread", "call_debit_spread", "diagonal",
    "hedged_short_strangle", "iron_butterfly", "iron_condor", "load_spec", "long_straddle",
    "preset", "put_credit_spread", "put_debit_spread", "risk_reversal", "short_call",
    "short_put", "short_straddle", "short_strangle", "skew_risk_reversal", "strategy_yaml",
    "vrp_short_straddle",
    "write_preset_files",
]

Right = Literal["C", "P"]
_Payload = dict[str, Any]


def _delta(target: float, tolerance: float) -> _Payload:
    return {"by": "delta", "target": target, "tolerance": tolerance}


def _offset(of: int, points: float, tolerance: float) -> _Payload:
    return {"by": "offset", "of": of, "points": points, "tolerance": tolerance}


def _leg(
    right: Right, side: str, select: _Payload, *, qty: int = 1, expiry_group: int = 0
) -> _Payload:
    return {"right": right, "side": side, "qty": qty, "select": select,
            "expiry_group": expiry_group}


def _window(target: int, tolerance: int) -> _Payload:
    return {"target": target, "min": max(target - tolerance, 0), "max": target + tolerance}


def _far_window(
    preset_name: str, dte_target: int, dte_tolerance: int, far_target: int, far_tolerance: int
) -> _Payload:
    near, far = _window(dte_target, dte_tolerance), _window(far_target, far_tolerance)
    if far["min"] <= near["max"]:
        raise SpecError(
            f"preset {preset_name!r}: the far window starts at {far['min']} days, not after "
            f"the near window's end at {near['max']} days"
        )
    return far


def _positive(preset_name: str, parameter: str, value: float) -> None:
    if not value > 0:
        raise SpecError(f"preset {preset_name!r}: {parameter}: {value!r} must be > 0 (points)")


def _build(
    preset_name: str,
    name: str,
    legs: list[_Payload],
    *,
    dte_target: int,
    dte_tolerance: int,
    profit_target: float | None,
    stop_loss: float | None,
    exit_dte: int | None,
    max_holding_days: int | None,
    contracts: int,
    dte_far: _Payload | None = None,
    rebalance_days: int | None = None,
    signal: _Payload | None = None,
    same_day: bool | list[str] = False,
    sections: _Payload | None = None,
    capital: float | None = None,
) -> StrategySpec:
    structure: _Payload = {"dte": _window(dte_target, dte_tolerance), "legs": legs}
    if dte_far is not None:
        structure["dte_far"] = dte_far
    payload: _Payload = {
        "name": name,
        "structure": structure,
        "exit": {"profit_target": profit_target, "stop_loss": stop_loss, "dte": exit_dte,
                 "max_holding_days": max_holding_days, "rebalance_days": rebalance_days},
        "reentry": {"same_day": same_day},
        "sizing": {"contracts": contracts},
    }
    if signal is not None:
        payload["entry"] = {"signal": signal}
    for key, section in (sections or {}).items():
        payload[key] = {**payload.get(key, {}), **section}
    if capital is not None:
        payload["capital"] = capital
    return parse_strategy(payload, source=f"preset {preset_name!r}")


def short_put(
    *,
    delta: float = 0.30,
    delta_tolerance: float = 0.10,
    name: str = "short_put",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell one put at |delta| `delta` (a cash-secured put).

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the put, and how far from it the chosen strike may be.
    """
    legs = [_leg("P", "short", _delta(delta, delta_tolerance))]
    return _build("short_put", name, legs, dte_target=dte_target, dte_tolerance=dte_tolerance,
                  profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                  max_holding_days=max_holding_days, contracts=contracts)


def short_call(
    *,
    delta: float = 0.30,
    delta_tolerance: float = 0.10,
    name: str = "short_call",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell one call at |delta| `delta` (a naked call).

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the call, and how far from it the chosen strike may be.
    """
    legs = [_leg("C", "short", _delta(delta, delta_tolerance))]
    return _build("short_call", name, legs, dte_target=dte_target, dte_tolerance=dte_tolerance,
                  profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                  max_holding_days=max_holding_days, contracts=contracts)


def short_strangle(
    *,
    put_delta: float = 0.16,
    call_delta: float = 0.16,
    delta_tolerance: float = 0.05,
    name: str = "short_strangle",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell an out-of-the-money put and call on the same expiry.

    Parameters
    ----------
    put_delta, call_delta : float
        Target |delta| of the put (leg 0) and of the call (leg 1).
    delta_tolerance : float
        How far from its target each leg's |delta| may be.
    """
    legs = [_leg("P", "short", _delta(put_delta, delta_tolerance)),
            _leg("C", "short", _delta(call_delta, delta_tolerance))]
    return _build("short_strangle", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts)


def short_straddle(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    name: str = "short_straddle",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.25,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell an at-the-money put (leg 0) and call (leg 1) on the same expiry.

    Each leg is chosen by its own delta, so the two strikes can differ by a strike step.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of both legs, and how far from it each may be.
    """
    legs = [_leg("P", "short", _delta(delta, delta_tolerance)),
            _leg("C", "short", _delta(delta, delta_tolerance))]
    return _build("short_straddle", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts)


def iron_condor(
    *,
    put_delta: float = 0.16,
    call_delta: float = 0.16,
    delta_tolerance: float = 0.05,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "iron_condor",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell a put and a call by delta, and buy wings `wing_width` points further out.

    Legs: 0 short put, 1 short call, 2 long put at leg 0's strike − `wing_width`,
    3 long call at leg 1's strike + `wing_width`.

    Parameters
    ----------
    put_delta, call_delta, delta_tolerance : float
        Target |delta| of the short put and the short call, and how far from it each may be.
    wing_width : float
        Points between each short strike and its long wing.
    wing_tolerance : float
        How far, in points, a wing strike may be from its target strike.
    """
    _positive("iron_condor", "wing_width", wing_width)
    legs = [_leg("P", "short", _delta(put_delta, delta_tolerance)),
            _leg("C", "short", _delta(call_delta, delta_tolerance)),
            _leg("P", "long", _offset(0, -wing_width, wing_tolerance)),
            _leg("C", "long", _offset(1, wing_width, wing_tolerance))]
    return _build("iron_condor", name, legs, dte_target=dte_target, dte_tolerance=dte_tolerance,
                  profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                  max_holding_days=max_holding_days, contracts=contracts)


def iron_butterfly(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "iron_butterfly",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.25,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell an at-the-money put and call on one strike, and buy wings `wing_width` away.

    Legs: 0 short put by delta, 1 short call at leg 0's strike (exactly), 2 long put at
    leg 0's strike − `wing_width`, 3 long call at leg 0's strike + `wing_width`.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the short put that sets the body strike, and how far from it it may be.
    wing_width : float
        Points between the body strike and each long wing.
    wing_tolerance : float
        How far, in points, a wing strike may be from its target strike.
    """
    _positive("iron_butterfly", "wing_width", wing_width)
    legs = [_leg("P", "short", _delta(delta, delta_tolerance)),
            _leg("C", "short", _offset(0, 0.0, 0.0)),
            _leg("P", "long", _offset(0, -wing_width, wing_tolerance)),
            _leg("C", "long", _offset(0, wing_width, wing_tolerance))]
    return _build("iron_butterfly", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts)


def _vertical(
    preset_name: str,
    right: Right,
    anchor_side: Literal["long", "short"],
    delta: float,
    delta_tolerance: float,
    wing_width: float,
    wing_tolerance: float,
    name: str,
    **common: Any,
) -> StrategySpec:
    """Leg 0 by delta; leg 1 of the other side `wing_width` points further out of the money."""
    _positive(preset_name, "wing_width", wing_width)
    points = wing_width if right == "C" else -wing_width
    other = "long" if anchor_side == "short" else "short"
    legs = [_leg(right, anchor_side, _delta(delta, delta_tolerance)),
            _leg(right, other, _offset(0, points, wing_tolerance))]
    return _build(preset_name, name, legs, **common)


def put_credit_spread(
    *,
    delta: float = 0.30,
    delta_tolerance: float = 0.10,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "put_credit_spread",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell a put by delta (leg 0), and buy a put `wing_width` points lower (leg 1).

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the short put, and how far from it it may be.
    wing_width, wing_tolerance : float
        Points from the short strike down to the long strike, and how far (points) the long
        strike may be from that target.
    """
    return _vertical("put_credit_spread", "P", "short", delta, delta_tolerance, wing_width,
                     wing_tolerance, name, dte_target=dte_target, dte_tolerance=dte_tolerance,
                     profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                     max_holding_days=max_holding_days, contracts=contracts)


def call_credit_spread(
    *,
    delta: float = 0.30,
    delta_tolerance: float = 0.10,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "call_credit_spread",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell a call by delta (leg 0), and buy a call `wing_width` points higher (leg 1).

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the short call, and how far from it it may be.
    wing_width, wing_tolerance : float
        Points from the short strike up to the long strike, and how far (points) the long
        strike may be from that target.
    """
    return _vertical("call_credit_spread", "C", "short", delta, delta_tolerance, wing_width,
                     wing_tolerance, name, dte_target=dte_target, dte_tolerance=dte_tolerance,
                     profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                     max_holding_days=max_holding_days, contracts=contracts)


def put_debit_spread(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "put_debit_spread",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 0.5,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Buy a put by delta (leg 0), and sell a put `wing_width` points lower (leg 1).

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the long put, and how far from it it may be.
    wing_width, wing_tolerance : float
        Points from the long strike down to the short strike, and how far (points) the short
        strike may be from that target.
    """
    return _vertical("put_debit_spread", "P", "long", delta, delta_tolerance, wing_width,
                     wing_tolerance, name, dte_target=dte_target, dte_tolerance=dte_tolerance,
                     profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                     max_holding_days=max_holding_days, contracts=contracts)


def call_debit_spread(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "call_debit_spread",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 0.5,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Buy a call by delta (leg 0), and sell a call `wing_width` points higher (leg 1).

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the long call, and how far from it it may be.
    wing_width, wing_tolerance : float
        Points from the long strike up to the short strike, and how far (points) the short
        strike may be from that target.
    """
    return _vertical("call_debit_spread", "C", "long", delta, delta_tolerance, wing_width,
                     wing_tolerance, name, dte_target=dte_target, dte_tolerance=dte_tolerance,
                     profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                     max_holding_days=max_holding_days, contracts=contracts)


def long_straddle(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    name: str = "long_straddle",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 0.5,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Buy an at-the-money put (leg 0) and call (leg 1) on the same expiry.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of both legs, and how far from it each may be.
    """
    legs = [_leg("P", "long", _delta(delta, delta_tolerance)),
            _leg("C", "long", _delta(delta, delta_tolerance))]
    return _build("long_straddle", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts)


def butterfly(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    wing_width: float = 50.0,
    wing_tolerance: float = 25.0,
    name: str = "butterfly",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 1.0,
    stop_loss: float | None = 0.5,
    exit_dte: int | None = 7,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Buy a call butterfly: long 1 lower wing, short 2 body, long 1 upper wing.

    The body comes first so the wings can be placed from it: legs are 0 short 2 calls by
    delta, 1 long call at the body strike − `wing_width`, 2 long call at the body + `wing_width`.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of the body calls, and how far from it they may be.
    wing_width, wing_tolerance : float
        Points from the body strike to each wing, and how far (points) a wing strike may be
        from its target.
    """
    _positive("butterfly", "wing_width", wing_width)
    legs = [_leg("C", "short", _delta(delta, delta_tolerance), qty=2),
            _leg("C", "long", _offset(0, -wing_width, wing_tolerance)),
            _leg("C", "long", _offset(0, wing_width, wing_tolerance))]
    return _build("butterfly", name, legs, dte_target=dte_target, dte_tolerance=dte_tolerance,
                  profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                  max_holding_days=max_holding_days, contracts=contracts)


def risk_reversal(
    *,
    delta: float = 0.25,
    delta_tolerance: float = 0.10,
    name: str = "risk_reversal",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = None,
    stop_loss: float | None = None,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell an out-of-the-money put (leg 0) and buy an out-of-the-money call (leg 1).

    The premium of a risk reversal is close to zero, so exits relative to it are off by
    default.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of both legs, and how far from it each may be.
    """
    legs = [_leg("P", "short", _delta(delta, delta_tolerance)),
            _leg("C", "long", _delta(delta, delta_tolerance))]
    return _build("risk_reversal", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts)


def calendar(
    *,
    right: Right = "C",
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    strike_tolerance: float = 25.0,
    far_dte_target: int = 60,
    far_dte_tolerance: int = 15,
    name: str = "calendar",
    dte_target: int = 30,
    dte_tolerance: int = 7,
    profit_target: float | None = 0.25,
    stop_loss: float | None = 0.5,
    exit_dte: int | None = 7,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell a near option by delta (leg 0) and buy the same strike in a far expiry (leg 1).

    Leg 1 is an offset of 0 points from leg 0, chosen in the far expiry (`expiry_group` 1):
    the far strike nearest leg 0's strike, at most `strike_tolerance` points away.

    Parameters
    ----------
    right : {"C", "P"}
        Calls or puts.
    delta, delta_tolerance : float
        Target |delta| of the near option, and how far from it it may be.
    strike_tolerance : float
        How far, in points, the far strike may be from the near strike.
    far_dte_target, far_dte_tolerance : int
        Expiry window of the far leg, like `dte_target` and `dte_tolerance`; it must start
        after the near window ends.
    """
    legs = [_leg(right, "short", _delta(delta, delta_tolerance)),
            _leg(right, "long", _offset(0, 0.0, strike_tolerance), expiry_group=1)]
    far = _far_window("calendar", dte_target, dte_tolerance, far_dte_target, far_dte_tolerance)
    return _build("calendar", name, legs, dte_target=dte_target, dte_tolerance=dte_tolerance,
                  profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                  max_holding_days=max_holding_days, contracts=contracts, dte_far=far)


def diagonal(
    *,
    right: Right = "C",
    delta: float = 0.30,
    delta_tolerance: float = 0.10,
    width: float = 50.0,
    strike_tolerance: float = 25.0,
    far_dte_target: int = 60,
    far_dte_tolerance: int = 15,
    name: str = "diagonal",
    dte_target: int = 30,
    dte_tolerance: int = 7,
    profit_target: float | None = 0.25,
    stop_loss: float | None = 0.5,
    exit_dte: int | None = 7,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """Sell a near option by delta (leg 0) and buy a far option `width` points deeper in the money.

    Leg 1 is in the far expiry (`expiry_group` 1), at leg 0's strike − `width` for calls or
    + `width` for puts.

    Parameters
    ----------
    right : {"C", "P"}
        Calls or puts.
    delta, delta_tolerance : float
        Target |delta| of the near option, and how far from it it may be.
    width, strike_tolerance : float
        Points from the near strike to the far strike (towards the money), and how far (points)
        the far strike may be from that target.
    far_dte_target, far_dte_tolerance : int
        Expiry window of the far leg, like `dte_target` and `dte_tolerance`; it must start
        after the near window ends.
    """
    _positive("diagonal", "width", width)
    points = -width if right == "C" else width
    legs = [_leg(right, "short", _delta(delta, delta_tolerance)),
            _leg(right, "long", _offset(0, points, strike_tolerance), expiry_group=1)]
    far = _far_window("diagonal", dte_target, dte_tolerance, far_dte_target, far_dte_tolerance)
    return _build("diagonal", name, legs, dte_target=dte_target, dte_tolerance=dte_tolerance,
                  profit_target=profit_target, stop_loss=stop_loss, exit_dte=exit_dte,
                  max_holding_days=max_holding_days, contracts=contracts, dte_far=far)


def hedged_short_strangle(
    *,
    put_delta: float = 0.16,
    call_delta: float = 0.16,
    delta_tolerance: float = 0.05,
    hedge_band: float = 15.0,
    hedge_every_days: int | None = None,
    risk_budget: float = 0.05,
    max_contracts: int | None = 20,
    capital: float = 1_000_000.0,
    name: str = "hedged_short_strangle",
    dte_target: int = 45,
    dte_tolerance: int = 15,
    profit_target: float | None = 0.5,
    stop_loss: float | None = 2.0,
    exit_dte: int | None = 21,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """A short strangle, delta-hedged with the underlying and sized by stress risk.

    The legs are those of `short_strangle`. The hedge opens with the position and trades back
    to zero net delta whenever it leaves a band of `hedge_band` shares per contract (or every
    `hedge_every_days` days); hedge trades pay 1 bp and 0.005 per share. The size is the
    `risk_budget` fraction of equity over the worst loss of the reference engine's stress grid
    (hedge included), at most `max_contracts`. Reg-T margin (broad index) with the default
    account: a margin call after one grace day cuts the position back to what equity supports
    (target liquidation with a 10% buffer); margin above equity costs 6% a year. Idle cash
    earns nothing, so that the KPIs (risk-free rate 0) measure the options and the hedge.

    Parameters
    ----------
    put_delta, call_delta, delta_tolerance : float
        As in `short_strangle`.
    hedge_band : float
        Half-width of the no-trade band around zero delta, shares per contract.
    hedge_every_days : int or None
        Also rebalance after this many calendar days without a hedge decision.
    risk_budget : float
        Fraction of equity the worst stress scenario may cost.
    max_contracts : int or None
        Cap on the size.
    capital : float
        Starting equity. One SPX contract is about 100 x the index in notional, and a 15%
        crash costs a naked strangle tens of thousands per contract: a 5% risk budget needs
        about a million to open one.
    """
    legs = [_leg("P", "short", _delta(put_delta, delta_tolerance)),
            _leg("C", "short", _delta(call_delta, delta_tolerance))]
    sections: _Payload = {
        "sizing": {"risk_budget": risk_budget, "risk_basis": "entry_hedged",
                   "max_contracts": max_contracts},
        "risk": {
            "margin": {"model": "regt", "broad_index": True},
            "account": {"liquidation": "target", "liquidation_buffer": 0.1,
                        "borrow_rate": 0.06},
        },
        "hedge": {"enabled": True, "band": "fixed", "half_width": hedge_band,
                  "every_days": hedge_every_days, "at_entry": True, "slippage_bps": 1.0,
                  "commission_per_share": 0.005},
    }
    return _build("hedged_short_strangle", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts,
                  sections=sections, capital=capital)


def vrp_short_straddle(
    *,
    delta: float = 0.50,
    delta_tolerance: float = 0.10,
    rebalance_days: int | None = 5,
    name: str = "vrp_short_straddle",
    dte_target: int = 30,
    dte_tolerance: int = 7,
    profit_target: float | None = None,
    stop_loss: float | None = None,
    exit_dte: int | None = None,
    max_holding_days: int | None = None,
    contracts: int = 1,
) -> StrategySpec:
    """The reference engine's VRP harvesting preset: a short at-the-money straddle, rolled.

    Put (leg 0) and call (leg 1) by |delta| 0.50 on one expiry near 30 days. The position is
    closed every `rebalance_days` calendar days and re-opened the same day. The reference's
    other exits are off.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of both legs, and how far from it each may be.
    rebalance_days : int or None
        Calendar days after which the straddle is closed and re-opened (same-day re-entry is
        allowed after a rebalance exit only).
    """
    legs = [_leg("P", "short", _delta(delta, delta_tolerance)),
            _leg("C", "short", _delta(delta, delta_tolerance))]
    return _build("vrp_short_straddle", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts,
                  rebalance_days=rebalance_days, same_day=["rebalance"])


def skew_risk_reversal(
    *,
    delta: float = 0.25,
    delta_tolerance: float = 0.10,
    feature: str = "skew_25d",
    z_window: int = 60,
    z_entry: float = 1.5,
    z_exit: float = 0.5,
    inverted: bool = True,
    name: str = "skew_risk_reversal",
    dte_target: int = 30,
    dte_tolerance: int = 7,
    profit_target: float | None = None,
    stop_loss: float | None = None,
    exit_dte: int | None = None,
    max_holding_days: int | None = 30,
    contracts: int = 1,
) -> StrategySpec:
    """The reference engine's skew mispricing preset: a 25-delta risk reversal on a z-score.

    Legs are a short put (leg 0) and a long call (leg 1). A long signal holds them as
    written; a short signal reverses them (long put, short call). The signal is the z-score
    of `feature`. With `inverted`, unusually steep skew (high z) buys the risk reversal and
    unusually flat skew sells it. Positions leave on the signal's exit or after
    `max_holding_days`. There is no same-day re-entry.

    Parameters
    ----------
    delta, delta_tolerance : float
        Target |delta| of both legs, and how far from it each may be.
    feature : str
        Daily feature holding the 25-delta skew (put IV − call IV).
    z_window : int
        Trading days of prior feature values behind the z-score's mean and deviation.
    z_entry, z_exit : float
        Enter when |z| exceeds `z_entry`; leave when z is back within `z_exit` of 0.
    inverted : bool
        Negate the signal's direction (contrarian).
    """
    legs = [_leg("P", "short", _delta(delta, delta_tolerance)),
            _leg("C", "long", _delta(delta, delta_tolerance))]
    signal = {"kind": "zscore", "feature": feature, "window": z_window, "entry": z_entry,
              "exit": z_exit, "inverted": inverted}
    return _build("skew_risk_reversal", name, legs, dte_target=dte_target,
                  dte_tolerance=dte_tolerance, profit_target=profit_target, stop_loss=stop_loss,
                  exit_dte=exit_dte, max_holding_days=max_holding_days, contracts=contracts,
                  signal=signal)


PRESETS: dict[str, Callable[..., StrategySpec]] = {
    f.__name__: f
    for f in (
        short_put, short_call, short_strangle, short_straddle, iron_condor, iron_butterfly,
        put_credit_spread, call_credit_spread, put_debit_spread, call_debit_spread,
        long_straddle, butterfly, risk_reversal, calendar, diagonal, vrp_short_straddle,
        skew_risk_reversal, hedged_short_strangle,
    )
}

def preset(name: str, /, **overrides: Any) -> StrategySpec:
    """Build the preset `name`, with overrides.

    Parameters
    ----------
    name : str
        A key of `PRESETS`.
    **overrides
        Arguments of the preset function (`wing_width=25`). Any other key must be a spec
        path, and the value at that path is replaced in the built spec
        (`**{"execution.slippage": 0.5, "structure.legs[1].min_open_interest": 100}`).

    Returns
    -------
    StrategySpec
        The validated spec.

    Raises
    ------
    SpecError
        The name is unknown, a key is neither an argument nor a spec path, or the result does
        not validate.
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise SpecError(f"unknown preset {name!r}{_did_you_mean(name)}") from None
    parameters = inspect.signature(factory).parameters
    arguments = {k: v for k, v in overrides.items() if k in parameters}
    paths = {k: v for k, v in overrides.items() if k not in parameters}
    for key in paths:
        try:
            head = split_path(key)[0]
        except KeyError as exc:
            raise SpecError(f"preset {name!r}: {exc.args[0]}") from None
        if head not in StrategySpec.model_fields:
            raise SpecError(
                f"preset {name!r}: {key!r} is neither an argument ({', '.join(parameters)}) "
                "nor a spec path such as 'execution.slippage'"
            )
    spec = factory(**arguments)
    if not paths:
        return spec
    payload = spec.model_dump(mode="json")
    for key, value in paths.items():
        try:
            set_path(payload, key, value, create=True)
        except KeyError as exc:
            raise SpecError(f"preset {name!r}: {exc.args[0]}") from None
    return parse_strategy(payload, source=f"preset {name!r}")


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type stubs
    """Block style, but lists of scalars on one line, and list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class _Inline(dict[str, Any]):
    """A small mapping written on one line."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_inline(dumper: yaml.SafeDumper, data: _Inline) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(_Inline, _represent_inline)


def strategy_yaml(spec: StrategySpec, header: str = "") -> str:
    """Return `spec` as YAML with every field written out, in model order.

    Expiry windows, strike selections, signals and filters are written on one line each.

    Parameters
    ----------
    spec : StrategySpec
        The spec to write.
    header : str
        Comment lines to put first (each prefixed with `# `).
    """
    payload = spec.model_dump(mode="json", exclude_defaults=False)
    if payload.get("mlflow") is None:  # where runs are logged: written only when set
        payload.pop("mlflow", None)
    structure = payload["structure"]
    for key in ("dte", "dte_far"):
        if structure[key] is not None:
            structure[key] = _Inline(structure[key])
    for leg in structure["legs"]:
        leg["select"] = _Inline(leg["select"])
    payload["entry"]["signal"] = _Inline(payload["entry"]["signal"])
    payload["entry"]["filters"] = [_Inline(f) for f in payload["entry"]["filters"]]
    body: str = yaml.dump(payload, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                          allow_unicode=True, width=100)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + body


def write_preset_files(directory: PathLike) -> list[Path]:
    """Write `<name>.yaml` for every preset at its defaults into `directory`; return the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, factory in PRESETS.items():
        header = (f"Preset {name!r} at its defaults (gridbt.strategy.presets.{name}).\n"
                  "Regenerate with: python -m gridbt.strategy.presets jobs/strategies")
        target = out / f"{name}.yaml"
        with atomic_path(target) as tmp:
            tmp.write_text(strategy_yaml(factory(), header))
        written.append(target)
    return written


def load_spec(strategy: str | PathLike | StrategySpec) -> StrategySpec:
    """A spec from a spec, a YAML path, or a preset name."""
    if isinstance(strategy, StrategySpec):
        return strategy
    path = Path(strategy)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        return load_strategy(path)
    if str(strategy) in PRESETS:
        return preset(str(strategy))
    raise SpecError(
        f"strategy {str(strategy)!r} is neither a file nor a preset{_did_you_mean(str(strategy))}"
    )


def _did_you_mean(name: str) -> str:
    """`; did you mean 'x'?` for the closest preset name, then every preset's name."""
    close = difflib.get_close_matches(name, PRESETS, n=1)
    return (f"; did you mean {close[0]!r}?" if close else "") + (
        f"\n  presets: {', '.join(sorted(PRESETS))}")


if __name__ == "__main__":
    for path in write_preset_files(sys.argv[1] if len(sys.argv) > 1 else "jobs/strategies"):
        print(path)
