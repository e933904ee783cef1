"""The add and change pages of each scheduler kind (Condor, Dask).

They are reached from the Schedulers list (:mod:`tethys_compute.admin.schedulers`:
its "Add Condor scheduler" / "Add Dask scheduler" buttons and its links) and
are not listed separately on the admin index.  "Test connection" on a change
page refuses while the form has unsaved connection settings and asks to save
first, so stored credentials only ever go to the stored host and port.

Secrets are write-only (:mod:`tethys_compute.admin.forms`); the change views are
wrapped in ``sensitive_post_parameters`` so error reports never show them, and
history entries name changed fields, never their values.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.debug import sensitive_post_parameters

from tethys_compute.admin.forms import CondorSchedulerForm, DaskSchedulerForm, clear_field_name
from tethys_compute.admin.schedulers import HealthColumns, change_url, report, test_connection
from tethys_compute.dask.dashboard import dashboard_url
from tethys_compute.health_runner import check_schedulers
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler
from tethys_compute.models.condor import ENVIRONMENT_FIELDS
from tethys_compute.validators import split_host_port

#: POST parameters hidden from Django's error reports on every view below.
SENSITIVE_PARAMETERS: tuple[str, ...] = CondorScheduler.SECRET_FIELDS

#: Name of the change form's "Test connection" submit button.
TEST_BUTTON = "_test_connection"

#: Fields of a change form whose unsaved edits stop "Test connection".
_NOT_CONNECTION_FIELDS = frozenset({"name", "description"})

#: The change form's box that keeps stored credentials for a changed target (superusers).
KEEP_CREDENTIALS = "keep_credentials_for_new_target"

sensitive_post = method_decorator(sensitive_post_parameters(*SENSITIVE_PARAMETERS))


class KindAdmin(HealthColumns, admin.ModelAdmin):  # type: ignore[type-arg]
    """Shared behaviour of the add/change pages of each scheduler kind."""

    change_form_template = "admin/tethys_compute/scheduler_change_form.html"
    actions = [test_connection]
    list_display = ("name", "host", "health", "checked_at")
    search_fields = ("name", "host", "description")
    health_fields: tuple[str, ...] = ("health", "checked_at", "check_details")

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # Listed once, as "Schedulers", on the admin index; the pages still work.
        return {}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), *self.health_fields)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            return fieldsets
        # The add page: nothing has been tested yet.
        trimmed = []
        for name, options in fieldsets:
            fields = [f for f in options["fields"] if f not in self.health_fields]
            if fields:
                trimmed.append((name, {**options, "fields": fields}))
        return trimmed

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        extra = [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name=f"{opts.app_label}_{opts.model_name}_test_connection",
            )
        ]
        return extra + super().get_urls()

    @sensitive_post
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        if object_id is not None:
            opts = self.model._meta
            context["test_connection_url"] = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_test_connection", args=[object_id]
            )
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                context["dashboard_url"] = self.dashboard_url(obj)
        return super().changeform_view(request, object_id, form_url, context)

    def dashboard_url(self, obj: Scheduler) -> str | None:
        """A link for the change page's object tools; only Dask schedulers have one."""
        return None

    def response_post_save_add(self, request: HttpRequest, obj: Any) -> HttpResponseRedirect:
        return self._to_scheduler_list(request) or super().response_post_save_add(request, obj)

    def response_post_save_change(self, request: HttpRequest, obj: Any) -> HttpResponseRedirect:
        return self._to_scheduler_list(request) or super().response_post_save_change(request, obj)

    def _to_scheduler_list(self, request: HttpRequest) -> HttpResponseRedirect | None:
        base_admin = self.admin_site.get_model_admin(Scheduler)
        if not base_admin.has_view_or_change_permission(request):
            return None
        return HttpResponseRedirect(reverse("admin:tethys_compute_scheduler_changelist"))

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if not change:
            return form_class

        class TestConnectionGuard(form_class):  # type: ignore[misc, valid-type]
            """Refuses "Test connection" while connection settings have unsaved edits."""

            def clean(self) -> Any:
                cleaned = super().clean()
                if TEST_BUTTON in self.data:
                    unsaved = unsaved_connection_fields(self)
                    if unsaved:
                        raise forms.ValidationError(
                            "Not tested: you changed %(fields)s. Test connection uses only "
                            "the saved settings and stored credentials, so that they never "
                            "go to a host or port that is not saved. Your edits are still "
                            "in the form: press Save, then Test connection.",
                            params={"fields": ", ".join(unsaved)},
                            code="unsaved_connection",
                        )
                return cleaned

        TestConnectionGuard.__name__ = form_class.__name__
        return TestConnectionGuard

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        """No "No fields changed." history entry for a "Test connection" that changed nothing."""
        if TEST_BUTTON in request.POST and not message:
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        """After "Test connection" (the form saved only name/description), test and stay."""
        if TEST_BUTTON in request.POST:
            report(request, check_schedulers([obj]))
            return HttpResponseRedirect(change_url(obj))
        return super().response_change(request, obj)

    @sensitive_post
    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Test the saved record's connection (a bare POST) and go back to its change page.

        The change page's button submits the change form itself (see
        :meth:`get_form`); this URL serves scripts and links that test a record
        without a form.  It never reads connection settings from the request.
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            messages.warning(request, f"No {self.model._meta.verbose_name} with ID {object_id!r}.")
            return HttpResponseRedirect(reverse("admin:tethys_compute_scheduler_changelist"))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        report(request, check_schedulers([obj]))
        return HttpResponseRedirect(change_url(obj))


def unsaved_connection_fields(form: forms.BaseForm) -> list[str]:
    """Labels of the connection settings (not name/description) the bound form changes."""
    return [
        str(form.fields[name].label or name)
        for name in form.changed_data
        if name not in _NOT_CONNECTION_FIELDS
    ]


@admin.register(CondorScheduler)
class CondorSchedulerAdmin(KindAdmin):
    """Add and change pages of HTCondor schedulers, with write-only secrets."""

    form = CondorSchedulerForm
    # The secret inputs are the form's own write-only fields; the model's
    # (non-editable) secret fields must stay out of the generated form.
    exclude = CondorScheduler.SECRET_FIELDS
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        ("Submit host", {"fields": ("host", "port", "host_key")}),
        (
            "Log in",
            {
                "description": "Secrets are never shown. Leave a field empty to keep the "
                "stored value; tick its 'clear' box to remove it.",
                "fields": (
                    "username",
                    "password",
                    clear_field_name("password"),
                    "private_key_path",
                    "private_key",
                    clear_field_name("private_key"),
                    "private_key_pass",
                    clear_field_name("private_key_pass"),
                    KEEP_CREDENTIALS,
                ),
            },
        ),
        (
            "HTCondor on the submit host",
            {
                "description": "Only when HTCondor is not on the PATH of a non-interactive "
                "SSH session (a source install, a module system): set up before every "
                "command.",
                "fields": ENVIRONMENT_FIELDS,
            },
        ),
        ("Last connection test", {"fields": ("health", "checked_at", "check_details")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only pages render each field by reading the attribute, which
            # would decrypt a secret: show whether one is stored instead.
            return secret_states_only(fieldsets, CondorScheduler.SECRET_FIELDS)
        if obj is not None and request.user.is_superuser:  # type: ignore[union-attr]
            return fieldsets
        if obj is not None:
            # Only a superuser may send stored credentials to a new host.
            return [
                (
                    name,
                    {**options, "fields": [f for f in options["fields"] if f != KEEP_CREDENTIALS]},
                )
                for name, options in fieldsets
            ]
        # The add page: nothing is stored yet, so there is nothing to keep or clear.
        trimmed = []
        for name, options in fieldsets:
            fields = [
                f
                for f in options["fields"]
                if not str(f).startswith("clear_") and f != KEEP_CREDENTIALS
            ]
            if name == "Log in":
                options = {
                    **options,
                    "description": "Secrets are stored encrypted and are never shown again.",
                }
            trimmed.append((name, {**options, "fields": fields}))
        return trimmed

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        # A class made for this request: only a superuser's box is honoured.
        form_class.allow_keep_credentials = bool(request.user.is_superuser)  # type: ignore[union-attr]
        return form_class

    @admin.display(description="password")
    def password_state(self, obj: CondorScheduler) -> str:
        return secret_state(obj, "password")

    @admin.display(description="private key")
    def private_key_state(self, obj: CondorScheduler) -> str:
        return secret_state(obj, "private_key")

    @admin.display(description="private key passphrase")
    def private_key_pass_state(self, obj: CondorScheduler) -> str:
        return secret_state(obj, "private_key_pass")


def secret_state(obj: CondorScheduler, name: str) -> str:
    """ "stored (encrypted, not shown)" or "none": learnt without decrypting anything."""
    return "stored (encrypted, not shown)" if obj.pk and obj.has_secret(name) else "none"


def secret_states_only(fieldsets: Any, secrets: tuple[str, ...]) -> list[Any]:
    """The fieldsets with each secret replaced by its ``<name>_state`` display, no clear boxes.

    For pages rendered read-only (users without the change permission): Django
    renders a read-only field by reading the attribute, so a secret listed there
    would be decrypted into the page.
    """
    clears = {clear_field_name(name) for name in secrets}
    result = []
    for title, options in fieldsets:
        fields = [
            f"{f}_state" if f in secrets else f
            for f in options["fields"]
            if f not in clears and f != KEEP_CREDENTIALS
        ]
        if any(f in secrets for f in options["fields"]):
            options = {**options, "description": "Secrets are never shown."}
        result.append((title, {**options, "fields": fields}))
    return result


@admin.register(DaskScheduler)
class DaskSchedulerAdmin(KindAdmin):
    """Add and change pages of Dask schedulers, with a link to the dashboard."""

    form = DaskSchedulerForm
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        ("Scheduler", {"fields": ("host", "ssh_tunnel", "timeout", "heartbeat_interval")}),
        ("TLS", {"fields": ("tls_ca_file", "tls_cert_file", "tls_key_file")}),
        ("Dashboard", {"fields": ("dashboard", "dashboard_link")}),
        ("Last connection test", {"fields": ("health", "checked_at", "check_details")}),
    )
    health_fields = ("health", "checked_at", "check_details", "dashboard_link")

    def dashboard_url(self, obj: Scheduler) -> str | None:
        """The dashboard's URL from stored data only (no network while rendering).

        The ``dashboard`` field wins (``host:port`` becomes
        ``http://host:port/status``).  Otherwise the dashboard port that the
        last successful connection test learnt from the scheduler, on the
        scheduler's host.  (``DaskScheduler.dashboard_link`` may ask the
        scheduler over the network, so a page never calls it.)
        """
        stored = getattr(obj, "dashboard", "") or ""
        if stored:
            return dashboard_url(stored)
        details = (obj.last_check_details or {}).get("details") or {}
        port = details.get("dashboard_port")
        if not isinstance(port, int) or isinstance(port, bool):
            return None
        address = obj.host.split("://", 1)[-1]
        try:
            host, _port = split_host_port(address)
        except ValueError:
            return None
        if ":" in host:
            host = f"[{host}]"
        return dashboard_url(f"{host}:{port}")

    @admin.display(description="dashboard link")
    def dashboard_link(self, obj: DaskScheduler) -> SafeString | str:
        url = self.dashboard_url(obj)
        if not url:
            return "- (set the dashboard field, or test the connection to learn it)"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)
