"""What a read of the results can fail with: something not there, or a query that is wrong."""

from __future__ import annotations

__all__ = ["NotFound", "QueryError", "ResultsError", "Unavailable"]


class ResultsError(Exception):
    """Base of the read layer's errors; the message is all a user needs."""


class NotFound(ResultsError):
    """No such sweep, study, backtest, run, trial or trade under the root (HTTP 404)."""


class QueryError(ResultsError):
    """A parameter of a query is invalid: the message names it and says why (HTTP 422)."""


class Unavailable(ResultsError):
    """The data exists but cannot be served now, e.g. a run's chain is gone (HTTP 409)."""
