"""The admin's **Jobs** page (registered when :mod:`tethys_compute.admin` loads).

* The list shows every kind of job in one table (``select_subclasses``), with
  filters by status, kind, label, user and scheduler, and the status age
  (time since the last status change).  It runs a fixed number of SQL
  queries however many jobs there are, and never contacts a scheduler: every
  column is stored data.  Only the count for the page numbers reads every
  (filtered) job; the label filter's choices come from the label's index.
* Actions: **Refresh now** (one round trip per scheduler, see
  :mod:`tethys_compute.jobs.refresh`), **Stop** (finished jobs are counted
  as skipped), **Resubmit** and **Delete with remote clean-up** (after a
  confirmation page; each job's ``delete()``, which removes its files on
  the scheduler; Django's bulk delete would skip that).
* The job page ("Job", no Save buttons) is read-only: the record, a
  workflow's nodes, the cached logs, and buttons to fetch the logs now or
  refresh, stop or resubmit the job (each a POST).  Logs fetched from a job
  that is still running are shown on the page once (they are not stored: a
  job's logs are stored when it has finished).
"""

from __future__ import annotations

import reprlib
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from tethys_compute.admin.filters import IndexedValuesFilter, SubclassFilter
from tethys_compute.admin.job_actions import (
    delete_with_cleanup,
    refresh_now,
    resubmit_confirmation,
    resubmit_jobs,
    stop_jobs,
)
from tethys_compute.admin.job_display import JobStateFilter, arguments, status_badge
from tethys_compute.admin.trust import (
    REFUSAL,
    may_connect_dask_client,
)
from tethys_compute.exceptions import SchedulerConnectionError, TethysComputeError
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import (
    ACTIVE_STATUSES,
    JobStatus,
)
from tethys_compute.models.job import (
    BasicJob,
    CondorJob,
    CondorWorkflow,
    DaskJob,
    Job,
)

__all__ = ["JobAdmin", "JobKindFilter", "format_age"]

#: How a stored Dask result is shown on its job's page: a short ``repr``.
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 200
_short.maxlist = _short.maxdict = _short.maxtuple = _short.maxset = 20

#: The kinds, as (model, filter value, label).
JOB_KINDS: tuple[tuple[type[Job], str, str], ...] = (
    (BasicJob, "basic", "Basic job"),
    (CondorJob, "condor", "Condor job"),
    (CondorWorkflow, "condorworkflow", "Condor workflow"),
    (DaskJob, "dask", "Dask job"),
)


def format_age(delta: timedelta | None) -> str:
    """A short age: ``"42 s"``, ``"5 min"``, ``"3 h"``, ``"2 d"``.

    Examples
    --------
    >>> format_age(timedelta(seconds=42)), format_age(timedelta(hours=50))
    ('42 s', '2 d')
    """
    if delta is None:
        return "-"
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class JobKindFilter(SubclassFilter):
    """Filter jobs by kind (basic, Condor job, Condor workflow, Dask job)."""

    kinds = JOB_KINDS


_PAGE_ACTIONS: dict[str, tuple[str, str]] = {
    # name: (permission, label)
    "fetch-logs": ("change", "Fetch logs now"),
    "refresh": ("change", "Refresh status"),
    "stop": ("change", "Stop"),
    "resubmit": ("change", "Resubmit"),
}


#: Characters of each stream kept for showing a running job's logs once.
_LIVE_LOG_LIMIT = 100_000


def _live_logs_key(pk: Any) -> str:
    return f"tethys_compute_live_logs_{pk}"


class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every job of every kind in one list; read-only pages with logs."""

    list_display = (
        "id",
        "name",
        "kind",
        "status_badge",
        "status_age",
        "label",
        "user",
        "scheduler_display",
        "creation_time",
    )
    list_display_links = ("id", "name")
    list_filter = (
        "status_code",
        JobStateFilter,
        JobKindFilter,
        # Its choices from the label's index, not a DISTINCT over every job.
        ("label", IndexedValuesFilter),
        "user",
        "scheduler",
    )
    # select_related would cache them on the base rows, not on the kinds
    # select_subclasses returns: prefetch them (two queries per page) instead.
    list_select_related = False
    search_fields = ("name", "label", "description")
    actions = [refresh_now, stop_jobs, resubmit_jobs, delete_with_cleanup]
    list_per_page = 100
    #: No second COUNT(*) of every job under a filter (slow at 100,000 jobs).
    show_full_result_count = False
    #: "Show all" renders up to this many rows (still a fixed number of queries).
    list_max_show_all = 1000
    ordering = ("-id",)
    fieldsets = (
        (None, {"fields": ("name", "kind", "label", "user", "description", "workspace")}),
        (
            "Status",
            {
                "fields": (
                    "status_badge",
                    "status_message",
                    "status_age",
                    "status_version",
                    "last_refresh_ok_at",
                    "refresh_error",
                    "page_actions",
                )
            },
        ),
        (
            "Run",
            {
                "fields": (
                    "scheduler_display",
                    "run_details",
                    "creation_time",
                    "execute_time",
                    "start_time",
                    "completion_time",
                    "process_results_function",
                    "extended_properties",
                )
            },
        ),
        ("Workflow nodes", {"fields": ("nodes_table",)}),
        ("Logs", {"fields": ("logs_display",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        query = super().get_queryset(request).select_subclasses()  # type: ignore[attr-defined]
        return query.prefetch_related("user", "scheduler")  # type: ignore[no-any-return]

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # The job as its own kind, so delete() cleans the right remote files.
        try:
            job = self.get_queryset(request).get(pk=unquote(object_id))
        except (Job.DoesNotExist, ValueError):
            return None
        session = getattr(request, "session", None)
        if request.method == "GET" and session is not None:
            # Logs fetched from the running job by "Fetch logs now": shown once.
            live = session.pop(_live_logs_key(job.pk), None)
            if isinstance(live, dict):
                job._live_logs = live  # type: ignore[attr-defined]
        return job

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if not isinstance(obj, CondorWorkflow):
            fieldsets = [entry for entry in fieldsets if entry[0] != "Workflow nodes"]
        if not self.has_change_permission(request, obj):
            # Every button contacts the scheduler: none for a user who may only view.
            fieldsets = [
                (
                    title,
                    {**options, "fields": [f for f in options["fields"] if f != "page_actions"]},
                )
                for title, options in fieldsets
            ]
        return fieldsets

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Read-only: no Save buttons, and the title says what the page is.
        context = {
            "title": "Job",
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_save_as_new": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # skips remote clean-up: use ours
        return found

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        names: list[str] = []
        for _title, options in self.fieldsets:
            names.extend(str(name) for name in options["fields"])
        return names

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # apps create jobs through JobManager

    # ------------------------------------------------------------------
    # Columns (stored data only)
    # ------------------------------------------------------------------
    @admin.display(description="status", ordering="status_code")
    def status_badge(self, obj: Job) -> SafeString:
        return status_badge(obj)

    @admin.display(description="kind")
    def kind(self, obj: Job) -> str:
        return str(obj._meta.verbose_name)

    @admin.display(description="status age", ordering="status_changed_at")
    def status_age(self, obj: Job) -> str:
        since = obj.status_changed_at or obj.creation_time
        return format_age(timezone.now() - since if since else None)

    @admin.display(description="scheduler", ordering="scheduler__name")
    def scheduler_display(self, obj: Job) -> str:
        if obj.scheduler_id is not None and obj.scheduler is not None:
            return obj.scheduler.name
        return f"{obj.scheduler_name} (deleted)" if obj.scheduler_name else "-"

    @admin.display(description="on the scheduler")
    def run_details(self, obj: Job) -> SafeString | str:
        rows: list[tuple[str, Any]] = []
        for label, name in (
            ("cluster id", "cluster_id"),
            ("procs", "num_jobs"),
            ("remote directory", "remote_dir"),
            ("task key", "key"),
            ("callable", "function"),
        ):
            value = getattr(obj, name, None)
            if value not in (None, ""):
                rows.append((label, value))
        rows += arguments(obj)
        if isinstance(obj, DaskJob) and obj.status_code == JobStatus.COMPLETE:
            # The value stored in ``result`` (shortened; escaped like every other value).
            stored = "none (forget=True)" if obj.forget else _short.repr(obj.result)
            rows.append(("stored result", stored))
        if not rows:
            return "-"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

    @admin.display(description="nodes")
    def nodes_table(self, obj: Job) -> SafeString | str:
        if not isinstance(obj, CondorWorkflow):
            return "-"
        rows = [
            (node.name, node.get_status_code_display(), node.cluster_id or "", node.status_message)
            for node in obj.node_set.order_by("id")
        ]
        if not rows:
            return "no nodes"
        return format_html(
            "<table><tr><th>node</th><th>status</th><th>cluster</th><th>message</th></tr>{}"
            "</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="logs")
    def logs_display(self, obj: Job) -> SafeString | str:
        live = getattr(obj, "_live_logs", None)
        logs = live if live is not None else obj.logs
        if not logs:
            if obj.status_code in ACTIVE_STATUSES:
                return (
                    "Logs of a running job are not stored: use 'Fetch logs now' to see them "
                    "as they are (contacts the scheduler)."
                )
            return "Not fetched yet: use 'Fetch logs now' (contacts the scheduler)."
        parts = []
        if live is not None:
            parts.append(
                SafeString(
                    "<p>Fetched just now from the running job (not stored; fetch again to "
                    "see more).</p>"
                )
            )
        parts += [
            format_html("<h4>{}</h4><pre>{}</pre>", name, logs.get(name) or "(empty)")
            for name in ("stdout", "stderr")
        ]
        return SafeString("".join(parts))

    @admin.display(description="actions")
    def page_actions(self, obj: Job) -> SafeString:
        # Buttons submit the page's own form (with its CSRF token) to our URLs.
        info = self.opts.app_label, self.opts.model_name
        buttons = [
            (reverse(f"admin:{info[0]}_{info[1]}_run", args=[obj.pk, name]), label)
            for name, (_perm, label) in _PAGE_ACTIONS.items()
            if (name != "stop" or obj.status_code in ACTIVE_STATUSES)
            and (name != "resubmit" or not obj.resubmit_refusal())
        ]
        return format_html_join(
            " ",
            '<button type="submit" class="button" formmethod="post" formaction="{}">{}</button>',
            buttons,
        )

    # ------------------------------------------------------------------
    # Page actions
    # ------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        own = [
            path(
                "<path:object_id>/run/<str:action>/",
                self.admin_site.admin_view(self.run_action),
                name=f"{info[0]}_{info[1]}_run",
            )
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    def run_action(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """POST ``<id>/run/<action>/``: fetch logs, refresh, stop or resubmit one job."""
        if request.method != "POST":
            raise PermissionDenied("Use the buttons on the job page.")
        if action not in _PAGE_ACTIONS:
            raise Http404(f"No action {action!r}.")
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404(f"No job {object_id}.")
        permission = _PAGE_ACTIONS[action][0]
        allowed = (
            self.has_view_permission(request, job)
            if permission == "view"
            else self.has_change_permission(request, job)
        )
        if not allowed:
            raise PermissionDenied
        info = self.opts.app_label, self.opts.model_name
        if DaskJob.objects.filter(pk=job.pk).exists() and not may_connect_dask_client(request.user):
            messages.error(request, f"{_PAGE_ACTIONS[action][1]}: {REFUSAL}")
            return HttpResponseRedirect(reverse(f"admin:{info[0]}_{info[1]}_change", args=[job.pk]))
        try:
            if action == "fetch-logs":
                try:
                    logs = job.get_logs()
                except SchedulerConnectionError as exc:
                    name = job.scheduler_name or "its scheduler"
                    raise SchedulerConnectionError(
                        f"Logs not fetched: the scheduler {name!r} could not be reached "
                        f"({exc}). Nothing was stored; try again once it answers."
                    ) from exc
                if job.is_finished:
                    messages.success(request, "Logs fetched and stored (the job has finished).")
                else:
                    # Not stored while the job runs: shown once on the page below.
                    request.session[_live_logs_key(job.pk)] = {
                        name: str(logs.get(name) or "")[-_LIVE_LOG_LIMIT:]
                        for name in ("stdout", "stderr")
                    }
                    messages.success(
                        request,
                        f"Logs fetched from the {job.status.lower()} job and shown below "
                        "(not stored until the job finishes).",
                    )
            elif action == "refresh":
                report = refresh_jobs([job])
                messages.info(request, f"Refreshed: {report.summary()}")
            elif action == "stop":
                if job.stop_confirmed():
                    messages.success(request, "Stopped.")
                else:
                    messages.warning(request, f"Marked Aborted: {job.status_message}")
            elif request.POST.get("post") != "yes" and not job.resubmit_refusal():
                return resubmit_confirmation(request, self, [job], request.path)
            else:
                job.resubmit()
                messages.success(request, "Resubmitted.")
        except TethysComputeError as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(reverse(f"admin:{info[0]}_{info[1]}_change", args=[job.pk]))


admin.site.register(Job, JobAdmin)
