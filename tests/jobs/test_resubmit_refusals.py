"""Resubmit only where it can work, and only after the admin confirmed.

A Dask job run from a ``dask.delayed`` object has no stored function: its
resubmit used to destroy the published result and end in Error.
"""

from __future__ import annotations

import operator
from typing import Any

import dask
import pytest
from django.test import Client

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import InvalidStatusTransition
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]

LIST_URL = "/admin/tethys_compute/job/"


def from_delayed(manager: JobManager, user: Any, scheduler: DaskScheduler) -> DaskJob:
    job = manager.create_job("delayed", user, "DASK", scheduler=scheduler)
    assert isinstance(job, DaskJob)
    job.execute(dask.delayed(operator.mul)(6, 7))
    assert job.fetch_result(timeout=20) == 42
    return job


def from_function(manager: JobManager, user: Any, scheduler: DaskScheduler) -> DaskJob:
    job = manager.create_job(
        "stored", user, "DASK", scheduler=scheduler, function="operator.add", args=[1, 2]
    )
    assert isinstance(job, DaskJob)
    job.execute()
    assert job.fetch_result(timeout=20) == 3
    return job


def test_resubmit_of_a_job_run_from_a_delayed_object_is_refused_and_keeps_its_result(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = from_delayed(manager, user, dask_scheduler)
    with pytest.raises(InvalidStatusTransition) as refused:
        job.resubmit()
    assert "run from a dask.delayed object or a future" in str(refused.value)
    assert "job.resubmit(work)" in str(refused.value)
    assert status_of(job) == JobStatus.COMPLETE
    assert job.fetch_result(timeout=10) == 42  # nothing was deleted
    # Given the work again, it runs again.
    job.resubmit(dask.delayed(operator.mul)(2, 5))
    assert job.fetch_result(timeout=20) == 10


def test_admin_offers_resubmit_only_where_it_works_and_asks_first(
    admin_client: Client, manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    delayed = from_delayed(manager, user, dask_scheduler)
    stored = from_function(manager, user, dask_scheduler)
    page = admin_client.get(f"{LIST_URL}{delayed.pk}/change/").content.decode()
    assert ">Resubmit</button>" not in page
    assert (
        ">Resubmit</button>" in admin_client.get(f"{LIST_URL}{stored.pk}/change/").content.decode()
    )

    # The job page's button asks first; nothing happens until confirmed.
    run = f"{LIST_URL}{stored.pk}/run/resubmit/"
    asked = admin_client.post(run).content.decode()
    assert "deletes the results\nof its previous run" in asked and "Yes, resubmit" in asked
    assert status_of(stored) == JobStatus.COMPLETE and stored.fetch_result(timeout=10) == 3
    # The list action too, listing what it refuses and why.
    ids = [delayed.pk, stored.pk]
    asked = admin_client.post(LIST_URL, {"action": "resubmit_jobs", "_selected_action": ids})
    text = asked.content.decode()
    assert "cannot be resubmitted, left as it is:" in text and "dask.delayed" in text
    assert status_of(stored) == JobStatus.COMPLETE

    done = admin_client.post(
        LIST_URL, {"action": "resubmit_jobs", "_selected_action": ids, "post": "yes"}, follow=True
    )
    text = done.content.decode()
    assert "Not resubmitted: Dask job" in text and "Resubmitted 1 job(s)." in text
    assert delayed.fetch_result(timeout=10) == 42 and status_of(delayed) == JobStatus.COMPLETE
    wait_for(lambda: status_of(stored) == JobStatus.COMPLETE, what="the rerun")
    # And the page button, confirmed.
    admin_client.post(run, {"post": "yes"})
    wait_for(lambda: status_of(stored) == JobStatus.COMPLETE, what="the second rerun")
    assert DaskJob.objects.get(pk=stored.pk).fetch_result(timeout=10) == 3


def test_resubmit_of_a_job_whose_scheduler_was_removed_is_refused_and_keeps_it_complete(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(
        "orphan", user, "DASK", scheduler=dask_scheduler, function="operator.add", args=[1, 2]
    )
    assert isinstance(job, DaskJob)
    job.execute()
    assert job.fetch_result(timeout=20) == 3
    # The scheduler record goes (its jobs keep their history, scheduler NULL).
    DaskJob.objects.filter(pk=job.pk).update(scheduler=None, scheduler_name="gone-one")
    orphan = DaskJob.objects.get(pk=job.pk)
    assert "its scheduler 'gone-one' was removed" in orphan.resubmit_refusal()
    with pytest.raises(InvalidStatusTransition, match="was removed"):
        orphan.resubmit()
    assert status_of(orphan) == JobStatus.COMPLETE
