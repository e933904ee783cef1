"""HTCondor operations on a submit host, whatever carries the commands.

This module submits jobs and DAGs, fetches outputs and checks HTCondor's
health; status queries live in :mod:`tethys_compute.condor.status`, remove,
hold and release in :mod:`tethys_compute.condor.actions` (both re-exported
here), and the timeout and "not installed" handling of every command in
:mod:`tethys_compute.condor.run`.

Every function takes a :class:`~tethys_compute.remote.RemoteHost` (the SSH
layer's, or any other implementation) and runs HTCondor's command-line tools
on it.  Nothing here changes the local process's working directory, and
every remote command has a timeout (``TETHYS_COMPUTE['SSH_COMMAND_TIMEOUT']``
unless given).
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tethys_compute.condor.actions import ActionResult, hold, release, remove
from tethys_compute.condor.describe import check_relative_name, render_dag, render_submit
from tethys_compute.condor.parse import (
    CondorVersion,
    parse_submit_summary,
    parse_terse_submit,
    parse_version,
    submit_error_message,
)
from tethys_compute.condor.run import (
    _ONE_COMMAND_SUBMIT,
    SUBMIT_FILE,
    _batch,
    _check_found,
    _run,
    _timeout,
)
from tethys_compute.condor.status import (
    DAG_ATTRIBUTES,
    MAX_IDS_PER_QUERY,
    DagStatus,
    dag_status,
    job_statuses,
    status_commands,
    wait,
)
from tethys_compute.exceptions import (
    CondorError,
    CondorSubmitError,
    InvalidArgumentError,
)
from tethys_compute.remote import CommandResult, RemoteHost

logger = logging.getLogger(__name__)

__all__ = [
    "DAG_ATTRIBUTES",
    "MAX_IDS_PER_QUERY",
    "ActionResult",
    "DagStatus",
    "SubmitResult",
    "clean",
    "condor_version",
    "dag_status",
    "fetch_outputs",
    "hold",
    "job_statuses",
    "release",
    "remove",
    "schedd_ok",
    "status_commands",
    "submit_result",
    "submit",
    "submit_dag",
    "wait",
]

#: Name of the submit description file written into the remote working directory.
#: Name of the DAG file written for a DAG given as text.
DAG_FILE = "workflow.dag"

InputFiles = Iterable[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str] | bytes]


# --------------------------------------------------------------------------
# Submit
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitResult:
    """What a submission created.

    Attributes
    ----------
    cluster_id : int
        The (first) cluster id HTCondor assigned.
    num_jobs : int
        How many jobs (procs) were queued.
    remote_dir : str
        The working directory on the submit host (submit file, inputs, outputs).
    job_ids : tuple of str
        ``"C.P"`` of every job queued.
    warnings : tuple of str
        Lines HTCondor printed on stderr that were not errors.
    """

    cluster_id: int
    num_jobs: int
    remote_dir: str
    job_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), repr=False)


def _input_items(input_files: Any) -> list[tuple[str, str | bytes]]:
    items: list[tuple[str, str | bytes]] = []
    if isinstance(input_files, (str, bytes, os.PathLike)):
        input_files = [input_files]
    if isinstance(input_files, Mapping):
        for name, source in input_files.items():
            name = check_relative_name(str(name), "input file")
            if isinstance(source, bytes):
                items.append((name, source))
            else:
                items.append((name, os.fspath(source)))
        return items
    for source in input_files:
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not os.path.isfile(path):
            raise InvalidArgumentError(f"Input file {path!r} does not exist on this host.")
        items.append((check_relative_name(os.path.basename(path), "input file"), path))
    return items


def _upload(
    host: RemoteHost, remote_dir: str, items: Sequence[tuple[str, str | bytes]]
) -> set[str]:
    """Upload inputs; return the names whose local file is executable."""
    executable: set[str] = set()
    subdirs = sorted({posixpath.dirname(name) for name, _ in items if "/" in name})
    if subdirs:
        mkdir = _run(host, ["mkdir", "-p", "--", *subdirs], cwd=remote_dir)
        if not mkdir.ok:
            raise CondorError(f"Could not create {subdirs} in {remote_dir} on {host.label}.")
    for name, source in items:
        target = posixpath.join(remote_dir, name)
        if isinstance(source, bytes):
            host.put_bytes(source, target)
        else:
            if not os.path.isfile(source):
                raise InvalidArgumentError(f"Input file {source!r} does not exist on this host.")
            host.put_file(source, target)
            if os.stat(source).st_mode & stat.S_IXUSR:
                executable.add(name)
    return executable


def _submit_in_dir(
    host: RemoteHost,
    remote_dir: str,
    argv: Sequence[str],
    make_executable: Iterable[str],
    timeout: float | None,
    private: Iterable[str] = (),
) -> CommandResult:
    commands: list[list[str]] = []
    owner_only = sorted(set(private))
    if owner_only:
        commands.append(["chmod", "600", "--", *owner_only])
    chmod = sorted(set(make_executable))
    if chmod:
        commands.append(["chmod", "u+x", "--", *chmod])
    commands.append(list(argv))
    return _batch(host, commands, timeout=timeout, cwd=remote_dir)[-1]


def submit(
    host: RemoteHost,
    description: str | Mapping[str, Any] | Any,
    input_files: InputFiles = (),
    remote_dir: str | None = None,
    *,
    timeout: float | None = None,
    private_files: Iterable[str] = (),
) -> SubmitResult:
    """Submit a job: upload its description and inputs into a fresh remote directory.

    Parameters
    ----------
    host : RemoteHost
        The submit host.
    description : str, mapping or condorpy.Job
        The submit description (see :func:`~tethys_compute.condor.render_submit`).
        Relative paths in it are relative to the remote working directory.
    input_files : iterable of path, or mapping of name to path or bytes
        Local files uploaded (over SFTP) into the remote directory under their
        base names, or under the mapping's names.  Files executable here are
        made executable there, and so is an uploaded ``executable``.
    remote_dir : str, optional
        An existing directory on the host to use instead of a fresh one.  A
        fresh directory is deleted again when the submission fails.
    timeout : float, optional
        Seconds for ``condor_submit``.
    private_files : iterable of str, optional
        Names among the inputs made readable by the submitting account only
        (``chmod 600``) before ``condor_submit`` runs.

    Returns
    -------
    SubmitResult

    Raises
    ------
    CondorSubmitError
        When ``condor_submit`` fails; the message holds HTCondor's ``ERROR`` lines.
    CondorNotInstalledError
        When ``condor_submit`` is not on the host.

    Examples
    --------
    >>> result = submit(host, {"executable": "/bin/echo", "arguments": ["hi"],
    ...                        "output": "out.txt", "log": "job.log"})  # doctest: +SKIP
    >>> result.cluster_id, result.num_jobs  # doctest: +SKIP
    (27, 1)
    """
    rendered = render_submit(description)
    if not input_files and rendered.input_files:
        input_files = rendered.input_files
    items = _input_items(input_files)
    if any(name == SUBMIT_FILE for name, _ in items):
        raise InvalidArgumentError(f"An input file cannot be named {SUBMIT_FILE!r}.")
    if not items and remote_dir is None and not list(private_files):
        # Nothing to upload but the description: one remote command does it all.
        return _submit_in_one_command(host, rendered.text, timeout)
    directory = remote_dir or host.make_temp_dir(prefix="tethys-condor-")
    with _removed_on_failure(host, directory, created=remote_dir is None):
        executable = _upload(host, directory, items)
        if rendered.executable and rendered.executable in {name for name, _ in items}:
            executable.add(rendered.executable)
        host.put_bytes(rendered.text.encode("utf-8"), posixpath.join(directory, SUBMIT_FILE))
        result = _submit_in_dir(
            host,
            directory,
            ["condor_submit", "-terse", SUBMIT_FILE],
            executable,
            timeout,
            private_files,
        )
        return submit_result(result, directory, host.label)


#: Run by :func:`_submit_in_one_command`: a fresh directory (its path printed
#: first), the description from stdin, ``condor_submit``; the directory is
#: removed again when the submission fails.
def _submit_in_one_command(host: RemoteHost, text: str, timeout: float | None) -> SubmitResult:
    """Make the directory, write the description (sent as stdin) and submit: one command."""
    argv = ("condor_submit", "-terse", SUBMIT_FILE)
    raw = host.run(["sh", "-c", _ONE_COMMAND_SUBMIT], stdin=text, timeout=_timeout(timeout))
    directory, _, rest = raw.stdout.partition("\n")
    if raw.exit_status == 70 or not directory.startswith("/"):
        raise CondorSubmitError(
            f"Could not make a working directory for the job on {host.label} "
            f"(exit status {raw.exit_status}): {raw.stderr.strip()[:300]}"
        )
    result = CommandResult(argv, raw.exit_status, rest, raw.stderr, raw.duration)
    _check_found(host, result)
    return submit_result(result, directory, host.label)


@contextlib.contextmanager
def _removed_on_failure(host: RemoteHost, directory: str, *, created: bool) -> Iterator[None]:
    """Delete a working directory this call created when the submission fails."""
    try:
        yield
    except BaseException:
        if created:
            try:
                host.remove_tree(directory)
            except Exception:  # noqa: BLE001 - the submission's own error matters more
                logger.warning("Could not remove %s on %s", directory, host.label, exc_info=True)
        raise


def submit_result(result: CommandResult, directory: str, label: str) -> SubmitResult:
    """Interpret a finished ``condor_submit -terse`` or ``condor_submit_dag``.

    The exit status decides; the ids come from the ``-terse`` ranges, or from
    ``N job(s) submitted to cluster C.``.  Lines on stderr other than the
    ``condor_watch_q`` hint are kept as warnings.

    Raises
    ------
    CondorSubmitError
        On a non-zero exit status (with HTCondor's ``ERROR`` lines), or when no
        cluster id can be found.
    """
    warnings = tuple(
        line.strip()
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("To monitor your job(s)")
    )
    if not result.ok:
        raise CondorSubmitError(
            f"{result.argv[0]} on {label} failed (exit status {result.exit_status}): "
            f"{submit_error_message(result.stderr, result.stdout)} (in {directory})"
        )
    ranges = parse_terse_submit(result.stdout)
    if ranges:
        ids = tuple(
            f"{r.cluster_id}.{p}" for r in ranges for p in range(r.first_proc, r.last_proc + 1)
        )
        return SubmitResult(ranges[0].cluster_id, len(ids), directory, ids, warnings)
    summary = parse_submit_summary(result.stdout)
    if summary:
        ids = tuple(f"{c}.{p}" for c, n in summary for p in range(n))
        return SubmitResult(summary[0][0], len(ids), directory, ids, warnings)
    raise CondorSubmitError(
        f"{result.argv[0]} on {label} exited 0 but named no cluster id; stdout: "
        f"{result.stdout.strip()[:300]!r}"
    )


def submit_dag(
    host: RemoteHost,
    dag: str | Any,
    files: Mapping[str, Any] | None = None,
    input_files: InputFiles = (),
    remote_dir: str | None = None,
    *,
    timeout: float | None = None,
    private_files: Iterable[str] = (),
) -> SubmitResult:
    """Submit a DAG with ``condor_submit_dag`` from a fresh remote directory.

    Parameters
    ----------
    host : RemoteHost
    dag : str or condorpy.Workflow
        The DAG file's text (its ``JOB`` lines name the submit files), or a
        Workflow of condorpy Jobs (their submit files are written for you).
    files : mapping, optional
        For a text DAG: submit file name to its description (text, mapping or
        condorpy.Job).
    input_files : iterable of path, or mapping of name to path or bytes
        Other files the nodes need (uploaded as in :func:`submit`).
    remote_dir : str, optional
        An existing directory to use instead of a fresh one.
    private_files : iterable of str, optional
        Names among the inputs made readable by the submitting account only.

    Returns
    -------
    SubmitResult
        ``cluster_id`` is the DAGMan job's; the nodes' jobs carry it as their
        ``DAGManJobId`` (see :func:`dag_status`).
    """
    rendered = render_dag(dag, files)
    dag_name = DAG_FILE
    if not isinstance(dag, str):
        dag_name = check_relative_name(f"{dag.name}.dag", "DAG file")
    items = _input_items(input_files)
    names = {name for name, _ in items}
    clash = names & (set(rendered.submit_files) | {dag_name})
    if clash:
        raise InvalidArgumentError(f"Input files {sorted(clash)} clash with the DAG's own files.")
    directory = remote_dir or host.make_temp_dir(prefix="tethys-dag-")
    generated = [(name, text.encode("utf-8")) for name, text in rendered.submit_files.items()]
    with _removed_on_failure(host, directory, created=remote_dir is None):
        executable = _upload(host, directory, [*items, *generated])
        host.put_bytes(rendered.dag_text.encode("utf-8"), posixpath.join(directory, dag_name))
        result = _submit_in_dir(
            host, directory, ["condor_submit_dag", dag_name], executable, timeout, private_files
        )
        return submit_result(result, directory, host.label)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------
def fetch_outputs(
    host: RemoteHost,
    remote_dir: str,
    names: Iterable[str] | None,
    local_dir: str | os.PathLike[str],
) -> list[Path]:
    """Copy output files from the remote working directory into ``local_dir``.

    Parameters
    ----------
    names : iterable of str or None
        File names relative to ``remote_dir``; ``None`` fetches every file at
        its top level.

    Returns
    -------
    list of Path
        The local files written.

    Raises
    ------
    CondorError
        When a named file is not there (nothing is copied then).
    """
    local = Path(local_dir)
    local.mkdir(parents=True, exist_ok=True)
    present = set(host.list_dir(remote_dir))
    if names is None:
        wanted = sorted(present)
    else:
        wanted = [check_relative_name(str(n), "output file") for n in names]
        missing = [n for n in wanted if n.split("/")[0] not in present]
        if missing:
            raise CondorError(
                f"Output file(s) {missing} are not in {remote_dir} on {host.label} (it holds "
                f"{sorted(present)[:20]}); did the job write them, or has it not finished?"
            )
    fetched = []
    for name in wanted:
        target = local / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            host.get_file(posixpath.join(remote_dir, name), str(target))
        except (IsADirectoryError, PermissionError, OSError) as exc:
            if names is None:
                continue  # a directory, or unreadable: skipped when fetching everything
            raise CondorError(f"Could not fetch {name} from {remote_dir} on {host.label}: {exc}")
        fetched.append(target)
    return fetched


def clean(host: RemoteHost, remote_dir: str) -> None:
    """Delete the remote working directory and everything in it."""
    normalized = posixpath.normpath(remote_dir) if remote_dir else ""
    if not normalized.startswith("/") or normalized.count("/") < 2:
        raise InvalidArgumentError(
            f"Refusing to delete {remote_dir!r}: give the absolute working directory a "
            "submission returned."
        )
    host.remove_tree(normalized)


# --------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------
def condor_version(host: RemoteHost, *, timeout: float | None = None) -> CondorVersion:
    """HTCondor's version on the host (``condor_version``).

    Raises
    ------
    CondorNotInstalledError
        When ``condor_version`` is not on the host.
    CondorError
        When it fails or prints no ``$CondorVersion`` line.
    """
    result = _run(host, ["condor_version"], timeout=timeout)
    version = parse_version(result.stdout) if result.ok else None
    if version is None:
        raise CondorError(
            f"condor_version on {host.label} failed (exit status {result.exit_status}): "
            f"{submit_error_message(result.stderr, result.stdout)}"
        )
    return version


def health_commands() -> list[list[str]]:
    """``condor_version`` and ``condor_q -total``: what a connection test runs."""
    return [["condor_version"], ["condor_q", "-total"]]


def check_condor(
    host: RemoteHost, *, timeout: float | None = None
) -> tuple[CondorVersion, CommandResult]:
    """Run :func:`health_commands` in one round trip: the version and the schedd's answer.

    Raises
    ------
    CondorNotInstalledError, CondorError
    """
    version_result, queue_result = _batch(host, health_commands(), timeout=timeout)
    version = parse_version(version_result.stdout) if version_result.ok else None
    if version is None:
        raise CondorError(
            f"condor_version on {host.label} failed (exit status {version_result.exit_status}): "
            f"{submit_error_message(version_result.stderr, version_result.stdout)}"
        )
    return version, queue_result


def schedd_ok(host: RemoteHost, *, timeout: float | None = None) -> bool:
    """True when the schedd answers a query (``condor_q -total`` exits 0)."""
    return _run(host, ["condor_q", "-total"], timeout=timeout).ok
