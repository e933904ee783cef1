"""HTCondor schedulers: a submit host reached over SSH."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from tethys_compute.fields import EncryptedTextField, has_secret
from tethys_compute.models.scheduler import Scheduler
from tethys_compute.validators import (
    validate_absolute_path,
    validate_port,
    validate_private_key_text,
    validate_ssh_host,
)


class CondorScheduler(Scheduler):
    """An HTCondor submit host that the portal reaches over SSH.

    ``host`` is a host name or IP address (no scheme, no port); ``port`` is the
    SSH port.  Authenticate with ``password``, or with a private key given as
    ``private_key_path`` (a file on the portal host) or ``private_key`` (the
    key's text), optionally protected by ``private_key_pass``.  ``password``,
    ``private_key`` and ``private_key_pass`` are encrypted at rest.
    """

    KIND: ClassVar[str] = "condor"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("password", "private_key", "private_key_pass")

    port = models.PositiveIntegerField(
        "SSH port",
        default=22,
        validators=[validate_port],
        help_text="SSH port of the submit host (22 unless the host says otherwise).",
    )
    username = models.CharField(
        "username",
        max_length=255,
        blank=True,
        default="",
        help_text="Account on the submit host that submits the jobs.",
    )
    password = EncryptedTextField(
        "password", help_text="SSH password of that account. Stored encrypted."
    )
    private_key_path = models.CharField(
        "private key path",
        max_length=1024,
        blank=True,
        default="",
        validators=[validate_absolute_path],
        help_text="Absolute path, on the portal host, of the SSH private key file.",
    )
    private_key = EncryptedTextField(
        "private key",
        help_text="The SSH private key itself (instead of a path), e.g. from a secrets "
        "store. Stored encrypted.",
    )
    private_key_pass = EncryptedTextField(
        "private key passphrase",
        help_text="Passphrase of the private key, if it has one. Stored encrypted.",
    )
    host_key = models.TextField(
        "pinned host key",
        blank=True,
        default="",
        help_text="The submit host's public SSH host key ('ssh-ed25519 AAAA...'). When set, "
        "only this key is accepted; otherwise the portal's known_hosts file decides.",
    )

    class Meta:
        verbose_name = "Condor scheduler"
        verbose_name_plural = "Condor schedulers"

    def clean_fields(self, exclude: Any = None) -> None:
        for name in ("username", "private_key_path", "host_key"):
            value = getattr(self, name)
            if value is None:
                setattr(self, name, "")
            elif isinstance(value, str):
                setattr(self, name, value.strip())
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, list[str]] = {}
        try:
            validate_ssh_host(self.host)
        except ValidationError as exc:
            errors.setdefault("host", []).extend(exc.messages)
        has_password = self.has_secret("password")
        has_key_text = self.has_secret("private_key")
        if not (has_password or self.private_key_path or has_key_text):
            errors.setdefault("__all__", []).append(
                "Give a way to log in: a password, a private_key_path or a private_key."
            )
        if self.private_key_path and has_key_text:
            errors.setdefault("private_key", []).append(
                "Give either private_key_path or private_key, not both."
            )
        if has_key_text:
            try:
                validate_private_key_text(self.private_key or "")
            except ValidationError as exc:
                errors.setdefault("private_key", []).extend(exc.messages)
        if self.has_secret("private_key_pass") and not (self.private_key_path or has_key_text):
            errors.setdefault("private_key_pass", []).append(
                "A passphrase was given without a private key; set private_key_path or "
                "private_key too."
            )
        if errors:
            raise ValidationError(errors)

    def has_secret(self, name: str) -> bool:
        """True when the secret field ``name`` holds a value (it is not decrypted)."""
        return has_secret(self, name)
