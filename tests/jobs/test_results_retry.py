"""A results callback that fails keeps the computed job Results-Ready, and is tried again.

The refresher really runs without the app's code (``compute_refresh`` in a
process whose path lacks the app's folder), then with it.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as WebClient
from django.test import override_settings
from django.utils import timezone

from tests.clusters.test_operations import ROOT, command_env
from tests.jobs.conftest import status_of, wait_for
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import process_ready_results
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]

CALLBACK = "hydro_tc14.results.load"


def app_folder(tmp_path: Path) -> Path:
    """An app's code in its own folder (not importable by the test process)."""
    package = tmp_path / "apps" / "hydro_tc14"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "results.py").write_text(
        textwrap.dedent(
            """\
            def load(value):
                # A Dask job's results callback gets the task's value (as in
                # Tethys Platform); what it returns is stored as job.result.
                return {"loaded": value}
            """
        )
    )
    return package.parent


def refresher(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = command_env()
    env["PYTHONPATH"] = ":".join([str(ROOT), *map(str, paths)])
    return subprocess.run(
        [sys.executable, "-m", "django", "compute_refresh"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def computed_job(manager: JobManager, user: Any, scheduler: DaskScheduler) -> DaskJob:
    job = manager.create_job(
        "neg",
        user,
        "DASK",
        scheduler=scheduler,
        function="operator.neg",
        args=[5],
        process_results_function=CALLBACK,
    )
    assert isinstance(job, DaskJob)
    job.execute()
    # The done callback tries the results callback once, in this process, which
    # cannot import the app's code either: the first failed attempt.
    wait_for(
        lambda: Job.objects.filter(
            pk=job.pk, status_code=JobStatus.RESULTS_READY, results_attempts__gte=1
        ).exists(),
        what="Results-Ready after a failed attempt",
    )
    return job


def test_refresher_without_the_apps_code_keeps_the_job_and_retries_after_a_back_off(
    tmp_path: Path, manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    apps = app_folder(tmp_path)
    job = computed_job(manager, user, dask_scheduler)

    # Due again: the refresher, without the app's code, fails too (attempt 2).
    Job.objects.filter(pk=job.pk).update(results_retry_at=timezone.now() - timedelta(seconds=1))
    first = refresher()
    assert first.returncode == 0, first.stderr
    job.refresh_from_db()
    assert job.status == "Results-Ready" and job.results_attempts == 2
    text = job.status_message
    assert "No module named 'hydro_tc14'" in text and "(attempt 2 of 5)" in text
    assert "cannot import 'hydro_tc14'" in text and "PYTHONPATH" in text
    assert job.results_retry_at is not None and job.results_retry_at > timezone.now()
    # The computed result is still held on the scheduler.
    assert job.key in dask_scheduler.client.list_datasets()

    # Listed as waiting, with the active jobs.
    out = io.StringIO()
    call_command("jobs", "list", "--active", stdout=out)
    assert f"{job.pk:>6}  Results-Ready, waiting" in out.getvalue()

    # Not before its back-off...
    assert refresher(apps).returncode == 0
    job.refresh_from_db()
    assert job.status == "Results-Ready" and job.results_attempts == 2
    # ... then, with the app's code importable, it is processed.
    Job.objects.filter(pk=job.pk).update(results_retry_at=timezone.now() - timedelta(seconds=1))
    assert refresher(apps).returncode == 0
    job.refresh_from_db()
    assert job.status == "Complete" and job.result == {"loaded": -5}


@override_settings(TETHYS_COMPUTE={"RESULTS_MAX_ATTEMPTS": 2, "RESULTS_RETRY_DELAY": 0})
def test_retries_are_bounded_and_jobs_refresh_runs_a_callback_on_request(
    tmp_path: Path,
    manager: JobManager,
    user: Any,
    dask_scheduler: DaskScheduler,
    admin_client: WebClient,
) -> None:
    job = computed_job(manager, user, dask_scheduler)  # attempt 1: the done callback
    assert process_ready_results() == 1  # attempt 2
    assert process_ready_results() == 0  # gave up after 2 attempts
    job.refresh_from_db()
    assert job.status == "Results-Ready" and job.results_attempts == 2
    assert "(attempt 2 of 2)" in job.status_message and "gives up" in job.status_message
    assert "`manage.py jobs refresh ID`" in job.status_message
    # The admin's state filter shows it as waiting.
    page = admin_client.get("/admin/tethys_compute/job/?state=waiting")
    assert job.name in page.content.decode()
    assert "Waiting for results" in page.content.decode()

    # On request, whatever the attempts: with the app importable now, it completes.
    sys.path.insert(0, str(app_folder(tmp_path)))
    try:
        out = io.StringIO()
        call_command("jobs", "refresh", str(job.pk), stdout=out)
    finally:
        sys.path.remove(str(tmp_path / "apps"))
        sys.modules.pop("hydro_tc14.results", None)
        sys.modules.pop("hydro_tc14", None)
    assert "Ran the results callbacks of 1 job(s)." in out.getvalue()
    assert status_of(job) == JobStatus.COMPLETE


def _results_ready_dask_job(manager: JobManager, user: Any, scheduler: DaskScheduler) -> DaskJob:
    job = manager.create_job(
        "waiting", user, "DASK", scheduler=scheduler, function="operator.neg", args=[1]
    )
    assert isinstance(job, DaskJob)
    Job.objects.filter(pk=job.pk).update(status_code=JobStatus.RESULTS_READY)
    DaskJob.objects.filter(pk=job.pk).update(key=f"tethys-job-{job.pk}-gone")
    return job


def test_results_of_an_unreachable_scheduler_count_as_failed_attempts(
    manager: JobManager, user: Any
) -> None:
    # Nothing listens on port 9 of this machine: the scheduler is gone.
    down = DaskScheduler.objects.create(name="down", host="tcp://127.0.0.1:9", timeout=2)
    job = _results_ready_dask_job(manager, user, down)
    assert process_ready_results() == 1
    job.refresh_from_db()
    assert job.status == "Results-Ready" and job.results_attempts == 1
    assert "could not be reached" in job.status_message and "attempt 1 of" in job.status_message
    assert job.results_retry_at is not None  # bounded, with back-off: not every pass


def test_results_of_a_job_whose_scheduler_was_removed_end_in_error_saying_so(
    manager: JobManager, user: Any
) -> None:
    down = DaskScheduler.objects.create(name="removed", host="tcp://127.0.0.1:9", timeout=2)
    job = _results_ready_dask_job(manager, user, down)
    Job.objects.filter(pk=job.pk).update(scheduler=None, scheduler_name="removed")
    assert process_ready_results() == 1
    job.refresh_from_db()
    assert job.status == "Error"
    assert "scheduler 'removed' was removed" in job.status_message
