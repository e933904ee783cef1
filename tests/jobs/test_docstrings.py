"""The Examples sections of the jobs modules run as written."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import tethys_compute.admin.jobs
import tethys_compute.jobs.batch_sql
import tethys_compute.jobs.manager
import tethys_compute.jobs.refresh_dask
import tethys_compute.jobs.status
import tethys_compute.status
import tethys_sdk.jobs

MODULES = [
    tethys_sdk.jobs,
    tethys_compute.jobs.status,
    tethys_compute.status,
    tethys_compute.jobs.refresh_dask,
    tethys_compute.jobs.batch_sql,
    tethys_compute.jobs.manager,
    tethys_compute.admin.jobs,
]


@pytest.mark.django_db
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0
    assert result.failed == 0
