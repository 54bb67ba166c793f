"""`gridbt serve`: uvicorn serving the results API over a root directory."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from gridbt._typing import PathLike
from gridbt.api.app import create_app
from gridbt.results.catalog import Catalog
from gridbt.results.plots import load_kernels

__all__ = ["serve"]


class _Server(uvicorn.Server):
    """A uvicorn server that says where it listens once it does (the port may be 0)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]):
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in str(host) else host
            self.announce(f"http://{shown}:{port}")


def serve(root: PathLike, *, host: str = "127.0.0.1", port: int = 8765,
          cors: str | None = None, announce: Callable[[str], None] | None = None) -> None:
    """Serve the results under `root` until interrupted; `announce(url)` once listening."""
    catalog = Catalog(root)
    app = create_app(catalog, cors=cors)
    load_kernels()  # before it listens: half a second now, not in the first heatmap
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    _Server(config, announce or (lambda url: None)).run()
