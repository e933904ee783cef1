"""Fixtures of the Tethys compatibility tests: a stand-in app, users, the real schedulers.

The Condor scheduler is the jobs tests' loopback sshd running the HTCondor
stand-in; the Dask scheduler is the session's real dask processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import (  # noqa: F401 - fixtures shared with the jobs tests
    condor_scheduler,
    condor_server,
    condor_sshd,
    dask_scheduler,
    other_user,
    user,
)
from tethys_compute.job_manager import JobManager
from tethys_compute.models.job import Job


class StandInApp:
    """What a Tethys app class offers the jobs API: ``package``, ``name``, a workspace.

    ``get_job_manager`` and ``get_scheduler`` are the app class methods the
    Tethys docs' examples call.
    """

    package = "dask_tutorial"
    name = "Dask Tutorial"

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_app_workspace(self) -> Any:
        return type("Workspace", (), {"path": str(self.root)})()

    def get_job_manager(self) -> JobManager:
        return JobManager(self)

    #: The app's scheduler settings, as a portal administrator assigned them.
    scheduler_settings = {"dask_primary": "Default", "condor_primary": "condor"}

    def get_scheduler(self, name: str) -> Any:
        from tethys_sdk.compute import get_scheduler

        return get_scheduler(self.scheduler_settings[name])


@pytest.fixture
def app(tmp_path: Path) -> StandInApp:
    return StandInApp(tmp_path / "app_workspace")


@pytest.fixture
def job_manager(app: StandInApp) -> JobManager:
    return app.get_job_manager()


@pytest.fixture
def tethys_status_lists() -> Any:
    """Restore Tethys' class status lists after a test that adds custom statuses."""
    names = (
        "PRE_RUNNING_STATUSES",
        "RUNNING_STATUSES",
        "ACTIVE_STATUSES",
        "NON_TERMINAL_STATUSES",
        "TERMINAL_STATUSES",
    )
    saved = {name: list(getattr(Job, name)) for name in names}
    yield
    for name, values in saved.items():
        getattr(Job, name)[:] = values
