"""What checking a chain against its manifest costs, on the default chain (issue 14.2).

Prints, per check, its wall time and CPU time (medians of --repeat runs; the machine is shared
and noisy, the CPU time less so) next to the step it is part of: hashing the Parquet files
(added to every write and every full read), recomputing the manifest's facts (added to every
pack and `data info`), hashing the packed arrays (added to every pack), the cheap check of a
load served from the packed cache (every backtest, sweep and study), and the deep check
(`gridbt data validate --deep`).
Usage: python benchmarks/integrity.py [--repeat 5]
"""

import argparse
import statistics
import time
import warnings

import pyarrow as pa
import pyarrow.parquet as pq

from gridbt.data import pack, packcache, store
from gridbt.data.default import ensure_synthetic_chain, load_packed
from gridbt.data.schema import CHAIN_SCHEMA


def timed(fn, repeat):
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return (statistics.median(walls), statistics.median(cpus)), result


def line(what, secs, of=None, note=""):
    (wall, cpu) = secs
    share = f"{100 * cpu / of[1]:5.1f}% of its CPU" if of else " " * 16
    print(f"{what:<46} {wall * 1e3:9.1f} ms {cpu * 1e3:9.1f} ms CPU  {share}  {note}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chain, manifest, _ = ensure_synthetic_chain()
    load_packed(chain)  # the cache exists, and holds the stamps of the chain's files
    size = sum(f.bytes for f in manifest.files)
    print(f"default chain: {manifest.rows:,} rows, {len(manifest.files)} Parquet files, "
          f"{size / 2**20:,.0f} MiB")

    def plain_read():
        return pa.concat_tables([pq.read_table(chain / f.path, schema=CHAIN_SCHEMA)
                                 for f in manifest.files])

    hash_all, _ = timed(lambda: [store.file_digest(chain / f.path) for f in manifest.files],
                        args.repeat)
    read, table = timed(plain_read, args.repeat)
    checked_read, _ = timed(lambda: store.load_chain(chain), args.repeat)
    line("read the Parquet, unchecked", read)
    line("  blake2b of every file", hash_all, read, "(also added to every write)")
    line("read the Parquet, checked (load_chain)", checked_read, read)
    combined = table.combine_chunks()
    facts, _ = timed(lambda: store.chain_facts(combined), args.repeat)
    bare, _ = timed(lambda: pack.pack_chain(plain_read().combine_chunks()), 1)
    pack_secs, _ = timed(lambda: packcache.pack_chain_dir(chain), 1)
    line("pack, unchecked (read + pack_chain)", bare)
    line("pack, verified (verify_chain + pack_chain)", pack_secs, bare)
    line("  recompute the manifest's facts", facts, bare, "(fingerprint, days, dates...)")
    packed = load_packed(chain)
    npy = sum(getattr(packed, name).nbytes for name in packcache.ARRAY_FIELDS)
    full, _ = timed(lambda: [packcache._file_hash(packcache.packed_cache_dir(manifest)
                                                  / f"{name}.npy")
                             for name in packcache.ARRAY_FIELDS], 1)
    line("  blake2b of every packed array (at pack)", full, bare,
         f"({npy / 2**20:,.0f} MiB)")
    warm, _ = timed(lambda: load_packed(chain), args.repeat * 4)
    target = packcache.packed_cache_dir(manifest)
    mapped, _ = timed(lambda: packcache.read_packed(target, manifest), args.repeat * 4)
    stamps = store.check_chain_files(chain, manifest)
    cheap, _ = timed(lambda: store.check_chain_files(chain, manifest, stamps), args.repeat * 4)
    manifest_read, _ = timed(lambda: store.read_manifest(chain), args.repeat * 4)
    line("warm load (load_packed, from the cache)", warm)
    line("  map and check the packed arrays", mapped, warm)
    line("  check the chain's files, none changed", cheap, warm, "(stats and stamps)")
    line("  read and check manifest.json", manifest_read, warm)
    line("check the chain's files, all changed", hash_all, None, "(a copied or touched chain)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gridbt.data.integrity import check_integrity

        deep, _ = timed(lambda: check_integrity(chain), 1)
    line("data validate --deep (chain and cache)", deep)


if __name__ == "__main__":
    main()
