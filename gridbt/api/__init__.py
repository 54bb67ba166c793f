"""The results API: a FastAPI app over `gridbt.results` (`gridbt serve`).

Public modules: `app` (`create_app`: every route), `server` (`serve`: uvicorn on a root),
`openapi` (the committed OpenAPI document, `schemas/openapi.json`).
"""

__all__ = ["app", "openapi", "server"]
