"""The kernel compiled with `lowlevel_nb`'s portable forms (`GRIDBT_KERNEL_PORTABLE=1`, the
form used on numba versions the fast code generation is not tested on) gives bit-identical
results to the fast forms: every output of a backtest and the batch KPIs, over strategies that
reach every step (selection, exits, sizing, RegT and PM margin, the account, hedging,
financing, a signal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gridbt.kernel import cache

SHORT_PUT = {
    "structure": {
        "dte": {"target": 45, "min": 30, "max": 60},
        "legs": [{"right": "P", "side": "short", "select": {"by": "delta", "target": 0.3}}],
    },
    "exit": {"profit_target": 0.5, "stop_loss": 2.0, "dte": 21},
}
BUDGET = {"risk_budget": 0.05, "max_contracts": 20}
ACCOUNT = {"liquidation": "target", "cash_rate": 0.02, "borrow_rate": 0.05}
PAYLOADS = {
    "short_put": SHORT_PUT,
    "regt_account": {**SHORT_PUT, "capital": 1e6, "sizing": BUDGET,
                     "risk": {"margin": {"model": "regt"}, "account": ACCOUNT}},
    "pm": {**SHORT_PUT, "capital": 1e6, "sizing": BUDGET, "risk": {"margin": {"model": "pm"}}},
    "hedged": {**SHORT_PUT, "capital": 1e6, "sizing": {**BUDGET, "risk_basis": "entry_hedged"},
               "risk": {"margin": {"model": "regt"}},
               "hedge": {"enabled": True, "half_width": 10, "at_entry": True}},
}
PRESETS = ["iron_condor", "calendar", "vrp_short_straddle", "hedged_short_strangle"]

SCRIPT = """
import json, sys
import numpy as np
from gridbt.data.default import load_packed
from gridbt.kernel.cache import cache_dir
from gridbt.kernel.dispatch import run_batch, run_params
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.presets import PRESETS
from gridbt.strategy.spec import parse_strategy

chain, payloads, presets, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
packed = load_packed(chain)
specs = {name: parse_strategy(p) for name, p in payloads.items()}
specs.update({name: PRESETS[name]() for name in presets.split(",")})
arrays = {}
rows = []
for name, spec in specs.items():
    row = encode_spec(spec, packed)
    rows.append(row)
    result = run_params(packed, row)
    for field in ("equity", "in_market", "trades", "legs", "daily", "skips",
                  "missing_quote_days", "stale_fills"):
        value = np.asarray(getattr(result, field))
        if value.dtype.names:
            for column in value.dtype.names:
                arrays[f"{name}.{field}.{column}"] = value[column]
        else:
            arrays[f"{name}.{field}"] = np.asarray(value)
for i, part in enumerate(run_batch(packed, np.stack(rows))):
    arrays[f"batch.{i}"] = part
np.savez(out, **arrays)
print(json.dumps({"cache_dir": str(cache_dir())}))
"""


def _run(chain: Path, out: Path, portable: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != cache.PORTABLE_ENV}
    if portable:
        env[cache.PORTABLE_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(chain), json.dumps(PAYLOADS), ",".join(PRESETS),
         str(out)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    directory: str = json.loads(done.stdout.strip().splitlines()[-1])["cache_dir"]
    return directory


@pytest.mark.skipif(not cache.low_level_codegen(),
                    reason="this numba already runs the portable forms only")
def test_the_portable_kernel_gives_bit_identical_results(chain: Path, tmp_path: Path) -> None:
    fast_dir = _run(chain, tmp_path / "fast.npz", portable=False)
    portable_dir = _run(chain, tmp_path / "portable.npz", portable=True)
    assert portable_dir == fast_dir + "-portable"  # compiled apart, never mixed
    fast = np.load(tmp_path / "fast.npz")
    portable = np.load(tmp_path / "portable.npz")
    assert sorted(fast.files) == sorted(portable.files)
    assert any(k.endswith(".trades.pnl") and fast[k].size for k in fast.files)
    for key in fast.files:
        a, b = fast[key], portable[key]
        assert a.dtype == b.dtype and a.shape == b.shape, key
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), key
