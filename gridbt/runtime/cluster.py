"""The one Ray bootstrap of sweeps and studies, and what the cluster offers."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["ClusterError", "cluster_cpus", "init_ray", "progress_bar"]


class ClusterError(Exception):
    """The actors cannot run (none starts, or every one is gone); the message says why."""


def init_ray(address: str | None) -> None:
    """Connect to the Ray at `address`, or start a local one (None); a no-op when connected."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
             logging_level=logging.WARNING)


def cluster_cpus() -> int:
    """CPUs in the connected Ray cluster (at least 1)."""
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


def progress_bar(total: int, enabled: bool, unit: str = "combo") -> Any:
    """A tqdm bar on stderr, or None when disabled or there is nothing to do."""
    if not enabled or total <= 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, mininterval=0.5, smoothing=0.1,
                dynamic_ncols=True)
