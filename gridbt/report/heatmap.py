"""Heatmaps of a sweep's objective over each pair of grid parameters (best over the rest)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridbt._atomic import atomic_path

__all__ = ["best_objective_grid", "objective_heatmaps"]

_OFF = "off"


def _is_off(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _label(value: Any) -> str:
    return _OFF if _is_off(value) else (f"{value:g}" if isinstance(value, float) else str(value))


def _axis(values: pd.Series) -> list[Any]:
    """Distinct values sorted numerically (or as text), switched-off values last."""
    present = {(_label(v)): v for v in values if not _is_off(v)}
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present.values())
    ordered = sorted(present.values(), key=(lambda v: float(v)) if numeric else str)
    return ordered + ([None] if any(_is_off(v) for v in values) else [])


def best_objective_grid(results: pd.DataFrame, x: str, y: str, objective: str,
                        higher_is_better: bool) -> tuple[list[Any], list[Any], np.ndarray]:
    """The best objective for each (x, y) cell over all other parameters; NaN where no
    combination was evaluated. Returns (x values, y values, array of shape (len(y), len(x)))."""
    xs, ys = _axis(results[x]), _axis(results[y])
    col = {_label(v): i for i, v in enumerate(xs)}
    row = {_label(v): i for i, v in enumerate(ys)}
    grid = np.full((len(ys), len(xs)), np.nan)
    for xv, yv, value in zip(results[x], results[y], results[objective], strict=True):
        if value is None or not np.isfinite(value):
            continue
        i, j = row[_label(yv)], col[_label(xv)]
        current = grid[i, j]
        if np.isnan(current) or (value > current if higher_is_better else value < current):
            grid[i, j] = value
    return xs, ys, grid


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def objective_heatmaps(results: pd.DataFrame, params: Sequence[str], objective: str, *,
                       higher_is_better: bool, out_dir: Path, max_pairs: int = 10) -> list[Path]:
    """One PNG per pair of parameters with two or more values (at most `max_pairs`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    varied = [p for p in params if len(_axis(results[p])) >= 2]
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for x, y in [(a, b) for i, a in enumerate(varied) for b in varied[i + 1:]][:max_pairs]:
        xs, ys, grid = best_objective_grid(results, x, y, objective, higher_is_better)
        finite = grid[np.isfinite(grid)]
        fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(xs), 1.0 + 0.45 * len(ys)), dpi=110)
        fig.set_size_inches(max(5.0, fig.get_figwidth()), max(3.5, fig.get_figheight()))
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo < 0 < hi:
            norm: Any = TwoSlopeNorm(vcenter=0.0, vmin=lo, vmax=hi)
            cmap = "RdYlGn" if higher_is_better else "RdYlGn_r"
        else:
            norm, cmap = None, "viridis" if higher_is_better else "viridis_r"
        ax.add_patch(plt.Rectangle((-0.5, -0.5), len(xs), len(ys), fill=False, hatch="//",
                                   edgecolor="0.8", zorder=0))
        image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap,
                          norm=norm, zorder=1)
        ax.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=45, ha="right")
        ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        best = "max" if higher_is_better else "min"
        ax.set_title(f"{objective} ({best} over other parameters)", fontsize=10)
        if len(xs) <= 12 and len(ys) <= 12:
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(grid[i, j]):
                        ax.text(j, i, f"{grid[i, j]:.2g}", ha="center", va="center", fontsize=7)
        fig.colorbar(image, ax=ax, label=objective)
        fig.tight_layout()
        path = out_dir / f"heatmap_{_safe(objective)}__{_safe(x)}__{_safe(y)}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(path)
    return written
