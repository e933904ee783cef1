"""``manage.py jobs`` and ``manage.py compute_refresh``."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.jobs.factories import bulk_create_jobs
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, Job

pytestmark = pytest.mark.django_db


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def basic(manager: JobManager, user: Any) -> Job:
    job = manager.create_job("nightly import", user, "BASIC")
    job.execute()
    job.set_status("Running")
    return job


def test_list_show_stop_logs(basic: Job, user: Any) -> None:
    listing = run("jobs", "list")
    assert "nightly import" in listing and "Running" in listing and "1 job(s)." in listing
    assert "0 job(s)." in run("jobs", "list", "--status", "COM")
    assert "1 job(s)." in run("jobs", "list", "--active", "--label", "test_app", "--user", "alice")
    shown = json.loads(run("jobs", "show", str(basic.pk), "--json"))
    assert shown["status"] == "Running" and shown["user"] == "alice" and shown["kind"] == "basic"
    assert "nightly import" in run("jobs", "show", str(basic.pk))
    assert "Aborted" in run("jobs", "stop", str(basic.pk))
    assert Job.objects.get(pk=basic.pk).status_code == JobStatus.ABORTED
    logs = run("jobs", "logs", str(basic.pk))
    assert "==> stdout <==" in logs and "==> stderr <==" in logs
    with pytest.raises(CommandError, match="No job 999"):
        run("jobs", "show", "999")


def test_refresh_reports_an_unreachable_scheduler(user: Any) -> None:
    dead = CondorScheduler.objects.create(
        name="dead", host="127.0.0.1", port=9, username="u", password="pw"
    )
    ids = bulk_create_jobs(3, label="x", user=user, cluster_ids=[11, 12, 13], condor=dead)
    started = time.monotonic()
    with pytest.raises(CommandError, match="dead"):
        run("jobs", "refresh", "--timeout", "3")
    assert time.monotonic() - started < 15
    assert set(Job.objects.filter(pk__in=ids).values_list("status_code", flat=True)) == {"SUB"}
    # The reason is said once (in the summary); the error only names the scheduler.
    said = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("jobs", "refresh", "--timeout", "3", stdout=said)
    assert str(failed.value) == "1 scheduler(s) unreachable: dead (see above)."
    assert said.getvalue().count("UNREACHABLE") == 1
    out, err = io.StringIO(), io.StringIO()
    call_command("compute_refresh", "--timeout", "3", stdout=out, stderr=err)
    assert "0 status change(s)" in out.getvalue() and "dead: unreachable" in err.getvalue()


def test_compute_refresh_loop_is_bounded(basic: Job) -> None:
    started = time.monotonic()
    out = run("compute_refresh", "--loop", "--interval", "0.05", "--max-passes", "3")
    assert out.count("status change(s)") == 3
    out = run("compute_refresh", "--loop", "--interval", "0.05", "--max-seconds", "0.3")
    assert 1 <= out.count("status change(s)") <= 10
    assert time.monotonic() - started < 10
    with pytest.raises(CommandError, match="interval"):
        run("compute_refresh", "--interval", "0")


def test_compute_refresh_processes_ready_results(manager: JobManager, user: Any) -> None:
    job = manager.create_job(
        "r", user, "BASIC", process_results_function="tests.jobs.results.mark_processed"
    )
    job.execute()
    job.set_status("Results-Ready")
    assert "Processed the results of 1 job(s)." in run("compute_refresh")
    job.refresh_from_db()
    assert job.status == "Complete" and job.extended_properties["processed"] is True


@pytest.mark.django_db(transaction=True)
def test_compute_refresh_loop_stops_on_sigterm() -> None:
    """The service: a real process, interrupted in its 30 s sleep by SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(root))
    name = str(connection.settings_dict["NAME"])
    env["TETHYS_TEST_SQLITE_FILE" if connection.vendor == "sqlite" else "PGDATABASE"] = name
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "compute_refresh", "--loop", "--interval", "30"],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the first pass printed its summary
        assert "status change(s)" in first
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
