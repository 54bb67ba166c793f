"""How a sweep or a study runs on Ray: the `ray:` section of their job files."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RayConfig"]


class RayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(None, description="Ray address; null = start a local Ray")
    actors: int | None = Field(None, ge=1, description="null = one per CPU in the cluster")
    batch_seconds: float = Field(0.3, gt=0, description="target wall time of one batch")
    max_in_flight: int = Field(2, ge=1, description="batches queued per actor (backpressure)")
    max_attempts: int = Field(3, ge=1, description="tries per batch before it is recorded failed")
    batch_timeout: float = Field(
        300.0, gt=0, description="seconds before a batch is presumed lost and sent elsewhere"
    )
    restart_timeout: float = Field(
        120.0, gt=0, description="seconds a lost actor may take to come back (Ray restarts it) "
        "before a new one is started in its place; when no actor answers and the new ones have "
        "been silent as long too, the run stops (exit 3)"
    )
    dashboard: bool = Field(
        False, description="start Ray's dashboard with a local Ray (~0.5 s more to start)"
    )
