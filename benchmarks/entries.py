"""`gridbt entries` throughput on the default chain: candidates found and walked per second.

For each entries file (default: the ones in `jobs/entries/`), the candidate kernels run
`--repeat` times after a warm-up (which also compiles or loads them); printed per file: the
candidates, the exit rules, the candidate-days walked (entry to the last rule's exit), and
the median wall-clock and CPU seconds of finding and walking them, with candidates per CPU
second. On a shared machine the CPU time is the figure to compare; the wall clock shows the
load. docs/entries.md (Speed) quotes these numbers.

Usage: python benchmarks/entries.py [FILE ...] [--repeat 3] [--threads 1] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from gridbt.data.default import ensure_synthetic_chain, load_packed
from gridbt.entries.engine import find_candidates
from gridbt.entries.spec import load_entries

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path,
                        default=sorted((REPO / "jobs" / "entries").glob("*.yaml")))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=None, help="chain directory (default: the default "
                        "chain, whatever the files say)")
    args = parser.parse_args()
    chain = args.data if args.data is not None else ensure_synthetic_chain()[0]
    packed = load_packed(chain)
    print(f"chain {chain}: {packed.n_days:,} days, {packed.n_quotes:,} quotes")
    for file in args.files:
        spec, strategy = load_entries(file)
        rules = list(spec.exits) if spec.exits is not None else [strategy.exit]
        found = find_candidates(packed, strategy, rules)  # warm-up: compile or load
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            find_candidates(packed, strategy, rules, threads=args.threads)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        days = int((found.exit_day.max(axis=0) - found.day).sum()) if found.count else 0
        cpu = statistics.median(cpus)
        print(f"{file.name}: {found.count:,} candidates x {len(rules)} rules, {days:,} "
              f"candidate-days; {statistics.median(walls):.2f} s wall, {cpu:.2f} s CPU "
              f"({found.count / cpu:,.0f} candidates per CPU second)")


if __name__ == "__main__":
    main()
