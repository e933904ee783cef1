"""Settings of tethys-compute: one namespaced dict, ``TETHYS_COMPUTE``.

Nothing else in the package reads :mod:`django.conf.settings` for our keys.
Read a value as ``compute_settings.SSH_CONNECT_TIMEOUT``; a key missing from the
project's ``TETHYS_COMPUTE`` falls back to :data:`DEFAULTS`.  The cache is
dropped when Django's ``setting_changed`` signal fires (``override_settings``
in tests).

Defaults
--------
ENCRYPTION_KEYS : list of str or None
    Fernet keys (urlsafe base64, 32 bytes), newest first.  The first one
    encrypts; all of them decrypt, so keys can be rotated.  Kept apart from
    ``SECRET_KEY`` on purpose.
ENCRYPTION_KEYS_ENV : str
    Name of an environment variable read when ``ENCRYPTION_KEYS`` is unset;
    it holds the keys separated by commas.  Default
    ``"TETHYS_COMPUTE_ENCRYPTION_KEYS"``.
ENCRYPTION_KEY_FILE : str or None
    A file with one key per line (newest first), read when neither of the
    above is set.  ``make demo`` writes one for itself.
DASK_CONNECT_TIMEOUT : float
    Seconds to wait for a Dask scheduler when a record has no ``timeout``.
DASK_TLS_CA_FILE, DASK_TLS_CERT_FILE, DASK_TLS_KEY_FILE : str or None
    Certificate files for ``tls://`` Dask addresses.
DASK_CLUSTER_TLS_DIR : str
    Folder where ``htcondor`` clusters keep the portal's certificate, key and
    CA certificate (one owner-only sub-folder per cluster).  Default
    ``~/.tethys-compute/dask-tls``.
SSH_CONNECT_TIMEOUT, SSH_BANNER_TIMEOUT, SSH_AUTH_TIMEOUT : float
    Seconds for the TCP connect, the SSH banner and authentication.
SSH_COMMAND_TIMEOUT : float
    Seconds a remote command may run before it is abandoned.
SSH_KNOWN_HOSTS : str
    The portal's known_hosts file used to verify SSH host keys.
SSH_TRUST_ON_FIRST_USE : bool
    Accept an unknown host key once and pin it on the record.  Off by default;
    ``check --deploy`` warns when it is on (``tethys_compute.W010``).
SSH_MAX_SESSIONS : int
    Remote shell sessions kept open per SSH connection; this many commands
    run at once on one host, more wait for a free session.  Keep it below
    the server's ``MaxSessions`` (10 by default in OpenSSH).
HEALTH_CHECK_TIMEOUT : float
    Upper bound, in seconds, of one "test connection".
CONDOR_REMOVE_WAIT : float
    Most seconds a Condor job's clean-up (``delete()``, ``resubmit()``) waits
    for a removed job to leave the queue before deleting its remote directory
    (HTCondor writes the abort event there, re-creating the directory).
CONDOR_HISTORY_SCAN_LIMIT : int
    Most ``condor_history`` records one status refresh reads, newest first
    (``-scanlimit``), so that a refresh stays fast on a schedd with years of
    history.  A job that left the queue more than that many jobs ago is
    reported as not found (its status is kept) instead.
JOB_REFRESH_CHUNK : int
    Most active jobs of one scheduler a status refresh asks about in one
    round trip, and holds in memory at once; a scheduler with more is asked
    in chunks of this size, one round trip each.
JOB_REFRESH_INTERVAL : float
    Seconds between status refreshes of ``compute_refresh --loop``.
JOB_CALLBACK_MAX_AGE : int
    Seconds a job's signed status callback URL stays valid (and never once
    the job has finished).  ``check --deploy`` warns above 30 days
    (``tethys_compute.W012``).
JOB_CALLBACK_BASE_URL : str or None
    The portal's address as jobs reach it (``https://portal.example.com``);
    job managers created without ``callback_base_url`` use it, and jobs then
    push their status to a signed URL under it.  None: jobs are polled only.
    ``check --deploy`` warns for ``http://`` to a host that is not loopback
    (``tethys_compute.W011``).
RESULTS_MAX_ATTEMPTS : int
    How many times the refresher runs a job's results callback that fails
    (the job stays Results-Ready, with the error); after that only an
    explicit ``process_results()`` or ``jobs refresh ID`` tries again.
RESULTS_RETRY_DELAY : float
    Seconds before the first retry of a failed results callback; doubled
    after each failure (at most one hour).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from tethys_compute.exceptions import ConfigurationError

SETTINGS_NAME = "TETHYS_COMPUTE"

DEFAULTS: dict[str, Any] = {
    "ENCRYPTION_KEYS": None,
    "ENCRYPTION_KEYS_ENV": "TETHYS_COMPUTE_ENCRYPTION_KEYS",
    "ENCRYPTION_KEY_FILE": None,
    "DASK_CONNECT_TIMEOUT": 10.0,
    "DASK_TLS_CA_FILE": None,
    "DASK_TLS_CERT_FILE": None,
    "DASK_TLS_KEY_FILE": None,
    "DASK_CLUSTER_TLS_DIR": os.path.join("~", ".tethys-compute", "dask-tls"),
    "SSH_CONNECT_TIMEOUT": 10.0,
    "SSH_BANNER_TIMEOUT": 10.0,
    "SSH_AUTH_TIMEOUT": 10.0,
    "SSH_COMMAND_TIMEOUT": 60.0,
    "SSH_KNOWN_HOSTS": os.path.join("~", ".ssh", "known_hosts"),
    "SSH_TRUST_ON_FIRST_USE": False,
    "SSH_MAX_SESSIONS": 4,
    "HEALTH_CHECK_TIMEOUT": 15.0,
    "CONDOR_REMOVE_WAIT": 30.0,
    "CONDOR_HISTORY_SCAN_LIMIT": 10000,
    "JOB_REFRESH_CHUNK": 5000,
    "JOB_REFRESH_INTERVAL": 30.0,
    "JOB_CALLBACK_MAX_AGE": 7 * 24 * 3600,
    "JOB_CALLBACK_BASE_URL": None,
    "RESULTS_MAX_ATTEMPTS": 5,
    "RESULTS_RETRY_DELAY": 60.0,
}


class ComputeSettings:
    """Attribute access to ``settings.TETHYS_COMPUTE`` with defaults."""

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self._defaults = defaults if defaults is not None else DEFAULTS
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, SETTINGS_NAME, None) or {}
        if not isinstance(value, dict):
            raise ConfigurationError(
                f"settings.{SETTINGS_NAME} must be a dict, not {type(value).__name__}."
            )
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(f"Unknown {SETTINGS_NAME} setting: {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, self._defaults[name])
        return self._cache[name]

    def unknown_keys(self) -> list[str]:
        """Keys of ``TETHYS_COMPUTE`` that are not settings (probably typos)."""
        return sorted(set(self.user_settings) - set(self._defaults))

    def reload(self) -> None:
        self._cache.clear()


compute_settings = ComputeSettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        compute_settings.reload()
