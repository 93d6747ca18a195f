"""Fixtures of the cloud tests: the real receiver factory shared with the sync tests, and a
real PostgreSQL server (one per session, an empty database per test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.cloud.postgres import PostgresError, PostgresServer
from tests.sync.conftest import make_receiver

__all__ = ["make_receiver", "pg_url", "postgres"]

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """Start one PostgreSQL server for the session (initdb in a temp dir); stopped afterwards."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresError as exc:
        server.close()
        pytest.fail(str(exc))
    yield server
    server.close()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """Return the URL (password included) of a new, empty database on the session's server."""
    return postgres.create_database(f"test_{next(_databases)}")
