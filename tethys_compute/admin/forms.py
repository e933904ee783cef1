"""Admin forms of tethys-compute, with write-only secret fields.

A secret (a Condor scheduler's password, private key text and key passphrase)
is never written into a page, not even masked: its input is always rendered
empty.  On saving, an empty input keeps the stored value, a typed value
replaces it, and a separate *clear* checkbox removes it.  Beside each input the
form says whether a value is stored, learnt from
:meth:`~tethys_compute.models.CondorScheduler.has_secret` (nothing is
decrypted to say so).

Changing host, port, username or host key needs the stored secrets again (the
model refuses otherwise); a superuser may instead tick *Keep the stored
credentials for the new host*.

Validation is the models' own (``full_clean``), so the admin shows the same
messages as the Python API and the command line.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from tethys_compute import crypto
from tethys_compute.exceptions import EncryptionKeyError
from tethys_compute.models import CondorScheduler, DaskScheduler
from tethys_compute.models.condor import ENVIRONMENT_FIELDS

#: Widget attributes that keep browsers from filling in saved passwords.
_NO_AUTOFILL = {"autocomplete": "new-password", "spellcheck": "false"}


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value (neither stored nor posted)."""

    def format_value(self, value: Any) -> str | None:
        return None


def clear_field_name(secret: str) -> str:
    """Name of the *clear* checkbox that goes with the secret field ``secret``."""
    return f"clear_{secret}"


def secret_field(
    label: str, widget: forms.Widget | None = None, *, strip: bool = False
) -> forms.CharField:
    """A write-only input: a password box (or ``widget``) that never shows a value."""
    return forms.CharField(
        label=label,
        required=False,
        strip=strip,
        widget=widget or forms.PasswordInput(render_value=False, attrs=_NO_AUTOFILL),
    )


def clear_box(what: str) -> forms.BooleanField:
    """The explicit checkbox that removes a stored secret."""
    return forms.BooleanField(label=f"Clear the stored {what}", required=False)


class CondorSchedulerForm(forms.ModelForm):  # type: ignore[type-arg]
    """Add/change form of a Condor scheduler; the secrets are write-only.

    The ``password``, ``private_key`` and ``private_key_pass`` inputs are empty
    on every page.  Leaving one empty keeps the stored value; ticking its
    ``clear_*`` box removes the stored value.
    """

    password = secret_field("Password")
    clear_password = clear_box("password")
    private_key = secret_field(
        "Private key", WriteOnlyTextarea(attrs={**_NO_AUTOFILL, "rows": 4, "cols": 70}), strip=True
    )
    clear_private_key = clear_box("private key")
    private_key_pass = secret_field("Private key passphrase")
    clear_private_key_pass = clear_box("passphrase")
    keep_credentials_for_new_target = forms.BooleanField(
        label="Keep the stored credentials for the new host",
        required=False,
        help_text="Changing host, port, username or host key needs the stored password, key "
        "and passphrase again; tick this to send the stored ones to the new target instead.",
    )

    #: Whether the user may tick ``keep_credentials_for_new_target`` (the admin sets it
    #: for superusers); otherwise the box is ignored.
    allow_keep_credentials: bool = False

    #: Secret form fields; each has a model field of the same name.
    SECRET_FIELDS: tuple[str, ...] = CondorScheduler.SECRET_FIELDS

    class Meta:
        model = CondorScheduler
        fields = (
            "name",
            "host",
            "port",
            "username",
            "private_key_path",
            "host_key",
            *ENVIRONMENT_FIELDS,
            "description",
        )
        help_texts = {
            "host": "Host name or IP address of the HTCondor submit host, without user or "
            "port (e.g. condor.example.com or 10.0.0.5).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance: CondorScheduler = self.instance
        for name in self.SECRET_FIELDS:
            if name not in self.fields:
                continue
            model_field = CondorScheduler._meta.get_field(name)
            assert isinstance(model_field, models.Field)
            label = model_field.verbose_name
            stored = instance.pk is not None and instance.has_secret(name)
            state = f"A {label} is stored." if stored else f"No {label} is stored."
            action = (
                "Leave empty to keep it; type a new value to replace it."
                if stored
                else "Type one to store it."
            )
            self.fields[name].help_text = f"{state} {action} {model_field.help_text}"
            clear = clear_field_name(name)
            if clear in self.fields and not stored:
                self.fields[clear].disabled = True
                self.fields[clear].help_text = "Nothing to clear."

    def secret_state(self, name: str) -> bool:
        """True when the record has the secret ``name`` stored (not decrypted)."""
        return self.instance.pk is not None and self.instance.has_secret(name)

    @method_decorator(sensitive_variables())
    def clean(self) -> dict[str, Any]:
        """Apply the secret inputs to the record before the model validates it."""
        cleaned = super().clean() or {}
        for name in self.SECRET_FIELDS:
            if name not in self.fields:
                continue
            new_value = cleaned.get(name) or ""
            clear = bool(cleaned.get(clear_field_name(name)))
            if new_value and clear:
                self.add_error(
                    clear_field_name(name),
                    "Either type a new value or tick 'clear', not both.",
                )
            elif new_value:
                try:
                    crypto.get_fernet()  # fail here, with the reason, not while saving
                except EncryptionKeyError as exc:
                    self.add_error(name, str(exc))
                    continue
                setattr(self.instance, name, new_value)
            elif clear:
                setattr(self.instance, name, None)
            # Empty and not cleared: the stored ciphertext stays as it is.
        if cleaned.get("keep_credentials_for_new_target") and self.allow_keep_credentials:
            self.instance.keep_credentials_for_new_target = True
        return cleaned


class DaskSchedulerForm(forms.ModelForm):  # type: ignore[type-arg]
    """Add/change form of a Dask scheduler (no secrets)."""

    class Meta:
        model = DaskScheduler
        fields = (
            "name",
            "host",
            "ssh_tunnel",
            "tls_ca_file",
            "tls_cert_file",
            "tls_key_file",
            "timeout",
            "heartbeat_interval",
            "dashboard",
            "description",
        )
        help_texts = {
            "host": "The scheduler's address: host:port, tcp://host:port or tls://host:port "
            "(e.g. tcp://10.0.0.5:8786).",
        }
