"""What the jobs admin shows: statuses coloured like clusters', a state filter, arguments.

Kept apart from :mod:`tethys_compute.admin.jobs` (the actions and pages).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tethys_compute.jobs.status import FINAL_STATUSES, WAITING_STATUSES, JobStatus
from tethys_compute.models.job import DaskJob, Job

__all__ = ["JobStateFilter", "arguments", "status_badge"]


class JobStateFilter(admin.SimpleListFilter):
    """Active jobs, with Results-Ready ones shown as waiting (for their results callback)."""

    title = "state"
    parameter_name = "state"

    def lookups(
        self,
        request: HttpRequest,
        model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    ) -> list[tuple[str, str]]:
        return [
            ("active", "Active or waiting for results"),
            ("waiting", "Waiting for results (Results-Ready)"),
            ("final", "Finished"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        chosen = {
            "active": WAITING_STATUSES,
            "waiting": {JobStatus.RESULTS_READY},
            "final": FINAL_STATUSES,
        }.get(self.value() or "")
        return queryset if chosen is None else queryset.filter(status_code__in=chosen)


#: Job status -> colour, the palette of the clusters' statuses (busy blue, good green,
#: failed red, idle grey).
_STATUS_COLOURS: dict[str, str] = {
    JobStatus.PENDING: "#5b616b",
    JobStatus.SUBMITTED: "#205493",
    JobStatus.RUNNING: "#2e8540",
    JobStatus.VARIOUS: "#205493",
    JobStatus.PAUSED: "#5b616b",
    JobStatus.VARIOUS_COMPLETE: "#205493",
    JobStatus.RESULTS_READY: "#205493",
    JobStatus.COMPLETE: "#2e8540",
    JobStatus.ERROR: "#981b1e",
    JobStatus.ABORTED: "#981b1e",
}
#: Characters of a job's arguments shown on its page.
_ARGUMENTS_LIMIT = 2000


def arguments(job: Job) -> list[tuple[str, str]]:
    """What the job runs with: a Dask job's arguments, a Condor job's executable and arguments."""
    rows: list[tuple[str, str]] = []
    if isinstance(job, DaskJob):
        for label, value in (("arguments", job.args), ("keyword arguments", job.kwargs)):
            if value:
                rows.append((label, json.dumps(value)[:_ARGUMENTS_LIMIT]))
    description = getattr(job, "submit_description", None)
    if isinstance(description, dict):
        for key in ("executable", "arguments"):
            if description.get(key) not in (None, "", []):
                rows.append((key, json.dumps(description[key])[:_ARGUMENTS_LIMIT]))
    return rows


def status_badge(job: Job) -> SafeString:
    """The job's status in its colour (``data-status`` holds the code)."""
    return format_html(
        '<strong class="job-status" data-status="{}" style="color: {}">{}</strong>',
        job.status_code,
        _STATUS_COLOURS.get(job.status_code, "#5b616b"),
        job.status,
    )
