"""The admin's **Schedulers** list (every kind in one table) and its "Test connection".

* **Schedulers** (the base :class:`~tethys_compute.models.Scheduler`): one list of
  every kind, with search, a filter by kind, the last connection test and links
  to each kind's own change page.  The page runs a fixed number of SQL queries
  however many schedulers exist (``select_subclasses`` loads every kind in the
  page query).
* **Test connection**: an action on the lists and a button on each change
  page (:mod:`tethys_compute.admin.scheduler_kinds`).  It tests the *saved*
  records (see :mod:`tethys_compute.health_runner`) and reports per scheduler
  OK, FAILED with the reason, or NOT CHECKED.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timezone import localtime

from tethys_compute.admin.filters import SubclassFilter
from tethys_compute.health_runner import SchedulerCheck, check_schedulers
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler

#: The kinds, as (model, list-filter value, label) in display order.
KINDS: tuple[tuple[type[Scheduler], str, str], ...] = (
    (CondorScheduler, "condor", "Condor"),
    (DaskScheduler, "dask", "Dask"),
)


def change_url(scheduler: Scheduler) -> str:
    """URL of the change page of ``scheduler``'s own kind."""
    opts = scheduler._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[scheduler.pk])


def health_icon(ok: bool | None) -> SafeString:
    """The admin's yes/no/unknown icon for a check outcome (None: not checked)."""
    if ok is None:
        name, alt = "unknown", "not checked"
    else:
        name, alt = ("yes", "OK") if ok else ("no", "FAILED")
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{name}.svg"), alt)


def report(request: HttpRequest, checks: list[SchedulerCheck]) -> None:
    """Add one message per tested scheduler: OK, FAILED with the reason, or not checked."""
    for check in checks:
        result = check.result
        # Named with its kind and in quotes: the admin capitalises each message's
        # first letter, and scheduler names are case-sensitive.
        who = f"{check.scheduler._meta.verbose_name} “{check.scheduler.name}”"
        text = f"{who}: {result.summary}"
        worked = ", ".join(step.name for step in result.checks if step.ok)
        # The summary is a sentence of its own: what follows starts a new one.
        joined = text if text.endswith((".", "!", "?")) else f"{text}."
        if not result.checked:
            messages.warning(request, text)
        elif result.ok:
            messages.success(request, f"{joined} Passed: {worked}." if worked else text)
        else:
            messages.error(request, f"{joined} What worked: {worked}." if worked else text)
        for warning in result.warnings:
            messages.warning(request, f"{who}: warning: {warning}")


@admin.action(description="Test connection of the selected schedulers", permissions=["change"])
def test_connection(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[Scheduler],
) -> None:
    """Admin action: test the selected (saved) schedulers and store the results."""
    schedulers = list(queryset.select_subclasses())  # type: ignore[attr-defined]
    report(request, check_schedulers(schedulers))


class KindFilter(SubclassFilter):
    """Filter the scheduler list by kind (Condor, Dask)."""

    kinds = KINDS


class HealthColumns:
    """Columns and read-only fields that show the stored outcome of the last test."""

    #: Characters of the last check's summary shown in a list row (all of it on hover).
    summary_chars = 120

    @admin.display(description="last check", ordering="last_check_ok")
    def health(self, obj: Scheduler) -> SafeString:
        if obj.last_check_at is None:
            return format_html("{} never tested", health_icon(None))
        summary = obj.last_check_summary
        return format_html(
            '<span title="{}">{} {}</span>',
            summary,
            health_icon(obj.last_check_ok),
            Truncator(summary).chars(self.summary_chars),
        )

    @admin.display(description="checked at", ordering="last_check_at")
    def checked_at(self, obj: Scheduler) -> str:
        if obj.last_check_at is None:
            return "-"
        return date_format(localtime(obj.last_check_at), "DATETIME_FORMAT")

    @admin.display(description="what was checked")
    def check_details(self, obj: Scheduler) -> SafeString | str:
        details = obj.last_check_details or {}
        rows = [
            format_html(
                "<li>{} {}: {}</li>",
                health_icon(bool(check.get("ok"))),
                check.get("name", ""),
                check.get("detail", ""),
            )
            for check in details.get("checks", [])
        ]
        for warning in details.get("warnings", []):
            rows.append(format_html("<li>warning: {}</li>", warning))
        if not rows:
            return "-"
        return format_html("<ul>{}</ul>", SafeString("".join(rows)))


@admin.register(Scheduler)
class SchedulerAdmin(HealthColumns, admin.ModelAdmin):  # type: ignore[type-arg]
    """One list of the schedulers of every kind; add and edit go to each kind's pages."""

    list_display = ("name_link", "kind", "host", "health", "checked_at")
    list_display_links = None
    list_filter = (KindFilter,)
    search_fields = ("name", "host", "description")
    actions = [test_connection]
    list_per_page = 100
    change_list_template = "admin/tethys_compute/scheduler/change_list.html"

    def _viewable_kinds(self, request: HttpRequest) -> list[type[Scheduler]]:
        """The scheduler kinds whose own pages ``request.user`` may view."""
        return [
            model
            for model, _value, _label in KINDS
            if self.admin_site.get_model_admin(model).has_view_permission(request)
        ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Who may view one kind sees the list, with the rows of that kind only.
        if super().has_view_permission(request, obj):
            return True
        return obj is None and bool(self._viewable_kinds(request))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scheduler]:
        query = super().get_queryset(request).select_subclasses()  # type: ignore[attr-defined]
        kinds = self._viewable_kinds(request)
        openable = Q(pk__in=[])
        for model in kinds:
            openable |= Q(**{f"{model._meta.model_name}__isnull": False})
        if not super().has_view_permission(request):
            # Only a kind's own permission: list that kind's rows only.
            query = query.filter(openable)
        # Each row links to its kind's page only where the user may open it.
        return query.annotate(  # type: ignore[no-any-return]
            can_open=ExpressionWrapper(openable, output_field=BooleanField())
        )

    @admin.display(description="name", ordering="name")
    def name_link(self, obj: Scheduler) -> SafeString:
        if not getattr(obj, "can_open", True):
            return format_html("{}", obj.name)
        return format_html('<a href="{}">{}</a>', change_url(obj), obj.name)

    @admin.display(description="kind")
    def kind(self, obj: Scheduler) -> str:
        return str(obj._meta.verbose_name)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Schedulers are added as a kind: the list shows one button per kind.
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        add_links = []
        for model, _value, _label in KINDS:
            kind_admin = self.admin_site.get_model_admin(model)
            if kind_admin.has_add_permission(request):
                opts = model._meta
                add_links.append(
                    (
                        reverse(f"admin:{opts.app_label}_{opts.model_name}_add"),
                        f"Add {opts.verbose_name}",
                    )
                )
        context = {"add_links": add_links, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Send the browser to the change page of the scheduler's own kind."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None or type(obj) is Scheduler:
            return super().change_view(request, object_id, form_url, extra_context)
        return HttpResponseRedirect(change_url(obj))
