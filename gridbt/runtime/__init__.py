"""The one runtime of sweeps and studies: Ray bootstrap, the backtest actors over a shared chain,
and the scheduler that feeds them (retries, timeouts, one failure rule)."""

from gridbt.runtime.actor import BATCH_ENGINES, BacktestActor, BatchResult
from gridbt.runtime.cluster import ClusterError, cluster_cpus, init_ray
from gridbt.runtime.config import RayConfig
from gridbt.runtime.metrics import JobMetrics
from gridbt.runtime.pool import ActorPool
from gridbt.runtime.progress import progress_bar
from gridbt.runtime.scheduler import Failure, Scheduler, Task, TaskSource
from gridbt.runtime.wire import WireRows, from_wire, to_wire

__all__ = [
    "BATCH_ENGINES",
    "ActorPool",
    "BacktestActor",
    "BatchResult",
    "ClusterError",
    "Failure",
    "JobMetrics",
    "RayConfig",
    "Scheduler",
    "Task",
    "TaskSource",
    "WireRows",
    "cluster_cpus",
    "from_wire",
    "init_ray",
    "progress_bar",
    "to_wire",
]
