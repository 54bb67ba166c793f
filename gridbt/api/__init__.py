"""The results API: a FastAPI app over `gridbt.results` (`gridbt serve`).

Public modules: `app` (`create_app`: every route), `server` (`serve`: uvicorn on a root),
`openapi` (the committed OpenAPI document, `schemas/openapi.json`), `frontend` (the results
browser's built assets, served at `/`).
"""

__all__ = ["app", "frontend", "openapi", "server"]
