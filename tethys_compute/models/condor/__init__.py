"""HTCondor schedulers: a submit host reached over SSH."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from tethys_compute import condor
from tethys_compute.condor.environment import CondorEnvironment, EnvironmentHost
from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    CondorNotInstalledError,
    SchedulerValidationError,
    TethysComputeError,
)
from tethys_compute.fields import EncryptedTextField, has_secret, is_new_secret
from tethys_compute.health import HealthResult
from tethys_compute.models.connections import ssh_target_for
from tethys_compute.models.scheduler import Scheduler
from tethys_compute.ssh import get_remote_host, ssh_health
from tethys_compute.validators import (
    validate_absolute_path,
    validate_port,
    validate_private_key_text,
    validate_public_host_key,
    validate_remote_path,
    validate_ssh_host,
    validate_ssh_username,
)

if TYPE_CHECKING:
    from tethys_compute.condor import (
        ActionResult,
        CondorVersion,
        DagStatus,
        JobInfo,
        SubmitResult,
    )
    from tethys_compute.remote import RemoteHost
    from tethys_compute.ssh import SSHTarget

#: Fields that set up HTCondor's environment on the submit host before every command.
ENVIRONMENT_FIELDS = ("remote_profile", "condor_bin_dir", "condor_config")

#: Fields that decide where and how the scheduler connects (the remote host cache key).
_CONNECTION_FIELDS = (
    "host",
    "port",
    "username",
    "private_key_path",
    "host_key",
    "password",
    "private_key",
    "private_key_pass",
    *ENVIRONMENT_FIELDS,
)


#: Fields that say where stored credentials go: changing one needs the secrets again.
TARGET_FIELDS: tuple[str, ...] = ("host", "port", "username", "host_key")


class CondorScheduler(Scheduler):
    """An HTCondor submit host that the portal reaches over SSH.

    ``host`` is a host name or IP address (no scheme, no port); ``port`` is the
    SSH port.  Authenticate with ``password``, or with a private key given as
    ``private_key_path`` (a file on the portal host) or ``private_key`` (the
    key's text), optionally protected by ``private_key_pass``.  ``password``,
    ``private_key`` and ``private_key_pass`` are encrypted at rest.

    When HTCondor is not on the ``PATH`` of a non-interactive SSH session,
    ``remote_profile`` (a file to source), ``condor_bin_dir`` and
    ``condor_config`` set up its environment before every remote command.
    """

    TARGET_FIELDS = TARGET_FIELDS

    KIND: ClassVar[str] = "condor"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("password", "private_key", "private_key_pass")

    #: Set to ``True`` on the object before saving to keep its stored secrets when
    #: host, port, username or host key changed (see :meth:`secrets_for_new_target`);
    #: it applies to the next save only.  The admin offers it to superusers only.
    keep_credentials_for_new_target: bool = False

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
    remote_profile = models.CharField(
        "environment file",
        max_length=1024,
        blank=True,
        default="",
        validators=[validate_remote_path],
        help_text="Absolute path, on the submit host, of a shell file sourced before every "
        "HTCondor command (e.g. /etc/profile.d/condor.sh, or a script that runs 'module load "
        "htcondor'). Empty: none.",
    )
    condor_bin_dir = models.CharField(
        "HTCondor bin directory",
        max_length=1024,
        blank=True,
        default="",
        validators=[validate_remote_path],
        help_text="Absolute path, on the submit host, of HTCondor's bin directory, put first "
        "on PATH for every command; for an HTCondor that a non-interactive SSH session does "
        "not find (e.g. /opt/condor/bin). Empty: the account's PATH.",
    )
    condor_config = models.CharField(
        "CONDOR_CONFIG",
        max_length=1024,
        blank=True,
        default="",
        validators=[validate_remote_path],
        help_text="Absolute path, on the submit host, exported as CONDOR_CONFIG for every "
        "command (e.g. /opt/condor/etc/condor_config). Empty: HTCondor's default.",
    )

    class Meta:
        verbose_name = "Condor scheduler"
        verbose_name_plural = "Condor schedulers"

    def clean_fields(self, exclude: Any = None) -> None:
        for name in ("username", "private_key_path", "host_key", *ENVIRONMENT_FIELDS):
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
        if self.username:
            try:
                validate_ssh_username(self.username)
            except ValidationError as exc:
                errors.setdefault("username", []).extend(exc.messages)
        if self.host_key:
            try:
                validate_public_host_key(self.host_key)
            except ValidationError as exc:
                errors.setdefault("host_key", []).extend(exc.messages)
        has_password = self.has_secret("password")
        has_key_text = self.has_secret("private_key")
        if not (has_password or self.private_key_path or has_key_text):
            errors.setdefault("__all__", []).append(
                "Give a way to log in: a password, a private key path (private_key_path), or "
                "the private key itself (private_key)."
            )
        if self.private_key_path and has_key_text:
            errors.setdefault("private_key", []).append(
                "Give either private_key_path or private_key, not both."
            )
        if self.has_new_secret("private_key"):
            # Only a value typed now is checked: a stored one was checked when it
            # was stored, and reading it would need the encryption key.
            try:
                validate_private_key_text(self.private_key or "")
            except ValidationError as exc:
                errors.setdefault("private_key", []).extend(exc.messages)
        if self.has_secret("private_key_pass") and not (self.private_key_path or has_key_text):
            errors.setdefault("private_key_pass", []).append(
                "A passphrase was given without a private key; set private_key_path or "
                "private_key too."
            )
        moving = self.secrets_for_new_target()
        if moving:
            errors.setdefault("__all__", []).append(self._new_target_message(*moving, api=False))
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; refused while stored secrets would go to a changed target.

        Raises
        ------
        tethys_compute.exceptions.SchedulerValidationError
            When host, port, username or host key changed and a stored secret
            was neither given again nor cleared (and
            :attr:`keep_credentials_for_new_target` is not set).
        """
        update_fields = kwargs.get("update_fields")
        writes_target = update_fields is None or bool(set(update_fields) & set(TARGET_FIELDS))
        moving = self.secrets_for_new_target() if writes_target else None
        if moving:
            raise SchedulerValidationError(
                self.name, {"__all__": [self._new_target_message(*moving, api=True)]}
            )
        super().save(*args, **kwargs)
        self.keep_credentials_for_new_target = False

    def secrets_for_new_target(self) -> tuple[list[str], list[str]] | None:
        """The changed target fields and the stored secrets that would go there, if any.

        A secret given again on this object (plain text) or cleared does not
        count; nothing is decrypted.  ``None`` when the record is new, its
        target is unchanged, no stored secret would move, or
        :attr:`keep_credentials_for_new_target` is set.
        """
        if self.pk is None or self.keep_credentials_for_new_target:
            return None
        saved = type(self).objects.filter(pk=self.pk).values(*TARGET_FIELDS).first()
        if saved is None:
            return None
        changed = [
            name
            for name in TARGET_FIELDS
            if str(getattr(self, name) or "").strip() != str(saved[name] or "").strip()
        ]
        if not changed:
            return None
        kept = [
            name
            for name in self.SECRET_FIELDS
            if self.has_secret(name) and not self.has_new_secret(name)
        ]
        return (changed, kept) if kept else None

    @staticmethod
    def _new_target_message(changed: list[str], kept: list[str], *, api: bool) -> str:
        """Why a changed target is refused, and the way out (the form's or the API's)."""
        keep = (
            "set keep_credentials_for_new_target = True before save()"
            if api
            else "a superuser ticks 'Keep the stored credentials for the new host'"
        )
        return (
            f"You changed {', '.join(changed)}: give {', '.join(kept)} again, or clear it. "
            f"Stored credentials only go to the host they were given for; to keep them for "
            f"the new host, {keep}."
        )

    def has_secret(self, name: str) -> bool:
        """True when the secret field ``name`` holds a value (it is not decrypted)."""
        return has_secret(self, name)

    def has_new_secret(self, name: str) -> bool:
        """True when ``name`` holds plain text given to this object (not loaded; not decrypted)."""
        return is_new_secret(self, name)

    # ------------------------------------------------------------------
    # Reaching the submit host
    # ------------------------------------------------------------------
    def _connection_key(self) -> tuple[Any, ...]:
        # Raw values: stored secrets stay encrypted (StoredSecret compares by ciphertext).
        return tuple(self.__dict__.get(name) for name in _CONNECTION_FIELDS)

    def ssh_target(self) -> SSHTarget:
        """Where and how to log in, as a plain :class:`~tethys_compute.ssh.SSHTarget`."""
        return ssh_target_for(self)

    def get_remote_host(self) -> RemoteHost:
        """The submit host as a :class:`~tethys_compute.remote.RemoteHost` (SSH).

        The object is kept on the record until a connection field changes; the
        SSH layer behind it keeps one connection per target per process.

        Examples
        --------
        >>> scheduler.get_remote_host().run(["condor_version"]).ok  # doctest: +SKIP
        True
        """
        key = self._connection_key()
        cached = self.__dict__.get("_remote_host_cache")
        if cached is not None and cached[0] == key:
            return cached[1]  # type: ignore[no-any-return]
        host = self._in_environment(get_remote_host(self))
        self.__dict__["_remote_host_cache"] = (key, host)
        return host

    def condor_environment(self) -> CondorEnvironment:
        """What every remote command sets up first (``remote_profile``, ``condor_bin_dir``,
        ``condor_config``); empty when none is set."""
        return CondorEnvironment(
            profile=self.remote_profile or "",
            bin_dir=self.condor_bin_dir or "",
            condor_config=self.condor_config or "",
        )

    def _in_environment(self, host: RemoteHost) -> RemoteHost:
        environment = self.condor_environment()
        return EnvironmentHost(host, environment) if environment else host

    @property
    def remote(self) -> RemoteHost:
        """Shortcut for :meth:`get_remote_host`."""
        return self.get_remote_host()

    def test_connection(self) -> HealthResult:
        """Check SSH (reachable, host key, authentication), ``condor_version`` and the schedd.

        The SSH steps come from :func:`tethys_compute.ssh.ssh_health`; then one
        round trip runs ``condor_version`` and ``condor_q -total``.  Bounded by
        ``TETHYS_COMPUTE['HEALTH_CHECK_TIMEOUT']``; never raises for a failed step.

        Returns
        -------
        HealthResult
            ``versions['htcondor']`` holds HTCondor's version when it answered.

        Examples
        --------
        >>> scheduler.test_connection().summary  # doctest: +SKIP
        'OK (0.9 ms)'
        """
        bound = float(compute_settings.HEALTH_CHECK_TIMEOUT)
        started = time.monotonic()
        result = HealthResult(target=f"Condor scheduler {self.name!r}")
        try:
            target = self.ssh_target()
        except TethysComputeError as exc:
            result.failed("credentials", str(exc))
            return result.finish()
        ssh_host = ssh_health(target, result)
        if ssh_host is None:
            return result.finish()
        host = self._in_environment(ssh_host)
        remaining = bound - (time.monotonic() - started)
        if remaining <= 0.5:
            result.failed("condor_version", f"no time left within {bound:g} s")
            return result.finish()
        try:
            version, queue = condor.check_condor(host, timeout=remaining)
        except CondorNotInstalledError as exc:
            result.failed("condor_version", str(exc))
            return result.finish()
        except TethysComputeError as exc:
            result.failed("condor_version", str(exc))
            return result.finish()
        detail = f"HTCondor {version.version}"
        if version.platform:
            detail += f" on {version.platform}"
        result.passed("condor_version", detail)
        result.versions["htcondor"] = version.version
        if queue.ok:
            result.passed("schedd answering", "condor_q -total exited 0")
        else:
            message = " ".join(queue.stderr.split())[:300] or "no message"
            result.failed("schedd answering", f"condor_q exited {queue.exit_status}: {message}")
        return result.finish()

    # ------------------------------------------------------------------
    # HTCondor operations (see tethys_compute.condor)
    # ------------------------------------------------------------------
    def condor_version(self) -> CondorVersion:
        """HTCondor's version on the submit host."""
        return condor.condor_version(self.get_remote_host())

    def submit(
        self,
        description: str | Mapping[str, Any] | Any,
        input_files: Any = (),
        remote_dir: str | None = None,
    ) -> SubmitResult:
        """Submit a job; see :func:`tethys_compute.condor.submit`."""
        return condor.submit(self.get_remote_host(), description, input_files, remote_dir)

    def submit_dag(
        self,
        dag: str | Any,
        files: Mapping[str, Any] | None = None,
        input_files: Any = (),
        remote_dir: str | None = None,
    ) -> SubmitResult:
        """Submit a DAG; see :func:`tethys_compute.condor.submit_dag`."""
        return condor.submit_dag(self.get_remote_host(), dag, files, input_files, remote_dir)

    def job_statuses(self, ids: Iterable[str | int]) -> dict[str, JobInfo]:
        """Status of many jobs in one round trip; see :func:`tethys_compute.condor.job_statuses`."""
        return condor.job_statuses(self.get_remote_host(), ids)

    def dag_status(self, dag_id: str | int) -> DagStatus:
        """A DAG's DAGMan job and node jobs; see :func:`tethys_compute.condor.dag_status`."""
        return condor.dag_status(self.get_remote_host(), dag_id)

    def wait(self, ids: str | int | Iterable[str | int], timeout: float) -> dict[str, JobInfo]:
        """Wait, bounded, for jobs to finish; see :func:`tethys_compute.condor.wait`."""
        return condor.wait(self.get_remote_host(), ids, timeout)

    def remove(
        self, ids: str | int | Iterable[str | int], reason: str | None = None
    ) -> ActionResult:
        """Remove jobs (``condor_rm``); see :func:`tethys_compute.condor.remove`."""
        return condor.remove(self.get_remote_host(), ids, reason=reason)

    def hold(self, ids: str | int | Iterable[str | int], reason: str | None = None) -> ActionResult:
        """Hold jobs (``condor_hold``); see :func:`tethys_compute.condor.hold`."""
        return condor.hold(self.get_remote_host(), ids, reason=reason)

    def release(
        self, ids: str | int | Iterable[str | int], reason: str | None = None
    ) -> ActionResult:
        """Release held jobs (``condor_release``); see :func:`tethys_compute.condor.release`."""
        return condor.release(self.get_remote_host(), ids, reason=reason)

    def fetch_outputs(
        self, remote_dir: str, names: Iterable[str] | None, local_dir: str | Path
    ) -> list[Path]:
        """Copy output files back; see :func:`tethys_compute.condor.fetch_outputs`."""
        return condor.fetch_outputs(self.get_remote_host(), remote_dir, names, local_dir)

    def clean_remote_dir(self, remote_dir: str) -> None:
        """Delete a job's remote working directory; see :func:`tethys_compute.condor.clean`.

        (Not ``clean``: that name is Django's model validation.)
        """
        condor.clean(self.get_remote_host(), remote_dir)
