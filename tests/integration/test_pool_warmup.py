"""How a pool's actors warm up on a node (`BacktestActor._attach`): while no warm-up of their
kind has finished with the node's kernel cache they take the compile lock in turn, so one
compiles and the others load its machine code; once one has, they warm up side by side, and a
lock held by another job does not hold them up. Real Ray actors, the real lock file."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pytest

from gridbt.data.default import load_packed
from gridbt.kernel.cache import cache_dir
from gridbt.runtime import ActorPool, RayConfig
from gridbt.strategy.encode import STANDARD_FEATURES, encode_spec
from gridbt.strategy.presets import PRESETS

pytestmark = pytest.mark.usefixtures("local_ray")


def _pool(chain: Path) -> ActorPool:
    packed = load_packed(chain)
    row = encode_spec(PRESETS["short_put"](), STANDARD_FEATURES)
    return ActorPool(packed, row[None, :], 4, RayConfig(batch_timeout=60), 2)


def test_actors_wait_for_the_compile_lock_until_their_kernels_are_known_cached(
    chain: Path,
) -> None:
    warm = cache_dir() / ".warm-day"
    _pool(chain).close()  # a warm-up of this kind has run: the kernels are in the cache
    assert warm.exists()
    with open(cache_dir() / ".compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another job compiling on this node holds it
        pool = _pool(chain)  # would wait for the lock, and time out, if the actors took it
        pool.close()

        warm.unlink()  # a new cache's first warm-up: one actor at a time, the lock first
        made: list[ActorPool] = []
        starting = threading.Thread(target=lambda: made.append(_pool(chain)), daemon=True)
        starting.start()
        starting.join(timeout=8.0)
        assert starting.is_alive() and not made  # waiting for the lock
        fcntl.flock(lock, fcntl.LOCK_UN)
        starting.join(timeout=120.0)
    assert made and not starting.is_alive()
    made[0].close()
    assert warm.exists()  # and the next pool's actors need not wait
