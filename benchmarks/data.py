"""Data-layer throughput: synthesise, write, read, import, validate and pack.

Prints seconds and rows/s per stage (median of --repeat runs; the machine is shared and
noisy). The import stage reads one year of the synthetic chain written as a generic vendor
CSV: text parsing, validation and the atomic write of a chain directory.
Usage: python benchmarks/data.py [--profile history|synthetic|small] [--repeat 3]
"""

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gridbt.data.importer import import_files
from gridbt.data.pack import pack_chain
from gridbt.data.store import read_chain, write_chain
from gridbt.data.synth import synthesize_chain
from gridbt.data.validate import validate


def timed(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(stage, secs, rows, note=""):
    print(f"{stage:<11} {secs:8.2f} s  {rows / secs:14,.0f} rows/s  {note}")


def first_year_as_csv(table, path):
    first = table.column("date")[0].as_py()
    end = pa.scalar(dt.date(first.year + 1, first.month, first.day), pa.date32())
    year = table.filter(pc.less(table.column("date"), end))
    plain = year.cast(pa.schema(
        [f.with_type(pa.string()) if pa.types.is_dictionary(f.type) else f for f in year.schema]))
    pacsv.write_csv(plain, path)
    return year.num_rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="history")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pack_chain(synthesize_chain("small", 1))  # compile the numba kernels first

    secs, table = timed(lambda: synthesize_chain(args.profile, 7), 1)
    rows = table.num_rows
    print(f"{args.profile} chain: {rows:,} rows")
    report("synthesise", secs, rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chain"
        report("write", timed(lambda: write_chain(table, out), args.repeat)[0], rows)
        secs, stored = timed(lambda: read_chain(out).combine_chunks(), args.repeat)
        report("read", secs, rows)
        csv_path = Path(tmp) / "vendor.csv"
        year_rows = first_year_as_csv(stored, csv_path)
        secs, _ = timed(
            lambda: import_files("csv", [csv_path], Path(tmp) / "imported", force=True),
            args.repeat,
        )
        size = csv_path.stat().st_size / 2**20
        report("import csv", secs, year_rows, f"({year_rows:,} rows, {size:,.0f} MiB of CSV)")
    report("validate", timed(lambda: validate(stored), args.repeat)[0], rows)
    secs, packed = timed(lambda: pack_chain(stored), args.repeat)
    report("pack", secs, rows, f"({packed.nbytes() / 2**20:,.0f} MiB packed)")


if __name__ == "__main__":
    main()
