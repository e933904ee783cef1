"""Messages on the failure paths say what really happened (#14 item 7)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from tests.clusters.test_manager import local_config
from tests.fixtures.sshd import SSHD
from tests.jobs.conftest import wait_for
from tethys_compute.clusters import exceptions, service
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import CondorScheduler, DaskScheduler, Job, Scheduler

pytestmark = [pytest.mark.django_db(transaction=True)]

LIST_URL = "/admin/tethys_compute/job/"


def test_cluster_refusals_have_no_doubled_punctuation(tmp_path: Path) -> None:
    config = local_config(tmp_path, size=1)
    ClusterRecord.objects.create(
        name="idle",
        template="dev",
        config_path=str(config),
        provider="LOC",
        size=1,
        status="STP",
        status_message="stopped by the admin.",
    )
    with pytest.raises(exceptions.InvalidOperation) as refused:
        service.resize_cluster("idle", 2)
    text = str(refused.value)
    assert "is stopped: stopped by the admin; this operation is not possible now." in text
    assert ".;" not in text


def test_schedulers_import_and_create_say_created_once_and_only_when_committed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tethys_compute")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"name": "Fine", "type": "dask", "host": "127.0.0.1:8786"},
                {"name": "Broken", "type": "dask", "host": "not a host:port"},
            ]
        )
    )
    with pytest.raises(Exception, match="nothing was imported"):
        call_command("schedulers", "import", str(bad), stdout=io.StringIO())
    assert not Scheduler.objects.exists()
    assert "Created" not in caplog.text  # nothing was: the transaction was rolled back

    out = io.StringIO()
    call_command("schedulers", "create-dask", "One", "127.0.0.1:8786", stdout=out)
    assert out.getvalue().splitlines() == ["Dask scheduler 'One' at 127.0.0.1:8786 is created."]
    assert "Created" not in caplog.text  # the command's own line says it, once
    # Through the API (no command around it), it is logged once committed.
    from tethys_compute.scheduler_manager import create_dask_scheduler

    create_dask_scheduler("Two", "127.0.0.1:8787")
    assert "Created dask scheduler 'Two'" in caplog.text


def test_job_list_capitalises_kinds_and_colours_statuses_and_the_page_shows_arguments(
    admin_client: Client, tmp_path: Path, user: Any
) -> None:
    manager = JobManager("app", tmp_path)
    basic = manager.create_job("b", user, "BASIC")
    basic.execute()
    basic.set_status("Running")
    dask = DaskScheduler.objects.create(name="never-contacted", host="127.0.0.1:8786")
    job = manager.create_job(
        "d", user, "DASK", scheduler=dask, function="operator.add", args=[1, 2], kwargs={"x": 3}
    )
    html = admin_client.get(LIST_URL).content.decode()
    assert ">Basic job<" in html and ">Dask job<" in html
    assert 'class="job-status" data-status="RUN" style="color: #2e8540">Running<' in html
    assert 'data-status="PEN" style="color: #5b616b">Pending<' in html
    page = admin_client.get(f"{LIST_URL}{job.pk}/change/").content.decode()
    assert "<li>arguments: [1, 2]</li>" in page
    assert "<li>keyword arguments: {&quot;x&quot;: 3}</li>" in page


@pytest.mark.sshd
def test_fetch_logs_on_an_unreachable_scheduler_says_so_and_stores_nothing(
    admin_client: Client,
    manager: JobManager,
    user: Any,
    condor_scheduler: CondorScheduler,
    condor_server: SSHD,
) -> None:
    job = manager.create_job(
        "echo",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/echo", "arguments": ["hi"], "output": "o"},
    )
    job.execute()
    wait_for(lambda: refresh_jobs() and Job.objects.get(pk=job.pk).is_finished, step=0.2)
    condor_server.stop()
    try:
        page = admin_client.post(f"{LIST_URL}{job.pk}/run/fetch-logs/", follow=True)
    finally:
        condor_server.start()
    text = page.content.decode()
    assert "Logs not fetched: the scheduler &#x27;condor&#x27; could not be reached" in text
    assert "Logs fetched" not in text
    assert Job.objects.get(pk=job.pk).logs is None  # nothing stored: fetch again later
    # Back up: the logs come.
    admin_client.post(f"{LIST_URL}{job.pk}/run/fetch-logs/")
    assert "hi" in (Job.objects.get(pk=job.pk).logs or {}).get("stdout", "")
