"""The actions of the admin's Jobs list: refresh now, stop, resubmit, delete with clean-up.

Each acts on every selected job as its own kind and reports per job; resubmit
and delete ask for confirmation first (delete calls each job's ``delete()``,
which removes its files on the scheduler: Django's bulk delete would skip
that).  Dask jobs are left alone for users who may not make the portal
connect a ``distributed.Client`` (:mod:`tethys_compute.admin.trust`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from tethys_compute.admin.trust import (
    without_dask_jobs_unless_trusted,
)
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import (
    FINISHED_STATUSES,
)
from tethys_compute.models.job import (
    Job,
)

__all__ = [
    "delete_with_cleanup",
    "refresh_now",
    "resubmit_confirmation",
    "resubmit_jobs",
    "stop_jobs",
]


def _report_errors(request: HttpRequest, done: int, errors: list[str], verb: str) -> None:
    if done:
        messages.success(request, f"{verb} {done} job(s).")
    for error in errors:
        messages.error(request, error)


def _each(
    request: HttpRequest,
    queryset: QuerySet[Job],
    func: Callable[[Job], Any],
    verb: str,
) -> None:
    done, errors = 0, []
    for job in queryset.select_subclasses():  # type: ignore[attr-defined]
        try:
            func(job)
            done += 1
        except TethysComputeError as exc:
            errors.append(f"Job {job.pk} ({job.name}): {exc}")
    _report_errors(request, done, errors, verb)


# Refreshing and fetching logs contact the scheduler (remote commands under its
# account): like every remote action they need change permission, not view.
@admin.action(description="Refresh status now", permissions=["change"])
def refresh_now(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[Job],
) -> None:
    """Refresh the selected active jobs: one round trip per scheduler."""
    report = refresh_jobs(without_dask_jobs_unless_trusted(request, queryset))
    messages.info(request, f"Refreshed: {report.summary()}")
    for failed in report.failed:
        messages.error(
            request, f"{failed.name} could not be reached ({failed.error}); statuses kept."
        )


def _job_action(name: str, method: str, description: str, permission: str, verb: str) -> Any:
    """An admin action calling ``job.<method>()`` on each selected job, as its own kind."""

    @admin.action(description=description, permissions=[permission])
    def action(
        modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
        request: HttpRequest,
        queryset: QuerySet[Job],
    ) -> None:
        jobs = without_dask_jobs_unless_trusted(request, queryset)
        _each(request, jobs, lambda job: getattr(job, method)(), verb)

    action.__name__ = action.__qualname__ = name
    return action


@admin.action(description="Stop the selected jobs", permissions=["change"])
def stop_jobs(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[Job],
) -> None:
    """Stop each selected job; finished ones are left as they are and reported as skipped."""
    stopped, skipped, errors, unconfirmed = 0, [], [], []
    queryset = without_dask_jobs_unless_trusted(request, queryset)
    for job in queryset.select_subclasses():  # type: ignore[attr-defined]
        try:
            job.refresh_status()
            if job.status_code in FINISHED_STATUSES:
                skipped.append(f"{job.pk} ({job.status})")
                continue
            if job.stop_confirmed():
                stopped += 1
            else:
                unconfirmed.append(f"Job {job.pk} ({job.name}): Aborted, {job.status_message}")
        except TethysComputeError as exc:
            errors.append(f"Job {job.pk} ({job.name}): {exc}")
    if stopped:
        messages.success(request, f"Stopped {stopped} job(s).")
    for text in unconfirmed:
        messages.warning(request, text)
    if skipped:
        messages.info(
            request,
            f"Skipped {len(skipped)} job(s) that had already finished: {', '.join(skipped)}.",
        )
    for error in errors:
        messages.error(request, error)


_resubmit_each = _job_action(
    "resubmit_jobs", "resubmit", "Resubmit the selected jobs", "change", "Resubmitted"
)


def resubmit_confirmation(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    jobs: list[Job],
    form_action: str,  # type: ignore[type-arg]
) -> TemplateResponse:
    """The page that asks before resubmitting (which deletes the previous run's results)."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Resubmit jobs?",
        "opts": modeladmin.model._meta,
        "jobs": [(job, job.resubmit_refusal()) for job in jobs],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "form_action": form_action,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/tethys_compute/job/resubmit.html", context)


@admin.action(description="Resubmit the selected jobs", permissions=["change"])
def resubmit_jobs(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[Job],
) -> HttpResponse | None:
    """Each job's resubmit(), after a confirmation page (it deletes the previous results).

    Jobs that cannot be run again (a Dask job run from a delayed object) are
    listed with the reason and left alone.
    """
    # Dask jobs the user may not run a client for are refused before anything is asked.
    queryset = without_dask_jobs_unless_trusted(request, queryset)
    jobs = list(queryset.select_subclasses().order_by("id"))  # type: ignore[attr-defined]
    if not jobs:
        return None
    if request.POST.get("post") != "yes":
        return resubmit_confirmation(request, modeladmin, jobs, "")
    refused = [job for job in jobs if job.resubmit_refusal()]
    for job in refused:
        messages.error(request, f"Not resubmitted: {job.resubmit_refusal()}")
    _resubmit_each(modeladmin, request, queryset.exclude(pk__in=[job.pk for job in refused]))
    return None


_delete_each = _job_action(
    "delete_with_cleanup",
    "delete",
    "Delete the selected jobs (with remote clean-up)",
    "delete",
    "Deleted",
)


@admin.action(description="Delete the selected jobs (with remote clean-up)", permissions=["delete"])
def delete_with_cleanup(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[Job],
) -> HttpResponse | None:
    """Each job's delete() (stop, remote clean-up, row), after a confirmation page.

    Django's bulk delete skips the clean-up.
    """
    if request.POST.get("post") != "yes":
        opts = modeladmin.model._meta
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": "Delete jobs (with remote clean-up)?",
            "opts": opts,
            "jobs": list(queryset.order_by("id")),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = modeladmin.admin_site.name
        return TemplateResponse(
            request, "admin/tethys_compute/job/delete_with_cleanup.html", context
        )
    _delete_each(modeladmin, request, queryset)
    return None
