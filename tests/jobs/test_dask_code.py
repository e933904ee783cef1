"""Missing code on the Dask side: which module, which side, how to fix; remote tracebacks.

The scheduler and worker processes really lack the app's folder on their
path (the test process has it); nothing is simulated.
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
import pytest
from django.core.management import call_command
from django.test import Client as WebClient

from tests.jobs.conftest import status_of, wait_for
from tethys_compute import dask_processes
from tethys_compute.dask_client import close_clients
from tethys_compute.dask_code import check_code
from tethys_compute.exceptions import RemoteImportError
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler, Job
from tethys_compute.scheduler_manager import create_dask_scheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]

APP = "hydro_tc14_code"


@pytest.fixture
def app_code(tmp_path: Path) -> Iterator[Path]:
    """The app's code in its own folder, importable here only."""
    folder = tmp_path / "app"
    (folder / APP).mkdir(parents=True)
    (folder / APP / "__init__.py").write_text("")
    (folder / APP / "tasks.py").write_text(
        textwrap.dedent(
            """\
            def double(x):
                return 2 * x


            def check(x):
                if x < 0:
                    raise ValueError(f"x must be >= 0, not {x}")
                return x
            """
        )
    )
    yield folder


@contextmanager
def split_cluster(
    app: Path, name: str, *, scheduler_has: bool, workers_have: bool
) -> Iterator[DaskScheduler]:
    """A scheduler and a worker, each with or without the app's folder on its path.

    The test process imports the app meanwhile; the record ``name`` points at
    the scheduler.  Everything is stopped and removed afterwards.
    """
    base = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p) and p != str(app))
    with_app = f"{base}{os.pathsep}{app}"
    scheduler = dask_processes.start_scheduler(
        dashboard=False, env={"PYTHONPATH": with_app if scheduler_has else base}
    )
    worker = dask_processes.start_worker(
        scheduler.address, env={"PYTHONPATH": with_app if workers_have else base}
    )
    sys.path.insert(0, str(app))
    try:
        record = create_dask_scheduler(name, scheduler.address, timeout=5)
        yield record
        Job.objects.filter(scheduler=record).delete()
        record.delete()
    finally:
        sys.path.remove(str(app))
        close_clients(scheduler.address)
        worker.stop()
        scheduler.stop()


@pytest.fixture
def importable(app_code: Path) -> Iterator[Path]:
    sys.path.insert(0, str(app_code))
    yield app_code
    sys.path.remove(str(app_code))
    for name in [m for m in sys.modules if m == APP or m.startswith(f"{APP}.")]:
        del sys.modules[name]


@pytest.mark.parametrize("scheduler_has", [False, True], ids=["scheduler", "workers"])
def test_missing_module_names_the_module_the_side_and_the_fix(
    scheduler_has: bool, app_code: Path, manager: JobManager, user: Any
) -> None:
    split = split_cluster(app_code, "Split", scheduler_has=scheduler_has, workers_have=False)
    with split as record:
        job = manager.create_job(
            "double", user, "DASK", scheduler=record, function=f"{APP}.tasks.double", args=[2]
        )
        with pytest.raises(RemoteImportError) as refused:
            job.execute()
        text = str(refused.value)
        assert f"cannot import '{APP}.tasks' (ModuleNotFoundError: No module named '{APP}'" in text
        if scheduler_has:
            assert "1 of 1 Dask worker(s) of 'Split'" in text and "; tcp://127.0.0.1:" in text
        else:
            assert "The Dask scheduler 'Split' cannot import" in text
            assert "the scheduler unpickles the task graph itself" in text.lower()
        assert f"Install the app's package ('{APP}')" in text and "PYTHONPATH" in text
        assert status_of(job) == JobStatus.ERROR
        assert "Submission failed: " in Job.objects.get(pk=job.pk).status_message
        # The worker did not die on an undeserializable task: it still answers.
        assert record.client.submit(sum, [1, 2]).result(timeout=10) == 3


def test_a_batch_the_workers_cannot_import_is_refused_before_anything_is_sent(
    app_code: Path, manager: JobManager, user: Any
) -> None:
    with split_cluster(app_code, "Split", scheduler_has=True, workers_have=False) as record:
        jobs = manager.create_jobs(
            "double_{id}",
            user,
            "DASK",
            scheduler=record,
            function=f"{APP}.tasks.double",
            parameters=[{"args": [i]} for i in range(5)],
        )
        with pytest.raises(RemoteImportError) as refused:
            manager.execute_all(jobs)
        text = str(refused.value)
        assert "1 of 1 Dask worker(s) of 'Split'" in text and f"cannot import '{APP}.tasks'" in text
        assert f"Install the app's package ('{APP}')" in text
        rows = Job.objects.filter(pk__in=[j.pk for j in jobs])
        assert set(rows.values_list("status_code", flat=True)) == {JobStatus.ERROR}
        assert all(
            m.startswith("Submission failed: ")
            for m in rows.values_list("status_message", flat=True)
        )
        # Nothing was sent: the worker holds no task of the batch.
        assert not record.client.run_on_scheduler(
            lambda dask_scheduler: [k for k in dask_scheduler.tasks if "tethys-job-" in str(k)]
        )


def test_a_module_that_raises_on_import_is_not_called_missing(
    app_code: Path, manager: JobManager, user: Any
) -> None:
    (app_code / APP / "needs_django.py").write_text(
        'raise RuntimeError("Apps aren\'t loaded yet.")\n\n\ndef run(x):\n    return x\n'
    )
    with split_cluster(app_code, "Split", scheduler_has=True, workers_have=True) as record:
        with pytest.raises(RemoteImportError) as refused:
            check_code(record.client, [f"{APP}.needs_django"], label="Split", timeout=10)
        text = str(refused.value)
        assert "RuntimeError: Apps aren't loaded yet." in text
        assert "was found there but raised while being imported" in text
        assert "PYTHONPATH" not in text


def test_a_function_added_after_the_cluster_imported_its_module_is_a_stale_copy(
    app_code: Path, manager: JobManager, user: Any
) -> None:
    import importlib

    with split_cluster(app_code, "Split", scheduler_has=True, workers_have=True) as record:
        # The scheduler and the worker import the module as it is now.
        check_code(record.client, [f"{APP}.tasks"], label="Split", timeout=10)
        tasks = app_code / APP / "tasks.py"
        tasks.write_text(tasks.read_text() + "\n\ndef triple(x):\n    return 3 * x\n")
        # The portal has it (a copy an earlier test imported from its own folder is dropped).
        for name in [m for m in sys.modules if m == APP or m.startswith(f"{APP}.")]:
            del sys.modules[name]
        assert hasattr(importlib.import_module(f"{APP}.tasks"), "triple")
        job = manager.create_job(
            "triple", user, "DASK", scheduler=record, function=f"{APP}.tasks.triple", args=[2]
        )
        with pytest.raises(RemoteImportError) as refused:
            job.execute()
        text = str(refused.value)
        assert f"cannot import '{APP}.tasks.triple'" in text
        assert f"module '{APP}.tasks' has no attribute 'triple'" in text
        assert "imported before the function was added" in text and "upload_code()" in text
        assert "PYTHONPATH" not in text
        assert status_of(job) == JobStatus.ERROR


@pytest.mark.parametrize("scheduler_has", [False, True], ids=["scheduler", "workers"])
def test_delayed_work_the_cluster_cannot_import_is_refused_naming_the_side(
    scheduler_has: bool, app_code: Path, manager: JobManager, user: Any
) -> None:
    split = split_cluster(app_code, "Split", scheduler_has=scheduler_has, workers_have=False)
    with split as record:
        from hydro_tc14_code.tasks import double  # type: ignore[import-not-found]

        job = manager.create_job("delayed", user, "DASK", scheduler=record)
        # Without the check, a worker that cannot load the task drops its connection
        # and the job waits forever.
        with pytest.raises(RemoteImportError) as refused:
            job.execute(dask.delayed(double)(dask.delayed(abs)(-4)))
        text = str(refused.value)
        side = "1 of 1 Dask worker(s) of 'Split'" if scheduler_has else "Dask scheduler 'Split'"
        assert side in text and f"cannot import '{APP}.tasks'" in text
        assert status_of(job) == JobStatus.ERROR


def test_a_future_the_scheduler_cannot_load_is_explained(
    app_code: Path, manager: JobManager, user: Any
) -> None:
    with split_cluster(app_code, "Split", scheduler_has=False, workers_have=True) as record:
        from hydro_tc14_code.tasks import double

        job = manager.create_job("future", user, "DASK", scheduler=record)
        job.execute(record.client.submit(double, 4, pure=False))
        wait_for(lambda: status_of(job) == JobStatus.ERROR, what="Error")
        message = Job.objects.get(pk=job.pk).status_message
        assert message.startswith("The Dask scheduler could not load the task")
        assert "Error during deserialization of the task graph" in message
        assert "the scheduler and the workers" in message


def test_a_failing_function_shows_its_remote_traceback_in_logs_cli_and_admin(
    importable: Path, manager: JobManager, user: Any, admin_client: WebClient, tmp_path: Path
) -> None:
    cluster = dask_processes.LocalDaskCluster(n_workers=1, dashboard=False)  # has the app
    cluster.start()
    try:
        record = create_dask_scheduler("Tb", cluster.address, timeout=5)
        job = manager.create_job(
            "check", user, "DASK", scheduler=record, function=f"{APP}.tasks.check", args=[-1]
        )
        assert isinstance(job, DaskJob)
        job.execute()
        wait_for(lambda: status_of(job) == JobStatus.ERROR, what="Error")
        stderr = job.get_logs()["stderr"]
        assert "Traceback (on the Dask worker):" in stderr
        assert f"{APP}/tasks.py" in stderr and 'raise ValueError(f"x must be >= 0' in stderr
        assert stderr.endswith("ValueError: x must be >= 0, not -1")
        out = io.StringIO()
        call_command("jobs", "logs", str(job.pk), stdout=out)
        assert "Traceback (on the Dask worker):" in out.getvalue()
        page = admin_client.get(f"/admin/tethys_compute/job/{job.pk}/change/").content.decode()
        assert "Traceback (on the Dask worker):" in page and "tasks.py" in page
        Job.objects.filter(pk=job.pk).delete()
        record.delete()
    finally:
        close_clients(cluster.address)
        cluster.stop()


def test_upload_code_ships_the_apps_package_to_scheduler_and_workers(
    app_code: Path, manager: JobManager, user: Any
) -> None:
    with split_cluster(app_code, "Bare", scheduler_has=False, workers_have=False) as record:
        assert manager.upload_code(app_code / APP, record) == f"{APP}.zip"
        job = manager.create_job(
            "double", user, "DASK", scheduler=record, function=f"{APP}.tasks.double", args=[21]
        )
        assert isinstance(job, DaskJob)
        job.execute()
        assert job.fetch_result(timeout=20) == 42
