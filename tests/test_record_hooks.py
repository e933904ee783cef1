"""The records' hook registry: filled with the services at app ready, refusing unknown names."""

from __future__ import annotations

import pytest

from tethys_compute.exceptions import ConfigurationError
from tethys_compute.jobs.record_hooks import on_dask_submitted
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.running import watch_task_starts
from tethys_compute.models.hooks import RecordHooks, hooks, register


def test_the_app_fills_the_hooks_with_the_services() -> None:
    assert hooks.refresher is refresh_jobs
    assert hooks.before_dask_submit is watch_task_starts
    assert hooks.on_dask_submitted is on_dask_submitted


def test_an_unregistered_hook_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigurationError, match="INSTALLED_APPS"):
        RecordHooks().refresher([])


def test_an_unknown_hook_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="'refresh' is not a record hook.*refresher"):
        register(refresh=refresh_jobs)
    assert hooks.refresher is refresh_jobs
