"""Every kernel entry point has one compiled type signature, whatever arrays the chain comes
in: writable (packed in-process) or read-only (Ray's object store, the memory-mapped packed
cache). A second signature would be a second cold compile, in every actor of a sweep."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import datetime as dt
import json
import numpy as np
from dataclasses import fields, replace
from gridbt.data.pack import pack_chain
from gridbt.kernel import kpi_nb, nb
from gridbt.kernel.dispatch import kpis_of, run_batch, run_params
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.presets import preset
from gridbt.testing import ChainQuote, chain_from_quotes

start = dt.date(2024, 1, 1)
packed = pack_chain(chain_from_quotes([
    ChainQuote(date=start + dt.timedelta(days=d), expiry=start + dt.timedelta(days=40),
               strike=k, right=r, bid=1.0 + 0.01 * d, ask=1.2 + 0.01 * d,
               delta=(0.3 if r == "C" else -0.3), spot=100.0)
    for d in range(5) for k in (95.0, 100.0, 105.0) for r in ("C", "P")
]), fingerprint="test")

def frozen(chain):
    arrays = {}
    for f in fields(chain):
        value = getattr(chain, f.name)
        if isinstance(value, np.ndarray):
            value = value.copy()
            value.flags.writeable = False
        arrays[f.name] = value
    return replace(chain, **arrays)

spec = preset("short_put")
for chain in (packed, frozen(packed)):
    row = encode_spec(spec, chain)
    rows = np.stack([row, row])
    frozen_rows = rows.copy()
    frozen_rows.flags.writeable = False
    for params in (rows, np.asfortranarray(rows), frozen_rows):
        run_batch(chain, params)
    result = run_params(chain, row)
    kpis_of(result, chain, spec.capital)
# a constant argument passed from jitted code (run_batch_nb's `fill_daily=False`) is typed as a
# literal when the caller compiles in this process, and not when its code comes from the cache:
# the same compiled code for the arrays either way, so literals count as their plain type
from numba.core import types
print(json.dumps({name: len({tuple(types.unliteral(a) for a in sig) for sig in f.signatures})
                  for name, f in (("run_batch_nb", nb.run_batch_nb),
                                  ("run_backtest_nb", nb.run_backtest_nb),
                                  ("compute_kpis_nb", kpi_nb.compute_kpis_nb))}))
"""


def test_one_signature_per_kernel_for_writable_and_read_only_chains() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=600, check=True)
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts == {"run_batch_nb": 1, "run_backtest_nb": 1, "compute_kpis_nb": 1}
