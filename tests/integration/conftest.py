"""Shared fixtures of the integration tests: a local Ray and the small synthetic chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridbt.data.default import ensure_synthetic_chain


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A 2-CPU local Ray for the module (tests that need it say `usefixtures`)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def chain() -> Path:
    return ensure_synthetic_chain(profile="small")[0]


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for the session (`gridbt.testing.postgres`): its base URL,
    `postgresql://gridbt@127.0.0.1:<port>`; `create_database` makes a database on it.
    Skipped only where PostgreSQL's server or psycopg (3) is not installed (`make test` installs
    both)."""
    from gridbt.testing.postgres import PostgresUnavailable, postgres_bin, postgres_server

    try:
        postgres_bin()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e .[test])")
    with postgres_server() as url:
        yield url
