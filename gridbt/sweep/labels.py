"""Short labels of grid values, for run names: ``Δ0.15 30d PT– SL2 x7d``.

A label is a prefix, the value and a suffix, chosen by the dotted path (the table below);
a path not in the table is labelled ``<name>=<value>``, the name being its last component, or
its last two when the last is a generic ``target``, ``min`` or ``max``. A null value (the rule
switched off) is shown as ``–`` after the prefix (``PT–``, ``x–``), a boolean as on/off,
a float without a trailing ``.0`` (``SL2``), any other float by its shortest repr.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["OFF", "as_written", "run_label", "short_label"]

#: How a null (a switched-off rule) shows in a label.
OFF = "–"

# (path pattern, prefix, suffix); {leg} is the leg index when it is not 0
_LABELS: tuple[tuple[str, str, str], ...] = (
    (r"structure\.legs\.(\d+)\.select\.target", "{leg}Δ", ""),
    (r"structure\.legs\.(\d+)\.select\.points", "{leg}", "pt"),
    (r"structure\.legs\.(\d+)\.qty", "{leg}×", ""),
    (r"structure\.dte\.target", "", "d"),
    (r"structure\.dte\.min", "≥", "d"),
    (r"structure\.dte\.max", "≤", "d"),
    (r"structure\.dte_far\.target", "far", "d"),
    (r"exit\.profit_target", "PT", ""),
    (r"exit\.stop_loss", "SL", ""),
    (r"exit\.dte", "x", "d"),
    (r"exit\.max_holding_days", "H", "d"),
    (r"exit\.rebalance_days", "R", "d"),
    (r"exit\.delta_breach", "ΔB", ""),
    (r"sizing\.risk_budget", "risk", ""),
)
_GENERIC = {"target", "min", "max"}


def as_written(value: object, choices: Sequence[object]) -> object:
    """A result's value as the job file wrote it: a float column turns 7 into 7.0 and null into
    NaN, so return the choice (an axis value) it equals, of the same kind (a number is not a
    boolean); NaN is None, a value no choice equals is returned as it is."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    for choice in choices:
        if (choice is not None and isinstance(choice, bool) == isinstance(value, bool)
                and choice == value):
            return choice
    return value


def _value_text(value: object) -> str:
    if value is None:
        return OFF
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def short_label(path: str, value: object) -> str:
    """The short label of one grid value, e.g. ``SL2`` for ``exit.stop_loss: 2.0``."""
    for pattern, prefix, suffix in _LABELS:
        if match := re.fullmatch(pattern, path):
            leg = match.group(1) if match.groups() else "0"
            head = prefix.format(leg="" if leg == "0" else f"L{leg}")
            if value is None:
                return f"{head or path.rsplit('.', 1)[-1]}{OFF}"
            return f"{head}{_value_text(value)}{suffix}"
    parts = path.split(".")
    name = ".".join(parts[-2:]) if parts[-1] in _GENERIC and len(parts) > 1 else parts[-1]
    return f"{name}={_value_text(value)}"


def run_label(values: Mapping[str, object], paths: Sequence[str]) -> str:
    """The labels of `paths` (those that vary, in grid order), joined by spaces."""
    return " ".join(short_label(path, values[path]) for path in paths)
