"""Summary facts about a stored chain: what `gridbt data info` prints."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from gridbt._typing import PathLike
from gridbt.data.store import verify_chain

__all__ = ["chain_info"]


def chain_info(chain_dir: PathLike) -> dict[str, object]:
    """Return days, rows, expiries per day, date range, underlyings and fingerprint, of a chain
    verified against its manifest (`store.verify_chain`: every file and every fact)."""
    loaded = verify_chain(chain_dir)
    manifest, table = loaded.manifest, loaded.table
    date = table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
    expiry = table.column("expiry").to_numpy().astype("datetime64[D]").astype(np.int64)
    pairs = np.unique(np.stack([date, expiry]), axis=1)
    _, per_day = np.unique(pairs[0], return_counts=True)
    rows_per_day = np.unique(date, return_counts=True)[1]
    return {
        "rows": manifest.rows,
        "days": manifest.days,
        "first_date": manifest.first_date,
        "last_date": manifest.last_date,
        "underlyings": ", ".join(manifest.underlyings),
        "expiries_per_day": (
            f"min {per_day.min()}, median {int(np.median(per_day))}, max {per_day.max()}"
            if len(per_day)
            else "-"
        ),
        "quotes_per_day": (
            f"min {rows_per_day.min()}, median {int(np.median(rows_per_day))}, "
            f"max {rows_per_day.max()}"
            if len(rows_per_day)
            else "-"
        ),
        "strikes": int(len(pc.unique(table.column("strike")))),
        "schema_version": manifest.schema_version,
        "fingerprint": manifest.fingerprint,
    }
