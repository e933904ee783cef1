"""Shared pytest configuration of the tethys-compute suite.

Fixtures that start real components live in ``tests/fixtures/`` and are
registered here.
"""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures.sshd",
    "tests.fixtures.dask",
    "tests.fixtures.browser",
    "tests.fixtures.moto",
]
