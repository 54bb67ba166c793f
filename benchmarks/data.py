"""Data-layer throughput: synthesise, write, read, validate and pack the default chain.

Prints rows/s per stage (median of --repeat runs; the machine is shared and noisy).
Usage: python benchmarks/data.py [--profile default|small] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gridbt.data.pack import pack_chain
from gridbt.data.store import read_chain, write_chain
from gridbt.data.synth import synthesize_chain
from gridbt.data.validate import validate


def _median_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="default")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pack_chain(synthesize_chain("small", 1))  # compile the numba feature kernels first

    secs, table = _median_seconds(lambda: synthesize_chain(args.profile, 7), 1)
    rows = table.num_rows  # type: ignore[union-attr]
    print(f"rows {rows:,}")
    print(f"synthesise  {secs:8.2f} s  {rows / secs:14,.0f} rows/s")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chain"
        secs, _ = _median_seconds(lambda: write_chain(table, out), args.repeat)
        print(f"write       {secs:8.2f} s  {rows / secs:14,.0f} rows/s")
        secs, stored = _median_seconds(lambda: read_chain(out).combine_chunks(), args.repeat)
        print(f"read        {secs:8.2f} s  {rows / secs:14,.0f} rows/s")
    secs, _ = _median_seconds(lambda: validate(stored), args.repeat)  # type: ignore[arg-type]
    print(f"validate    {secs:8.2f} s  {rows / secs:14,.0f} rows/s")
    secs, packed = _median_seconds(lambda: pack_chain(stored), args.repeat)  # type: ignore[arg-type]
    print(f"pack        {secs:8.2f} s  {rows / secs:14,.0f} rows/s  "
          f"({packed.nbytes() / 2**20:,.0f} MiB packed)")  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
