"""The one error hierarchy of tethys-compute.

Every error derives from :class:`TethysComputeError` and also from the builtin
that callers of Tethys Platform already catch: :class:`ValueError` for bad
arguments, :class:`LookupError` for missing records, :class:`ConnectionError`
and :class:`TimeoutError` for systems that cannot be reached.  Messages say
what was wrong, which field, and what to do; they never contain a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db.models.deletion import ProtectedError


class TethysComputeError(Exception):
    """Base class of every error raised by tethys-compute."""


# --------------------------------------------------------------------------
# Bad arguments and records
# --------------------------------------------------------------------------
class InvalidArgumentError(TethysComputeError, ValueError):
    """An argument has the wrong type or value, or is not known at all."""


class UnknownArgumentError(InvalidArgumentError, TypeError):
    """A keyword argument that the function does not take.

    Also a :class:`TypeError`, which is what Python raises for an unexpected
    keyword argument.
    """

    def __init__(self, func: str, unknown: Iterable[str], valid: Iterable[str]) -> None:
        self.func = func
        self.unknown = sorted(unknown)
        self.valid = sorted(valid)
        names = ", ".join(repr(n) for n in self.unknown)
        super().__init__(
            f"{func}() got unknown keyword argument(s) {names}; "
            f"valid keyword arguments are: {', '.join(self.valid)}."
        )


class SchedulerValidationError(InvalidArgumentError):
    """A scheduler's fields did not validate; nothing was saved.

    ``errors`` maps each field name to a list of messages.
    """

    def __init__(self, name: str, errors: Mapping[str, list[str]]) -> None:
        self.name = name
        self.errors = {field: list(msgs) for field, msgs in errors.items()}
        parts = []
        for field, msgs in self.errors.items():
            label = "scheduler" if field == "__all__" else f"field {field!r}"
            parts.append(f"{label}: {' '.join(str(m) for m in msgs)}")
        super().__init__(f"Scheduler {name!r} is not valid; nothing was saved. " + "; ".join(parts))


class SchedulerConflictError(InvalidArgumentError):
    """A scheduler with this name exists with different settings."""

    def __init__(
        self,
        name: str,
        fields: Iterable[str],
        kind: str | None = None,
        existing_name: str | None = None,
    ) -> None:
        self.name = name
        self.fields = sorted(fields)
        self.existing_name = existing_name
        if existing_name is not None and existing_name != name:
            message = (
                f"A scheduler named {existing_name!r} already exists, and names are compared "
                f"without regard to case, so {name!r} cannot be created. Nothing was changed. "
                f"Use get_scheduler({existing_name!r}), or choose another name."
            )
        else:
            if kind is not None:
                detail = f"it is a {kind} scheduler"
            else:
                detail = "these fields differ: " + ", ".join(self.fields)
            message = (
                f"A scheduler named {name!r} already exists and {detail}. Nothing was changed. "
                "Choose another name, or update the existing record (get_scheduler(name)) "
                "and save it."
            )
        super().__init__(message)


class SchedulerNotFoundError(TethysComputeError, LookupError):
    """No scheduler has the given name."""


class ClusterNotFoundError(TethysComputeError, LookupError):
    """No cluster has the given name."""


class JobNotFoundError(TethysComputeError, LookupError):
    """No job has the given id (for this user and label)."""


class RemoteImportError(TethysComputeError, ImportError):
    """The job's code cannot be imported where it must run (a Dask scheduler or worker).

    The message names the module, the side (scheduler or which workers) and
    how to make the code available there.
    """


class InvalidStatusTransition(TethysComputeError, ValueError):
    """A job was asked to move to a status it cannot reach from its current one."""


class JobActionNotSupported(InvalidStatusTransition, NotImplementedError):
    """The job's kind cannot do this at all (pausing a Dask job).

    Also a ``NotImplementedError``, what Tethys Platform raises there.
    """


class SchedulerInUseError(TethysComputeError, ValueError, ProtectedError):
    """A scheduler cannot be deleted while jobs are still active on it.

    Also Django's :class:`~django.db.models.ProtectedError`
    (``protected_objects`` are the active jobs), so the admin's "cannot
    delete" page lists them and callers catching ProtectedError still do.
    """

    def __init__(self, schedulers: Iterable[str], jobs: Iterable[object]) -> None:
        self.schedulers = sorted(set(schedulers))
        self.jobs = list(jobs)
        shown = ", ".join(
            f"{getattr(job, 'pk', '?')} ({getattr(job, 'name', '')!r})" for job in self.jobs[:10]
        )
        more = f" and {len(self.jobs) - 10} more" if len(self.jobs) > 10 else ""
        names = ", ".join(repr(name) for name in self.schedulers) or "the scheduler"
        message = (
            f"Cannot delete scheduler {names}: {len(self.jobs)} job(s) are still active on it "
            f"(id (name): {shown}{more}). Stop them (`manage.py jobs stop ID...`; where the "
            "scheduler does not answer they are marked Aborted here), or remove it with "
            "`manage.py schedulers remove NAME --stop-jobs`, or wait until they finish; "
            "finished jobs keep their history."
        )
        ProtectedError.__init__(self, message, set(self.jobs))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------
# Configuration and secrets
# --------------------------------------------------------------------------
class ConfigurationError(TethysComputeError, RuntimeError):
    """A ``TETHYS_COMPUTE`` setting is missing or malformed."""


class EncryptionKeyError(ConfigurationError):
    """No usable encryption key: secrets cannot be encrypted or decrypted.

    Raised instead of ever returning ciphertext as if it were the secret.
    """


# --------------------------------------------------------------------------
# Reaching schedulers
# --------------------------------------------------------------------------
class SchedulerConnectionError(TethysComputeError, ConnectionError):
    """A scheduler could not be reached or did not answer."""


class SchedulerTimeoutError(SchedulerConnectionError, TimeoutError):
    """A scheduler did not answer within the configured time."""


# Dask (Tethys Platform's names) -------------------------------------------
class DaskJobException(TethysComputeError):
    """Tethys Platform's Dask error: a Dask scheduler's client cannot be had.

    Importable from Tethys' path,
    ``tethys_compute.models.dask.dask_job_exception``; the errors below derive
    from it, so ``except DaskJobException`` around ``scheduler.client`` works
    as in Tethys.
    """


class DaskSchedulerConnectionError(SchedulerConnectionError, DaskJobException):
    """A Dask scheduler could not be reached (``scheduler.client``)."""


class DaskSchedulerTimeoutError(DaskSchedulerConnectionError, SchedulerTimeoutError):
    """A Dask scheduler did not answer in time (``scheduler.client``)."""


# SSH ----------------------------------------------------------------------
class SSHError(SchedulerConnectionError):
    """Base class of the SSH layer's errors."""


class SSHUnreachableError(SSHError):
    """The host name did not resolve, or no route to the host."""


class SSHConnectionRefusedError(SSHError):
    """The host answered, but nothing listens on the port."""


class SSHTimeoutError(SSHError, TimeoutError):
    """Connecting, authenticating or a remote command took too long."""


class SSHAuthenticationError(SSHError):
    """The server rejected the credentials (password, key or passphrase)."""


class SSHKeyError(SSHAuthenticationError):
    """The private key could not be read or decrypted (wrong passphrase?)."""


class SSHHostKeyError(SSHError):
    """The server's host key could not be verified."""


class UnknownHostKeyError(SSHHostKeyError):
    """The server's host key is not known; it was not trusted."""


class HostKeyMismatchError(SSHHostKeyError):
    """The server offered a host key different from the known one."""


class RemoteCommandError(TethysComputeError, RuntimeError):
    """A remote command failed (non-zero exit status)."""


class RemoteCommandNotFoundError(RemoteCommandError):
    """The remote command does not exist on the host (exit status 127)."""


class RemoteFileError(TethysComputeError, OSError):
    """A file transfer or directory operation on a remote host failed (``errno`` is set)."""


# HTCondor -----------------------------------------------------------------
class CondorError(TethysComputeError, RuntimeError):
    """An HTCondor command failed or printed something we cannot parse."""


class CondorSubmitError(CondorError):
    """``condor_submit`` or ``condor_submit_dag`` rejected the job."""


class CondorNotInstalledError(RemoteCommandNotFoundError, CondorError):
    """An HTCondor tool is not on the submit host (not installed, or not on PATH)."""


class CondorJobNotFoundError(CondorError, LookupError):
    """A job id is neither in the schedd's queue nor in its history."""


class CondorTimeoutError(CondorError, TimeoutError):
    """HTCondor jobs did not reach the awaited state within the time allowed."""


# Clusters -----------------------------------------------------------------
class ClusterError(TethysComputeError):
    """Base class of the cluster manager's errors (see tethys_compute.clusters.exceptions)."""
