"""gridbt: options strategy backtests on end-of-day chains, swept at scale on Ray."""

__version__ = "0.1.0"
__all__ = ["__version__"]
