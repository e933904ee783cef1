"""Many HTCondor jobs, each its own cluster, submitted in ONE remote command.

:func:`~tethys_compute.condor.client.submit` costs one remote command for a
job without input files and, with inputs, a directory, one SFTP upload per
file and one more command; a sweep of 1,000 jobs therefore costs thousands of
round trips.  :func:`submit_many` sends everything at once:

* locally, every job's directory (its submit description ``job.sub``, its
  input files, the modes they need: executables ``u+x``, private files
  ``0600``) goes into one gzip'd tar archive, each job under its index;
* remotely, one ``sh`` script reads the archive from its standard input,
  unpacks it into a private staging directory (``mktemp -d``), and for each
  job makes a fresh directory (``mktemp -d``, as a lone submission does),
  moves the job's files there (``mv -T``: one ``rename``) and runs
  ``condor_submit -terse job.sub`` in it.  Each job's directory path, what
  ``condor_submit`` printed and its exit status come back framed by a random
  token (as in :mod:`tethys_compute.condor.batch`); a failed job's directory
  is deleted again.

Why one ``condor_submit`` per job and not one for all: a submit description
makes ONE cluster however many ``queue`` statements it holds (HTCondor's
``condor_submit`` allocates a cluster only once per invocation; several
``queue`` statements are deprecated and to be removed in the 25.x series,
and an access point may refuse them with ``SUBMIT_PREVENT_MULTI_QUEUE``).
The jobs of a sweep would then be procs ``C.0 ... C.N`` of one cluster:
``condor_rm C`` would stop them all, and one bad description would fail the
whole submission.  With a cluster per job, every job keeps its own cluster
id, directory and error, exactly as if it had been submitted alone; the
cost is one ``condor_submit`` process per job on the submit host, inside a
single SSH round trip.

The archive travels as the command's standard input, held in memory on both
ends: a batch whose files pass :data:`MAX_COMMAND_BYTES` goes in several
commands.  The submit host needs ``tar`` and ``gzip`` and GNU ``mv``
(``-T``) besides ``mktemp``.
"""

from __future__ import annotations

import io
import os
import posixpath
import secrets
import stat
import tarfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tethys_compute.condor.batch import split_batch_output
from tethys_compute.condor.client import SubmitResult, _input_items, submit_result
from tethys_compute.condor.describe import render_submit
from tethys_compute.condor.run import SUBMIT_FILE, _check_found, _timeout
from tethys_compute.exceptions import (
    CondorError,
    CondorSubmitError,
    InvalidArgumentError,
    TethysComputeError,
)
from tethys_compute.remote import CommandResult, RemoteHost

__all__ = ["MAX_COMMAND_BYTES", "SCRIPT", "SECONDS_PER_JOB", "Submission", "submit_many"]

#: Seconds the batch's remote command may take per job, on top of the command
#: timeout (``condor_submit`` talks to the schedd once per job).
SECONDS_PER_JOB = 2.0

#: Input bytes (before compression) one remote command carries at most: the
#: archive is held in memory on both ends.  A batch with more is sent in several
#: commands, each job whole in one of them.
MAX_COMMAND_BYTES = 64 * 1024 * 1024

#: Exit status of the script when it cannot make or fill its staging directory.
_STAGING_FAILED = (70, 71)


@dataclass(frozen=True)
class Submission:
    """One job of :func:`submit_many`: what :func:`~tethys_compute.condor.submit` takes.

    Attributes
    ----------
    description : str, mapping or condorpy.Job
        The submit description (see :func:`~tethys_compute.condor.render_submit`).
    input_files : iterable of path, or mapping of name to path or bytes
        Files put into the job's directory (as ``submit``'s ``input_files``).
    private_files : tuple of str
        Names among the inputs readable by the submitting account only.
    """

    description: Any
    input_files: Any = ()
    private_files: tuple[str, ...] = field(default=())


#: The script of :func:`submit_many`: ``sh -c SCRIPT sh COUNT TOKEN SUBMIT_FILE``, the
#: archive on standard input.  Exit 70/71: no staging directory / the archive
#: could not be unpacked (nothing submitted); otherwise one frame per job.
SCRIPT = r"""n=$1; t=$2; sub=$3
b=$(mktemp -d "${TMPDIR:-/tmp}/tethys-batch-XXXXXXXX") || exit 70
trap 'cd / && rm -rf -- "$b"' 0
tar -xzf - -C "$b" --no-same-owner || exit 71
printf '%s:start\n' "$t"; printf '%s:start\n' "$t" >&2
i=0
while [ "$i" -lt "$n" ]; do
  rc=70
  d=$(mktemp -d "${TMPDIR:-/tmp}/tethys-condor-XXXXXXXX") || d=
  if [ -n "$d" ]; then
    if mv -T -- "$b/$i" "$d" && cd -- "$d"; then
      printf '%s\n' "$d"
      condor_submit -terse "$sub" </dev/null
      rc=$?
      cd /
    fi
    [ "$rc" -eq 0 ] || rm -rf -- "$d"
  fi
  printf '\n%s:%d:%d\n' "$t" "$i" "$rc"
  printf '\n%s:%d:%d\n' "$t" "$i" "$rc" >&2
  i=$((i + 1))
done
"""


def _entry(name: str, mode: int, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.size, info.type, info.mtime = mode, size, kind, int(time.time())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


#: One file of a job's directory: name, content (or the local path to read it
#: from), mode, size.
_File = tuple[str, bytes | str, int, int]


def _job_files(job: Submission) -> list[_File]:
    """Every file of one job's directory, its description too (input files are not read yet).

    Raises
    ------
    InvalidArgumentError
        For an input file that is not on this host, or one named like the description.
    """
    rendered = render_submit(job.description)
    inputs = job.input_files
    if not inputs and rendered.input_files:
        inputs = rendered.input_files
    items = _input_items(inputs)
    if any(name == SUBMIT_FILE for name, _ in items):
        raise InvalidArgumentError(f"An input file cannot be named {SUBMIT_FILE!r}.")
    private = set(job.private_files)
    text = rendered.text.encode("utf-8")
    files: list[_File] = [(SUBMIT_FILE, text, 0o644, len(text))]
    for name, source in items:
        executable = name == rendered.executable
        if isinstance(source, bytes):
            size = len(source)
        else:
            if not os.path.isfile(source):
                raise InvalidArgumentError(f"Input file {source!r} does not exist on this host.")
            info = os.stat(source)
            size, executable = info.st_size, executable or bool(info.st_mode & stat.S_IXUSR)
        mode = (0o600 if name in private else 0o644) | (0o100 if executable else 0)
        files.append((name, source, mode, size))
    return files


def _plan(
    jobs: Sequence[Submission],
) -> tuple[list[list[tuple[int, list[_File]]]], dict[int, TethysComputeError]]:
    """The jobs that can be sent, in parts of :data:`MAX_COMMAND_BYTES`; why not the others."""
    failed: dict[int, TethysComputeError] = {}
    parts: list[list[tuple[int, list[_File]]]] = []
    current: list[tuple[int, list[_File]]] = []
    size = 0
    for index, job in enumerate(jobs):
        try:
            files = _job_files(job)
        except TethysComputeError as exc:
            failed[index] = exc
            continue
        except OSError as exc:
            failed[index] = InvalidArgumentError(f"Could not read an input file: {exc}")
            continue
        weight = sum(f[3] for f in files)
        if current and size + weight > MAX_COMMAND_BYTES:
            parts.append(current)
            current, size = [], 0
        current.append((index, files))
        size += weight
    if current:
        parts.append(current)
    return parts, failed


def _add_job(archive: tarfile.TarFile, position: int, files: Iterable[_File]) -> None:
    """Add one job's directory (``position/``) and its files to the archive."""
    top = str(position)
    archive.addfile(_entry(top, 0o700, kind=tarfile.DIRTYPE))
    made = {top}
    for name, source, mode, size in files:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = posixpath.join(top, *parts[:depth])
            if folder not in made:
                archive.addfile(_entry(folder, 0o755, kind=tarfile.DIRTYPE))
                made.add(folder)
        entry = _entry(posixpath.join(top, name), mode, size)
        if isinstance(source, bytes):
            archive.addfile(entry, io.BytesIO(source))
        else:
            with open(source, "rb") as handle:
                archive.addfile(entry, handle)


def _pack(part: Sequence[tuple[int, list[_File]]]) -> bytes:
    """One gzip'd tar of the part's jobs, each under its position in the part.

    Raises
    ------
    InvalidArgumentError
        When an input file cannot be read (or changed size) while it is packed.
    """
    buffer = io.BytesIO()
    try:
        with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
            for position, (_, files) in enumerate(part):
                _add_job(archive, position, files)
    except OSError as exc:
        raise InvalidArgumentError(f"Could not read an input file: {exc}") from exc
    return buffer.getvalue()


def _send(
    host: RemoteHost, part: Sequence[tuple[int, list[_File]]], timeout: float | None
) -> list[SubmitResult | TethysComputeError]:
    """Submit one part's jobs in one remote command: each job's result or error.

    Raises
    ------
    TethysComputeError
        When the command could not run, or could not unpack the jobs.
    """
    archive = _pack(part)
    count = len(part)
    limit = _timeout(timeout) + (SECONDS_PER_JOB * count if timeout is None else 0.0)
    token = "tc" + secrets.token_hex(12)
    argv = ["sh", "-c", SCRIPT, "sh", str(count), token, SUBMIT_FILE]
    raw = host.run(argv, stdin=archive, timeout=limit)
    if raw.exit_status in _STAGING_FAILED:
        raise CondorError(
            f"Could not unpack {count} job(s) for submission on {host.label} (exit status "
            f"{raw.exit_status}): {raw.stderr.strip()[-300:]}; none was submitted."
        )
    outs = split_batch_output(raw.stdout, token, count)
    errs = split_batch_output(raw.stderr, token, count)
    results: list[SubmitResult | TethysComputeError] = []
    for (out, status), (err, _) in zip(outs, errs, strict=True):
        try:
            results.append(_job_result(host, out, err, status, raw.duration))
        except CondorError as exc:
            results.append(exc)
    return results


def _job_result(
    host: RemoteHost, out: str, err: str, status: int | None, duration: float
) -> SubmitResult:
    """One job's :class:`SubmitResult` from its part of the script's output.

    Raises
    ------
    CondorSubmitError, CondorNotInstalledError
    """
    if status is None:
        raise CondorSubmitError(
            f"The batch submission on {host.label} stopped before this job reported; it may "
            "or may not have been submitted."
        )
    directory, _, rest = out.partition("\n")
    if not directory.startswith("/"):
        raise CondorSubmitError(
            f"Could not make a working directory for the job on {host.label} "
            f"(exit status {status}): {err.strip()[:300]}"
        )
    result = CommandResult(("condor_submit", "-terse", SUBMIT_FILE), status, rest, err, duration)
    _check_found(host, result)
    return submit_result(result, directory, host.label)


def submit_many(
    host: RemoteHost, jobs: Sequence[Submission], *, timeout: float | None = None
) -> list[SubmitResult | TethysComputeError]:
    """Submit ``jobs`` in one remote command, each as its own cluster in its own directory.

    One command carries at most :data:`MAX_COMMAND_BYTES` of files; a batch
    with more goes in several, each job whole in one of them.

    Parameters
    ----------
    host : RemoteHost
        The submit host.
    jobs : sequence of Submission
        The jobs, each as :func:`~tethys_compute.condor.submit` would take it.
    timeout : float, optional
        Seconds for each command; default ``SSH_COMMAND_TIMEOUT`` plus
        :data:`SECONDS_PER_JOB` per job in it.

    Returns
    -------
    list of SubmitResult or TethysComputeError
        In the order of ``jobs``: what each submission created, or why it
        failed: HTCondor's ``ERROR`` lines in a :class:`CondorSubmitError`, an
        input file missing here in an :class:`InvalidArgumentError`, and for
        every job of a command that failed as a whole, its error (a
        :class:`CondorError` when the jobs could not be unpacked there: none
        of them was submitted; a :class:`SchedulerConnectionError` when the
        command could not run or did not finish in time: the jobs it reached
        may have been submitted).  One job's failure never touches the
        others.

    Examples
    --------
    >>> results = submit_many(host, [Submission({"executable": "/bin/echo",
    ...     "arguments": [str(n)]}) for n in range(1000)])  # doctest: +SKIP
    >>> results[0].cluster_id, results[999].cluster_id  # doctest: +SKIP
    (41, 1040)
    """
    parts, failed = _plan(jobs)
    results: dict[int, SubmitResult | TethysComputeError] = dict(failed)
    for part in parts:
        try:
            answers = _send(host, part, timeout)
        except TethysComputeError as exc:
            answers = [exc] * len(part)
        for (index, _), answer in zip(part, answers, strict=True):
            results[index] = answer
    return [results[index] for index in range(len(jobs))]
