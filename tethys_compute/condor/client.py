"""HTCondor operations on a submit host, whatever carries the commands.

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
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tethys_compute.condor.batch import run_batch
from tethys_compute.condor.control import parse_procs, procs_command, settle_cluster
from tethys_compute.condor.describe import check_relative_name, render_dag, render_submit
from tethys_compute.condor.parse import (
    STATUS_ATTRIBUTES,
    ActionOutcome,
    CondorVersion,
    JobInfo,
    JobStatus,
    action_outcome,
    iter_json_ads,
    job_info_from_ad,
    normalize_job_id,
    parse_submit_summary,
    parse_terse_submit,
    parse_version,
    submit_error_message,
)
from tethys_compute.exceptions import (
    CondorError,
    CondorJobNotFoundError,
    CondorNotInstalledError,
    CondorSubmitError,
    CondorTimeoutError,
    InvalidArgumentError,
    RemoteCommandNotFoundError,
)
from tethys_compute.remote import CommandResult, RemoteHost

logger = logging.getLogger(__name__)

__all__ = [
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
SUBMIT_FILE = "job.sub"
#: Name of the DAG file written for a DAG given as text.
DAG_FILE = "workflow.dag"
#: Most ids asked in one remote command (keeps the command line far below ARG_MAX).
MAX_IDS_PER_QUERY = 400
#: The attributes that matter to a DAGMan job's own ad.
DAG_ATTRIBUTES = ("DAG_Status", "DAG_NodesTotal", "DAG_NodesDone", "DAG_NodesFailed")

InputFiles = Iterable[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str] | bytes]


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    from tethys_compute.conf import compute_settings

    return float(compute_settings.SSH_COMMAND_TIMEOUT)


def _check_found(host: RemoteHost, result: CommandResult) -> None:
    if result.exit_status == 127:
        tool = result.argv[0] if result.argv else "the command"
        raise CondorNotInstalledError(
            f"{tool} was not found on {host.label}: HTCondor is not installed there or its "
            "bin directory is not on the PATH of the SSH account's non-interactive shell. "
            "Install HTCondor, or set the scheduler's condor_bin_dir (its bin directory) or "
            "remote_profile (a file that sets it up, e.g. /etc/profile.d/condor.sh)."
        )


def _run(
    host: RemoteHost, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None
) -> CommandResult:
    try:
        result = host.run(list(argv), timeout=_timeout(timeout), cwd=cwd)
    except RemoteCommandNotFoundError as exc:
        raise CondorNotInstalledError(
            f"{argv[0]} was not found on {host.label}: HTCondor is not installed there or "
            "its bin directory is not on the PATH of the SSH account; set the scheduler's "
            f"condor_bin_dir or remote_profile. ({exc})"
        ) from exc
    _check_found(host, result)
    return result


def _batch(
    host: RemoteHost,
    commands: Sequence[Sequence[str]],
    *,
    timeout: float | None = None,
    cwd: str | None = None,
) -> list[CommandResult]:
    results = run_batch(host, commands, timeout=_timeout(timeout), cwd=cwd)
    for result in results:
        _check_found(host, result)
    return results


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
_ONE_COMMAND_SUBMIT = (
    'd=$(mktemp -d "${TMPDIR:-/tmp}/tethys-condor-XXXXXXXX") || exit 70\n'
    'cd "$d" || exit 70\n'
    "printf '%s\\n' \"$d\"\n"
    f'cat > {SUBMIT_FILE} || {{ cd /; rm -rf "$d"; exit 70; }}\n'
    f"condor_submit -terse {SUBMIT_FILE}\n"
    "rc=$?\n"
    'if [ "$rc" -ne 0 ]; then cd / && rm -rf "$d"; fi\n'
    'exit "$rc"\n'
)


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
# Status
# --------------------------------------------------------------------------
def _constraint(ids: Sequence[tuple[int, int | None]]) -> str:
    terms = []
    for cluster, proc in ids:
        if proc is None:
            terms.append(f"ClusterId == {cluster}")
        else:
            terms.append(f"(ClusterId == {cluster} && ProcId == {proc})")
    return " || ".join(terms)


def status_commands(
    constraint: str,
    attributes: Sequence[str] = STATUS_ATTRIBUTES,
    *,
    scan_limit: int | None = None,
    limit: int | None = None,
) -> list[list[str]]:
    """The ``condor_q`` and ``condor_history`` argv asking ``attributes`` of matching jobs.

    Both print JSON (``-json -attributes``); ``condor_history`` looks only at
    jobs that left the queue.  ``scan_limit`` bounds the history records it
    reads, newest first (``-scanlimit``); ``limit`` stops it once that many
    jobs matched (``-limit``).

    Examples
    --------
    >>> status_commands("ClusterId == 7", ["JobStatus"], scan_limit=500, limit=2)[1]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['condor_history', '-constraint', 'ClusterId == 7', '-json', '-attributes', 'JobStatus',
     '-scanlimit', '500', '-limit', '2']
    """
    attrs = ",".join(attributes)
    history = ["condor_history", "-constraint", constraint, "-json", "-attributes", attrs]
    if scan_limit is not None:
        history += ["-scanlimit", str(int(scan_limit))]
    if limit is not None:
        history += ["-limit", str(int(limit))]
    return [["condor_q", "-constraint", constraint, "-json", "-attributes", attrs], history]


def _query(
    host: RemoteHost, constraint: str, attributes: Sequence[str], timeout: float | None
) -> dict[str, JobInfo]:
    queue, history = _batch(host, status_commands(constraint, attributes), timeout=timeout)
    found: dict[str, JobInfo] = {}
    for result, in_queue in ((queue, True), (history, False)):
        if not result.ok:
            raise CondorError(
                f"{result.argv[0]} on {host.label} failed (exit status {result.exit_status}): "
                f"{submit_error_message(result.stderr, result.stdout)}"
            )
        for ad in iter_json_ads(result.stdout):
            info = job_info_from_ad(ad, in_queue=in_queue)
            if info is None:
                continue
            # condor_history ran after condor_q: a job in both left the queue in between.
            found[info.id] = info
    return found


def job_statuses(
    host: RemoteHost, ids: Iterable[str | int], *, timeout: float | None = None
) -> dict[str, JobInfo]:
    """Status of many jobs in one remote command (``condor_q`` + ``condor_history``).

    Parameters
    ----------
    host : RemoteHost
    ids : iterable of str or int
        Cluster ids (``"26"``: every job of the cluster) or job ids (``"26.1"``).
    timeout : float, optional
        Seconds for the round trip.

    Returns
    -------
    dict of str to JobInfo
        Keyed by ``"cluster.proc"`` for every job found, in the queue or in the
        history.  Ids found in neither are absent.

    Notes
    -----
    Both tools run in one ``sh -c`` script (:func:`~tethys_compute.condor.batch.run_batch`)
    with the same ``-constraint`` and ``-json -attributes``; their stdout,
    stderr and exit statuses come back framed apart.  ``condor_history`` runs
    second, so a job that finished between the two is reported as finished.
    More than :data:`MAX_IDS_PER_QUERY` ids take one round trip per batch of
    that many.

    Examples
    --------
    >>> infos = job_statuses(host, ["26", "27.0"])  # doctest: +SKIP
    >>> infos["27.0"].status  # doctest: +SKIP
    <JobStatus.IDLE: 1>
    """
    wanted = list(dict.fromkeys(normalize_job_id(i) for i in ids))
    found: dict[str, JobInfo] = {}
    for start in range(0, len(wanted), MAX_IDS_PER_QUERY):
        chunk = wanted[start : start + MAX_IDS_PER_QUERY]
        found.update(_query(host, _constraint(chunk), STATUS_ATTRIBUTES, timeout))
    return dict(sorted(found.items(), key=lambda kv: (kv[1].cluster_id, kv[1].proc_id)))


@dataclass(frozen=True)
class DagStatus:
    """A DAG's state: its DAGMan job and its node jobs (by node name).

    Attributes
    ----------
    dagman : JobInfo or None
        The DAGMan job (scheduler universe); ``None`` when not found.
    nodes : dict of str to JobInfo
        Node jobs submitted so far, by ``DAGNodeName`` (the latest try of each).
    """

    dagman: JobInfo | None
    nodes: Mapping[str, JobInfo]

    @property
    def done(self) -> bool:
        """True once the DAGMan job has completed or been removed."""
        return self.dagman is not None and self.dagman.done

    @property
    def succeeded(self) -> bool:
        """True when DAGMan completed with exit code 0 (every node succeeded)."""
        return self.dagman is not None and self.dagman.succeeded


def dag_status(host: RemoteHost, dag_id: int | str, *, timeout: float | None = None) -> DagStatus:
    """The DAGMan job and every node job of a DAG, in one remote command.

    Node jobs carry the DAGMan job's cluster id in ``DAGManJobId``; the
    query is ``ClusterId == C || DAGManJobId == C`` on the queue and the history.
    """
    cluster, _ = normalize_job_id(dag_id)
    constraint = f"ClusterId == {cluster} || DAGManJobId == {cluster}"
    found = _query(host, constraint, (*STATUS_ATTRIBUTES, *DAG_ATTRIBUTES), timeout)
    dagman = next((i for i in found.values() if i.cluster_id == cluster), None)
    nodes: dict[str, JobInfo] = {}
    for info in sorted(found.values(), key=lambda i: (i.cluster_id, i.proc_id)):
        if info.dagman_job_id == cluster:
            nodes[info.dag_node_name or info.id] = info
    return DagStatus(dagman, nodes)


def wait(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    timeout: float,
    *,
    poll_interval: float = 0.25,
    max_interval: float = 5.0,
    until_held: bool = True,
) -> dict[str, JobInfo]:
    """Wait, at most ``timeout`` seconds, until the jobs are completed or removed.

    Polls :func:`job_statuses` (one round trip per poll), starting every
    ``poll_interval`` seconds and backing off to ``max_interval``.  Unlike
    ``condor_wait`` it needs no event log and cannot block past the timeout;
    condorpy's ``Job.wait`` can block forever.

    Parameters
    ----------
    host : RemoteHost
    ids : str, int or iterable
        One cluster/job id or several.
    timeout : float
        Upper bound in seconds.
    until_held : bool
        Also return when every unfinished job is held (it would wait for a
        ``release`` otherwise).

    Returns
    -------
    dict of str to JobInfo
        The final status of every job.

    Raises
    ------
    CondorTimeoutError
        When the jobs are still active after ``timeout`` seconds.
    CondorJobNotFoundError
        When an id is in neither the queue nor the history.
    """
    if isinstance(ids, (str, int)):
        ids = [ids]
    wanted = list(dict.fromkeys(normalize_job_id(i) for i in ids))
    deadline = time.monotonic() + timeout
    interval = poll_interval
    while True:
        remaining = deadline - time.monotonic()
        infos = job_statuses(
            host,
            [f"{c}" if p is None else f"{c}.{p}" for c, p in wanted],
            timeout=max(1.0, min(_timeout(None), remaining + 1.0)),
        )
        missing = [
            (c, p)
            for c, p in wanted
            if not any(i.cluster_id == c and (p is None or i.proc_id == p) for i in infos.values())
        ]
        if missing:
            names = ", ".join(f"{c}" if p is None else f"{c}.{p}" for c, p in missing)
            raise CondorJobNotFoundError(
                f"Job(s) {names} are neither in the queue nor in the history of {host.label}."
            )
        active = [i for i in infos.values() if not i.done]
        if not active or (until_held and all(i.status == JobStatus.HELD for i in active)):
            return infos
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            states = ", ".join(f"{i.id} {i.status_label}" for i in active[:10])
            raise CondorTimeoutError(
                f"Waited {timeout:g} s on {host.label}; still active: {states}."
            )
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.6, max_interval)


# --------------------------------------------------------------------------
# Control
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionResult:
    """Outcome of ``condor_rm``/``condor_hold``/``condor_release`` for each id.

    Attributes
    ----------
    action : str
        ``"remove"``, ``"hold"`` or ``"release"``.
    outcomes : dict of str to ActionOutcome
        Per id given: DONE, NOT_FOUND, ALREADY (already held / not held / being
        removed) or FAILED.  For a cluster id it is decided from its procs' states
        after the action (:mod:`tethys_compute.condor.control`), since HTCondor
        answers "Couldn't find" for both "already" and "not there".
    messages : dict of str to str
        HTCondor's own message per id.
    """

    action: str
    outcomes: Mapping[str, ActionOutcome]
    messages: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """True when the action was applied to every id."""
        return all(o is ActionOutcome.DONE for o in self.outcomes.values())

    @property
    def done(self) -> list[str]:
        return [i for i, o in self.outcomes.items() if o is ActionOutcome.DONE]

    @property
    def failed(self) -> dict[str, str]:
        """Ids the action did not apply to, with HTCondor's message."""
        return {
            i: self.messages.get(i, "")
            for i, o in self.outcomes.items()
            if o is not ActionOutcome.DONE
        }

    def raise_for_failure(self, *, allow: Iterable[ActionOutcome] = ()) -> ActionResult:
        """Raise :class:`CondorError` unless every outcome is DONE or in ``allow``."""
        allowed = {ActionOutcome.DONE, *allow}
        bad = {i: self.messages.get(i, "") for i, o in self.outcomes.items() if o not in allowed}
        if bad:
            detail = "; ".join(f"{i}: {m or self.outcomes[i].value}" for i, m in bad.items())
            raise CondorError(f"condor {self.action} failed for {detail}")
        return self


_TOOLS = {"remove": "condor_rm", "hold": "condor_hold", "release": "condor_release"}


def _control(
    host: RemoteHost,
    action: str,
    ids: str | int | Iterable[str | int],
    reason: str | None,
    timeout: float | None,
) -> ActionResult:
    if isinstance(ids, (str, int)):
        ids = [ids]
    wanted = list(dict.fromkeys(normalize_job_id(i) for i in ids))
    if not wanted:
        return ActionResult(action, {}, {})
    if reason is not None and ("\n" in reason or not reason.strip()):
        raise InvalidArgumentError("The reason must be one non-empty line.")
    names = [f"{c}" if p is None else f"{c}.{p}" for c, p in wanted]
    options = ["-reason", reason] if reason else []
    # A cluster id's answer is ambiguous (see condor.control): each is followed by a
    # condor_q of its procs' states, in the same round trip.
    commands: list[list[str]] = []
    for (cluster, proc), name in zip(wanted, names, strict=True):
        commands.append([_TOOLS[action], *options, name])
        if proc is None:
            commands.append(procs_command(cluster))
    results = iter(_batch(host, commands, timeout=timeout))
    outcomes: dict[str, ActionOutcome] = {}
    messages: dict[str, str] = {}
    retry: dict[str, list[str]] = {}
    for (cluster, proc), name in zip(wanted, names, strict=True):
        result = next(results)
        outcome, message = action_outcome(result.exit_status, result.stdout, result.stderr)
        if proc is None:
            query = next(results)
            procs = parse_procs(query.stdout) if query.ok else None
            outcome, pending = settle_cluster(action, outcome, procs)
            if pending:
                retry[name] = [f"{cluster}.{p}" for p in pending]
        outcomes[name] = outcome
        messages[name] = message
    if retry:
        # Procs the cluster's answer left out (a stale "no jobs in the queue"): by C.P id.
        again = _control(host, action, [i for ids in retry.values() for i in ids], reason, timeout)
        for name, ids in retry.items():
            seen = [again.outcomes[i] for i in ids]
            outcomes[name] = ActionOutcome.DONE if ActionOutcome.DONE in seen else seen[0]
            messages[name] = " ".join(again.messages[i] for i in ids)
    logger.info("condor %s on %s: %s", action, host.label, outcomes)
    return ActionResult(action, outcomes, messages)


def remove(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    *,
    reason: str | None = None,
    timeout: float | None = None,
) -> ActionResult:
    """Remove jobs (``condor_rm``), one tool run per id, all in one round trip.

    Returns
    -------
    ActionResult
        ``NOT_FOUND`` for ids not in the queue (also when the schedd has no jobs
        at all, where ``condor_rm`` exits 0), ``ALREADY`` for a cluster whose
        jobs are all being removed; call
        ``.raise_for_failure()`` to turn failures into :class:`CondorError`.

    Examples
    --------
    >>> remove(host, "42").ok  # doctest: +SKIP
    True
    """
    return _control(host, "remove", ids, reason, timeout)


def hold(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    *,
    reason: str | None = None,
    timeout: float | None = None,
) -> ActionResult:
    """Hold jobs (``condor_hold``); an already held job or cluster gives ``ALREADY``.

    A job submitted on hold is held again (DONE; HTCondor replaces its HoldReason).
    """
    return _control(host, "hold", ids, reason, timeout)


def release(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    *,
    reason: str | None = None,
    timeout: float | None = None,
) -> ActionResult:
    """Release held jobs (``condor_release``); a job or cluster not held gives ``ALREADY``."""
    return _control(host, "release", ids, reason, timeout)


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
