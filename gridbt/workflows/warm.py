"""Compile the kernels into the source-keyed cache once, so that a user's first backtest,
sweep or study loads machine code instead of waiting for numba (`make install` runs this).

Every kernel entry point is called once on the small synthetic chain: the kernels take
read-only views of fixed dtypes (`kernel.dispatch.read_only`), so these calls compile the one
type signature that every chain, local, memory-mapped or from Ray's object store, then uses.
The data package's numba functions (features, Black–Scholes) compile while the chain is built.
"""

from __future__ import annotations

import time

__all__ = ["warm_kernels"]


def warm_kernels() -> float:
    """Compile (or load) every kernel; return the seconds it took."""
    from gridbt.data.default import ensure_synthetic_chain, load_packed
    from gridbt.entries.engine import find_candidates
    from gridbt.kernel.dispatch import kpis_of, run_batch, run_params
    from gridbt.kernel.tables import run_batch_tables
    from gridbt.strategy.encode import encode_spec
    from gridbt.strategy.presets import preset

    started = time.perf_counter()
    packed = load_packed(ensure_synthetic_chain(profile="small")[0])
    spec = preset("short_put")
    row = encode_spec(spec, packed)
    run_batch(packed, row[None, :])
    run_batch_tables(packed, row[None, :], min_group_rows=0)
    kpis_of(run_params(packed, row), packed, spec.capital)
    find_candidates(packed, spec, [spec.exit])  # `gridbt entries`' kernels
    return time.perf_counter() - started


if __name__ == "__main__":
    from gridbt.kernel.cache import cache_dir

    print(f"kernels ready in {warm_kernels():.1f} s ({cache_dir()})")
