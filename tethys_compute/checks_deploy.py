"""Deployment checks of tethys-compute (``manage.py check --deploy``).

Settings that are fine on a laptop and risky on a server:

``tethys_compute.W010``
    ``SSH_TRUST_ON_FIRST_USE`` is on: an attacker on the path at the first
    connection has their host key pinned.
``tethys_compute.W011``
    ``JOB_CALLBACK_BASE_URL`` is plain ``http://`` to a host that is not
    loopback: callback tokens cross the network in clear text.
``tethys_compute.W012``
    ``JOB_CALLBACK_MAX_AGE`` is longer than :data:`LONG_CALLBACK_AGE`: a leaked
    callback URL stays usable that long (while its job is active).
``tethys_compute.W013``
    The ``ENCRYPTION_KEY_FILE`` may be read (or written) by users other than
    its owner.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from typing import Any
from urllib.parse import urlsplit

from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning

from tethys_compute.conf import SETTINGS_NAME, compute_settings

__all__ = ["LONG_CALLBACK_AGE", "check_deploy_settings"]

#: Longest ``JOB_CALLBACK_MAX_AGE`` (seconds) that is not warned about: 30 days.
LONG_CALLBACK_AGE = 30 * 24 * 3600


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _trust_on_first_use() -> list[CheckMessage]:
    if not compute_settings.SSH_TRUST_ON_FIRST_USE:
        return []
    return [
        CheckWarning(
            f"{SETTINGS_NAME}['SSH_TRUST_ON_FIRST_USE'] is True: the first SSH connection to "
            "a new host accepts whatever host key it is shown and pins it, so whoever sits on "
            "the network path then can read the credentials sent to that host.",
            hint="Set it to False and add the hosts' keys to SSH_KNOWN_HOSTS (ssh-keyscan, "
            "checked against the host) or to each scheduler's host_key.",
            id="tethys_compute.W010",
        )
    ]


def _callback_url() -> list[CheckMessage]:
    base = compute_settings.JOB_CALLBACK_BASE_URL
    if not base:
        return []
    parts = urlsplit(str(base))
    if parts.scheme != "http" or _is_loopback(parts.hostname or ""):
        return []
    return [
        CheckWarning(
            f"{SETTINGS_NAME}['JOB_CALLBACK_BASE_URL'] is {parts.scheme}://{parts.hostname}: "
            "jobs send their callback token over plain HTTP, where anyone on the path can read "
            "it and report false statuses for the job.",
            hint="Serve the callback URL over https:// (or keep it on a loopback address).",
            id="tethys_compute.W011",
        )
    ]


def _callback_age() -> list[CheckMessage]:
    try:
        age = float(compute_settings.JOB_CALLBACK_MAX_AGE)
    except (TypeError, ValueError):
        age = float("inf")
    if age <= LONG_CALLBACK_AGE:
        return []
    return [
        CheckWarning(
            f"{SETTINGS_NAME}['JOB_CALLBACK_MAX_AGE'] is {compute_settings.JOB_CALLBACK_MAX_AGE!r}"
            f" seconds, more than {LONG_CALLBACK_AGE // 86400} days: a leaked callback URL can "
            "report for its job that long.",
            hint="Use the longest time a job runs (default 7 days); the refresher keeps "
            "longer jobs up to date.",
            id="tethys_compute.W012",
        )
    ]


def _key_file() -> list[CheckMessage]:
    path = compute_settings.ENCRYPTION_KEY_FILE
    if not path:
        return []
    try:
        info = os.stat(os.path.expanduser(str(path)))
    except OSError:
        return []  # a missing or unreadable file is the encryption check's error
    loose = info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    foreign = hasattr(os, "geteuid") and info.st_uid != os.geteuid()
    if not loose and not foreign:
        return []
    why = f"mode {stat.S_IMODE(info.st_mode):04o}" if loose else "owned by another user"
    return [
        CheckWarning(
            f"{SETTINGS_NAME}['ENCRYPTION_KEY_FILE'] {path} is {why}: whoever can read it can "
            "decrypt every stored password and private key.",
            hint=f"chmod 600 {path}, owned by the account that runs the portal.",
            id="tethys_compute.W013",
        )
    ]


@register(Tags.security, deploy=True)
def check_deploy_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about settings that weaken a deployed portal (see the module notes)."""
    return [*_trust_on_first_use(), *_callback_url(), *_callback_age(), *_key_file()]
