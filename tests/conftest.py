"""Shared pytest configuration of the tethys-compute suite.

Fixtures that start real components live in ``tests/fixtures/`` and are
registered here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins: list[str] = [
    "tests.fixtures.sshd",
    "tests.fixtures.dask",
    "tests.fixtures.browser",
    "tests.fixtures.moto",
]


@pytest.fixture(scope="session", autouse=True)
def _end_other_database_sessions(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Let the test database be dropped at the end of a PostgreSQL run.

    Worker threads (the live server's, thread pools that record job pushes or
    health results) each keep their own database connection, as Django does
    in any threaded server; PostgreSQL refuses to drop a database that still
    has sessions.  Those sessions are ended here, after the last test.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
