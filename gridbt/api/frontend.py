"""The results browser's built assets (`frontend/`, built by `vite build` into `static/`),
served at `/` beside the API: hashed files under `/assets/` (cached for a year: a new build
names new files), any other path that is not an API
route answered with `index.html` (the browser's own routes), or, when the assets were not
built, a page saying how to build them.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSET_CACHE", "BUILD_HINT", "STATIC_DIR", "mount_frontend", "frontend_built"]

#: where `vite build` writes the browser (`frontend/vite.config.ts`); a wheel ships it
STATIC_DIR = Path(__file__).resolve().parent / "static"
BUILD_HINT = ("the results browser is not built: `make install` builds it (or `npm --prefix "
              "frontend ci && npm --prefix frontend run build` in a checkout); the API works "
              "without it")
#: a hashed asset never changes under its name
ASSET_CACHE = "public, max-age=31536000, immutable"
_API_PREFIXES = ("api/", "openapi.json", "docs", "redoc")
_NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridbt results</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>gridbt results</h1>
<p>The results browser is not built. In a checkout of gridbt, run <code>make install</code>
(or <code>npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build</code>), then
reload this page.</p>
<p>The API is served all the same: <a href="/docs">/docs</a> lists every route.</p>
</body></html>
"""


def frontend_built(directory: Path = STATIC_DIR) -> bool:
    """Whether `directory` holds a built browser (its `index.html`)."""
    return (directory / "index.html").is_file()


def mount_frontend(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve the browser in `directory` at `/`; register this after every API route, since
    it answers every other GET."""
    built = frontend_built(directory)
    root = directory.resolve()
    if built and (root / "assets").is_dir():
        app.mount("/assets", _HashedAssets(directory=root / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return _index(root) if built else HTMLResponse(_NOT_BUILT_PAGE, status_code=503)

    @app.get("/{path:path}", include_in_schema=False)
    def client_route(path: str) -> Response:
        if path.startswith(_API_PREFIXES):
            return JSONResponse({"detail": f"/{path}: no such route"}, status_code=404)
        if not built:
            return HTMLResponse(_NOT_BUILT_PAGE, status_code=503)
        candidate = (root / path).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return FileResponse(candidate)
        return _index(root)


class _HashedAssets(StaticFiles):
    """Vite's hashed build files, which the browser may keep without asking again."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = ASSET_CACHE
        return response


def _index(root: Path) -> Response:
    # index.html names the hashed assets of the current build: never cache it
    return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})
