"""Django system checks of tethys-compute (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from tethys_compute import crypto
from tethys_compute.conf import SETTINGS_NAME, compute_settings
from tethys_compute.exceptions import ConfigurationError, EncryptionKeyError

_KEY_HINT = (
    "Create a key with `python manage.py compute_generate_key` and put it first in "
    f"{SETTINGS_NAME}['ENCRYPTION_KEYS'] (or in the environment variable "
    "TETHYS_COMPUTE_ENCRYPTION_KEYS)."
)


@register(Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Scheduler secrets need a valid encryption key; a missing one is an error in production."""
    try:
        keys = crypto.configured_keys()
    except (EncryptionKeyError, ConfigurationError) as exc:
        return [Error(str(exc), id="tethys_compute.E002")]
    if not keys:
        if settings.DEBUG:
            return [
                Warning(
                    "No encryption key for scheduler secrets is configured; saving a password "
                    "or private key will fail.",
                    hint=_KEY_HINT,
                    id="tethys_compute.W001",
                )
            ]
        return [
            Error(
                "No encryption key for scheduler secrets is configured.",
                hint=_KEY_HINT,
                id="tethys_compute.E001",
            )
        ]
    problems = crypto.validate_keys(keys)
    if problems:
        return [
            Error(
                "Malformed encryption key: " + "; ".join(problems) + ".",
                hint=_KEY_HINT,
                id="tethys_compute.E002",
            )
        ]
    return []


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Unknown keys in ``TETHYS_COMPUTE`` are probably typos."""
    try:
        unknown = compute_settings.unknown_keys()
    except ConfigurationError as exc:
        return [Error(str(exc), id="tethys_compute.E003")]
    return [
        Warning(
            f"{SETTINGS_NAME}[{key!r}] is not a tethys-compute setting and is ignored.",
            hint="Check the spelling against the settings reference in the documentation.",
            id="tethys_compute.W002",
        )
        for key in unknown
    ]
