"""The admin **Clusters** page: create from a template, start, resize, stop, terminate.

Thin over :mod:`tethys_compute.clusters.service` (like the ``clusters``
command): the page records nothing itself, the service does the work in a
background thread and writes the status and its message on the row, which
the list shows (and reloads itself every few seconds while something is in
progress).  Cloud credentials are write-only fields: they are stored
encrypted and never rendered back, not even masked.  Rows are not deleted
from the admin (that would orphan machines): terminate instead.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tethys_compute.admin.cluster_forms import ClusterCreateForm, ResizeForm
from tethys_compute.clusters import service
from tethys_compute.clusters.active_jobs import active_jobs
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models import Cluster
from tethys_compute.models.cluster import ClusterStatus

__all__ = ["ClusterAdmin", "ClusterCreateForm"]

#: Colour of each status in the list.
_COLOURS: dict[str, str] = {
    ClusterStatus.STARTING: "#205493",
    ClusterStatus.RUNNING: "#2e8540",
    ClusterStatus.STOPPED: "#5b616b",
    ClusterStatus.UPDATING: "#205493",
    ClusterStatus.DELETING: "#981b1e",
    ClusterStatus.ERROR: "#981b1e",
}
#: Seconds between reloads of the list while a cluster is busy.
RELOAD_SECONDS = 3


def _named(names: list[str]) -> str:
    """``“a”, “b”``: cluster names as messages quote them (never capitalised)."""
    return ", ".join(f"“{name}”" for name in names)


def _run(request: HttpRequest, queryset: QuerySet[Cluster], verb: str, call: Any) -> None:
    """Call ``call(name)`` for each cluster; one message for those done, one per failure.

    Messages start with "Cluster" (the admin capitalises the first letter, and
    cluster names keep their case).
    """
    done, failed = [], []
    for record in queryset:
        try:
            call(record.name)
        except _NothingToDo as exc:
            messages.info(request, f"Cluster “{record.name}”: {exc}")
        except TethysComputeError as exc:
            failed.append(f"Cluster “{record.name}”: {exc}")
        else:
            done.append(record.name)
    if done:
        label = "Cluster" if len(done) == 1 else "Clusters"
        messages.info(request, f"{label} {_named(done)}: {verb}; progress is shown in the list.")
    for text in failed:
        messages.error(request, text)


@admin.action(description="Start the selected clusters", permissions=["change"])
def start_clusters(
    modeladmin: ClusterAdmin, request: HttpRequest, queryset: QuerySet[Cluster]
) -> None:
    _run(request, queryset, "starting", lambda name: service.start_cluster(None, name))


@admin.action(description="Stop the selected clusters", permissions=["change"])
def stop_clusters(
    modeladmin: ClusterAdmin, request: HttpRequest, queryset: QuerySet[Cluster]
) -> None:
    _run(request, queryset, "stopping", service.stop_cluster)


@admin.action(description="Terminate the selected clusters", permissions=["change"])
def terminate_clusters(
    modeladmin: ClusterAdmin, request: HttpRequest, queryset: QuerySet[Cluster]
) -> None:
    _run(request, queryset, "terminating", service.terminate_cluster)


#: Seconds the force action waits for the terminations before answering.
FORCE_WAIT_SECONDS = 60.0


@admin.action(
    description="Terminate (force: remove the record even if the provider cannot be reached)",
    permissions=["change"],
)
def force_terminate_clusters(
    modeladmin: ClusterAdmin, request: HttpRequest, queryset: QuerySet[Cluster]
) -> HttpResponse | None:
    """``clusters terminate NAME --force`` for the selected clusters, after a confirmation."""
    if "confirm" not in request.POST:
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": "Terminate clusters (force)",
            "clusters": queryset,
            "active_jobs": active_jobs(
                name for row in queryset for name in row.provider_state.get("schedulers") or []
            ),
            "opts": modeladmin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/tethys_compute/cluster/force_terminate.html", context
        )
    names = list(queryset.values_list("name", flat=True))
    started: list[str] = []
    for name in names:
        try:
            service.terminate_cluster(name, force=True)
        except TethysComputeError as exc:
            messages.error(request, f"Cluster “{name}”: {exc}")
        else:
            started.append(name)
    deadline = time.monotonic() + FORCE_WAIT_SECONDS
    for name in started:
        try:
            record = service.wait(name, timeout=max(deadline - time.monotonic(), 0.1))
        except TimeoutError:
            messages.info(
                request, f"Cluster “{name}”: still terminating; progress is shown in the list."
            )
            continue
        left = service.leftovers(name)
        if record is not None:
            messages.error(request, f"Cluster “{name}”: {record.status_message}")
        elif left:
            messages.warning(request, f"Cluster “{name}”: the record is removed, but {left}")
        else:
            messages.success(request, f"Cluster “{name}”: terminated and removed.")
    return None


# Refreshing contacts the cluster's hosts or cloud: change permission, like every remote action.
@admin.action(description="Refresh the status of the selected clusters", permissions=["change"])
def refresh_clusters(
    modeladmin: ClusterAdmin, request: HttpRequest, queryset: QuerySet[Cluster]
) -> None:
    _run(request, queryset, "refreshed", service.refresh_cluster)


def _resize(request: HttpRequest, name: str, size: int) -> None:
    record = service.resize_cluster(name, size)
    if not record.is_busy and record.size == size:
        raise _NothingToDo(service.resize_noop_message(record))


class _NothingToDo(TethysComputeError):
    """A resize to the current size (shown as a message, nothing changes)."""


@admin.action(description="Resize the selected clusters…", permissions=["change"])
def resize_clusters(
    modeladmin: ClusterAdmin, request: HttpRequest, queryset: QuerySet[Cluster]
) -> HttpResponse | None:
    form = ResizeForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        size = form.cleaned_data["size"]
        _run(
            request,
            queryset,
            f"resizing to {size}",
            lambda name: _resize(request, name, size),
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Resize clusters",
        "clusters": queryset,
        "form": form,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/tethys_compute/cluster/resize.html", context)


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The Clusters page (see the module notes)."""

    list_display = (
        "name",
        "status_badge",
        "provider",
        "size",
        "template",
        "master_address",
        "scheduler_link",
        "workers",
        "progress",
    )
    list_filter = ("status", "provider")
    search_fields = ("name", "template", "master_address")
    actions = [
        start_clusters,
        resize_clusters,
        stop_clusters,
        terminate_clusters,
        force_terminate_clusters,
        refresh_clusters,
    ]
    change_list_template = "admin/tethys_compute/cluster/change_list.html"
    readonly_fields = (
        "name",
        "template",
        "config_path",
        "provider",
        "status_badge",
        "status_message",
        "status_changed",
        "master_address",
        "scheduler_link",
        "workers",
        "master_image_id",
        "node_image_id",
        "master_instance_type",
        "node_instance_type",
        "credentials",
        "provider_state",
        "created",
        "modified",
    )

    # --------------------------------------------------------------- columns
    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Cluster) -> SafeString:
        colour = _COLOURS.get(obj.status, "#5b616b")
        return format_html(
            '<strong class="cluster-status" data-status="{}" style="color: {}">{}</strong>',
            obj.status,
            colour,
            obj.status_text,
        )

    @admin.display(description="progress / error")
    def progress(self, obj: Cluster) -> str:
        text = obj.status_message or ""
        return text if len(text) <= 160 else text[:157] + "..."

    @admin.display(description="scheduler", ordering="scheduler__name")
    def scheduler_link(self, obj: Cluster) -> SafeString | str:
        if obj.scheduler is None:
            return "-"
        url = reverse("admin:tethys_compute_scheduler_change", args=[obj.scheduler.pk])
        return format_html('<a href="{}">{}</a> ({})', url, obj.scheduler.name, obj.scheduler.host)

    @admin.display(description="workers: wanted / queued / running / held")
    def workers(self, obj: Cluster) -> str:
        """HTCondor worker jobs as the last refresh counted them (no query while rendering)."""
        seen = (obj.provider_state or {}).get("workers_seen")
        if not isinstance(seen, dict):
            return "-"
        names = ("wanted", "queued", "running", "held")
        return " / ".join(str(int(seen.get(name) or 0)) for name in names)

    @admin.display(description="cloud credentials")
    def credentials(self, obj: Cluster) -> str:
        stored = [f for f in Cluster.SECRET_FIELDS if obj.pk and obj.has_secret(f)]
        return "stored (encrypted, not shown)" if stored else "from the config file"

    # ----------------------------------------------------------------- forms
    def get_queryset(self, request: HttpRequest) -> QuerySet[Cluster]:
        return super().get_queryset(request).select_related("scheduler")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ClusterCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return (
                (None, {"fields": ("name", "config_path", "template", "size", "start_now")}),
                (
                    "Overrides of the template (cloud providers)",
                    {
                        "classes": ("collapse",),
                        "fields": (
                            "master_image_id",
                            "node_image_id",
                            "master_instance_type",
                            "node_instance_type",
                        ),
                    },
                ),
                (
                    "Cloud credentials (optional, write-only)",
                    {
                        "classes": ("collapse",),
                        "fields": ("aws_access_key_id_input", "aws_secret_access_key_input"),
                    },
                ),
            )
        return (
            (
                None,
                {"fields": ("name", "size", "status_badge", "status_message", "status_changed")},
            ),
            (
                "Where it comes from",
                {"fields": ("template", "config_path", "provider", "credentials")},
            ),
            (
                "Where it runs",
                {"fields": ("master_address", "scheduler_link", "workers", "provider_state")},
            ),
            (
                "Overrides of the template",
                {
                    "classes": ("collapse",),
                    "fields": (
                        "master_image_id",
                        "node_image_id",
                        "master_instance_type",
                        "node_instance_type",
                    ),
                },
            ),
            ("Record", {"classes": ("collapse",), "fields": ("created", "modified")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # terminate instead: deleting the row would orphan the machines

    def save_model(self, request: HttpRequest, obj: Cluster, form: Any, change: bool) -> None:
        if not change:
            for warning in getattr(form, "config_warnings", []):
                messages.warning(request, f"Config file: {warning}")
            data = form.cleaned_data
            overrides = {
                field: data[field]
                for field in (
                    "master_image_id",
                    "node_image_id",
                    "master_instance_type",
                    "node_instance_type",
                )
                if data.get(field)
            }
            credentials = {}
            if data.get("aws_access_key_id_input"):
                credentials = {
                    "aws_access_key_id": data["aws_access_key_id_input"],
                    "aws_secret_access_key": data["aws_secret_access_key_input"],
                }
            if data.get("start_now"):
                record = service.start_cluster(
                    data["template"],
                    data["name"],
                    config_path=data.get("config_path") or None,
                    size=data.get("size") or None,
                    overrides=overrides,
                    credentials=credentials,
                )
                obj.pk = record.pk
                obj.refresh_from_db()
                return
            obj.provider = data["provider"]
            obj.size = data.get("size") or data["template_size"]
            obj.status = ClusterStatus.STOPPED
            obj.status_message = "created; use the Start action to start it"
            for field, value in credentials.items():
                setattr(obj, field, value)
            obj.save()
            return
        if "size" in form.changed_data:
            new_size = obj.size
            old = Cluster.objects.get(pk=obj.pk)
            if old.status == ClusterStatus.STOPPED:
                Cluster.objects.filter(pk=obj.pk).update(size=new_size)
            else:
                try:
                    _resize(request, obj.name, new_size)
                except _NothingToDo as exc:
                    messages.info(request, f"Cluster “{obj.name}”: {exc}")
                except TethysComputeError as exc:
                    messages.error(request, f"Cluster “{obj.name}”: {exc}")
            obj.refresh_from_db()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        busy = Cluster.objects.filter(status__in=Cluster.BUSY).exists()
        context = {**(extra_context or {}), "clusters_busy": busy, "reload_seconds": RELOAD_SECONDS}
        return super().changelist_view(request, extra_context=context)

    def response_add(
        self, request: HttpRequest, obj: Cluster, post_url_continue: Any = None
    ) -> HttpResponse:
        if obj.status == ClusterStatus.STARTING:
            text = "added; starting, progress is shown in the list."
        else:
            text = "added; not started (use the action “Start the selected clusters”)."
        messages.success(request, f"Cluster “{obj.name}”: {text}")
        return HttpResponseRedirect(reverse("admin:tethys_compute_cluster_changelist"))
