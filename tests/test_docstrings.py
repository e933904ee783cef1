"""The Examples sections of the public facade run as written."""

from __future__ import annotations

import doctest

import pytest

import tethys_compute.condor.cleanup
import tethys_compute.condor.control
import tethys_compute.condor.environment
import tethys_compute.crypto
import tethys_compute.scheduler_manager


@pytest.mark.django_db
@pytest.mark.parametrize(
    "module",
    [
        tethys_compute.scheduler_manager,
        tethys_compute.crypto,
        tethys_compute.condor.control,
        tethys_compute.condor.cleanup,
        tethys_compute.condor.environment,
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0
    assert result.failed == 0
