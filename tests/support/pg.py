"""PostgreSQL fixtures: one private cluster per test session (scanner.devnet.localpg.LocalPostgres).

* ``postgres_server``: the running cluster (session); skips with the reason when PostgreSQL is not
  installed (fails under CI, where scripts/postgres-tools.sh should have installed it).
* ``postgres_dsn``: DSN of the session's shared database ``porscan``.
* ``postgres_db``: DSN of a new, empty database for one test.
"""

from __future__ import annotations

import itertools
import os

import pytest

from scanner.devnet.localpg import LocalPostgres, PostgresUnavailable

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = LocalPostgres.start()
    except (PostgresUnavailable, RuntimeError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL cluster could not start: {exc}")
        pytest.skip(f"PostgreSQL cluster could not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server) -> str:
    return postgres_server.dsn


@pytest.fixture
def postgres_db(postgres_server) -> str:
    return postgres_server.create_database(f"test_{os.getpid()}_{next(_names)}")
